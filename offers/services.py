"""Writes of the offers app: use, grant, like / unlike, events, welcome grants.

Limits are exact under concurrency (SPEC §4.5): a use or a grant first locks the member's
`OfferMemberState` row for that offer (created race-free by an upsert that also locks it), checks the
per-member and periodic limits under that lock, and takes the global stock with one conditional UPDATE of
the offer row (its row count answers `Global limit exceeded`). Lock order is always state row → offer row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from kit.errors import DomainError
from kit.periods import period_start
from loyalty.models import LoyaltyClub, Member
from loyalty.secrets import constant_time_equals
from loyalty.selectors import member_ensure_not_banned, member_in_group
from offers.exceptions import (
    AlreadyActive,
    GlobalLimitExceeded,
    MemberNotInAudience,
    NotGrantable,
    NotGranted,
    NotInUsableTimeframes,
    PeriodicUserLimitExceeded,
    UsageAuthorizationTokenInvalid,
    UsageAuthorizationTokenMissing,
    UserGrantLimitExceeded,
    UserLimitExceeded,
)
from offers.models import (
    GRANT_TYPES,
    Offer,
    OfferEvent,
    OfferGrant,
    OfferLike,
    OfferMemberState,
    OfferStatus,
    OfferType,
    OfferUsage,
    Scope,
)

# --- The per-(offer, member) lock -----------------------------------------------------------------


@dataclass
class _State:
    id: int
    uses_count: int
    grants_count: int
    last_used_at: datetime | None


def _state_lock(*, offer_id: int, member_id: int) -> _State:
    """Create-or-lock the member's state row for the offer in one statement.

    `INSERT … ON CONFLICT DO UPDATE … RETURNING` either inserts the row (holding it until commit) or waits for
    and locks the existing one, then returns its current values: no lost race on the first use, and no
    separate SELECT … FOR UPDATE. (SQLite serialises writers with BEGIN IMMEDIATE.)"""
    table = OfferMemberState._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (offer_id, member_id, uses_count, grants_count, last_used_at) "
            "VALUES (%s, %s, 0, 0, NULL) "
            "ON CONFLICT (offer_id, member_id) DO UPDATE SET offer_id = EXCLUDED.offer_id "
            "RETURNING id, uses_count, grants_count, last_used_at",
            [offer_id, member_id],
        )
        row_id, uses_count, grants_count, last_used_at = cursor.fetchone()
    if last_used_at is not None and not isinstance(last_used_at, datetime):
        last_used_at = OfferMemberState._meta.get_field("last_used_at").to_python(last_used_at)
    if last_used_at is not None and timezone.is_naive(last_used_at):
        last_used_at = last_used_at.replace(tzinfo=UTC)
    return _State(id=row_id, uses_count=uses_count, grants_count=grants_count, last_used_at=last_used_at)


def _usage_record(
    *, offer: Offer, member: Member, grant: OfferGrant | None, now: datetime, authorized: bool, state_id: int
) -> OfferUsage:
    """Insert the usage row and bump the member's state row: plain SQL, one statement on PostgreSQL (every use
    runs them, and the ORM's `create()` and `update(F(...))` cost more CPU to build than the database spends
    on them)."""
    usage_table, state_table = OfferUsage._meta.db_table, OfferMemberState._meta.db_table
    at = connection.ops.adapt_datetimefield_value(now)
    insert = (
        f"INSERT INTO {usage_table} (offer_id, member_id, grant_id, used_at, authorized) VALUES (%s, %s, %s, %s, %s)"
    )
    params = [offer.id, member.id, grant.id if grant else None, at, authorized]
    bump = f"UPDATE {state_table} SET uses_count = uses_count + 1, last_used_at = %s WHERE id = %s"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one round trip: the update rides in a data-modifying CTE
            cursor.execute(f"WITH bump AS ({bump}) {insert} RETURNING id", [at, state_id, *params])
            usage_id = cursor.fetchone()[0]
        else:
            cursor.execute(insert, params)
            usage_id = cursor.lastrowid
            cursor.execute(bump, [at, state_id])
    usage = OfferUsage(id=usage_id, offer=offer, member=member, grant=grant, used_at=now, authorized=authorized)
    usage._state.adding, usage._state.db = False, connection.alias
    return usage


def _offer_take_stock(*, offer_id: int, counter: str = "uses_count") -> tuple[int, int | None] | None:
    """Increment the offer's counter if stock remains: `(uses_count, stock)` after it, or None when the stock
    is gone. One conditional UPDATE; the row lock it takes is held until commit, and PostgreSQL re-checks
    the condition against the latest row version after waiting, so N racing uses take exactly the stock."""
    assert counter in ("uses_count", "grants_count")
    table = Offer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {counter} = {counter} + 1 "
            "WHERE id = %s AND (stock IS NULL OR uses_count < stock) RETURNING uses_count, stock",
            [offer_id],
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


# --- Usage figures (Python twin of selectors.offers_annotate_usage) ------------------------------


@dataclass
class UsageFigures:
    usable: bool
    max_uses: int | None
    uses_left: int | None
    last_used_at: datetime | None
    period_uses: int


def _min_unlimited(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


@dataclass
class UseResult:
    usage: OfferUsage
    figures: UsageFigures


def _authorization_valid(*, offer: Offer, club: LoyaltyClub, token: str) -> bool:
    candidates = [offer.usage_authorization_token or "", *(club.usage_authorization_tokens or [])]
    valid = False
    for candidate in candidates:
        # Compare with every candidate (no early exit) so timing says nothing about which one matched.
        if isinstance(candidate, str) and candidate and constant_time_equals(candidate, token):
            valid = True
    return valid


def _in_usable_window(offer: Offer, now: datetime) -> bool:
    return (offer.usable_since is None or offer.usable_since <= now) and (
        offer.usable_until is None or now < offer.usable_until
    )


def _active_grants_under_lock(*, offer: Offer, member: Member, now: datetime) -> list[OfferGrant]:
    """The member's active grants, soonest-expiring first (open-ended last). Read under the state lock."""
    return sorted(
        OfferGrant.objects.filter(offer=offer, member=member)
        .filter(Q(usable_until__isnull=True) | Q(usable_until__gt=now))
        .only("id", "usable_until", "uses_count"),
        key=lambda g: (g.usable_until is None, g.usable_until or now, g.id),
    )


@transaction.atomic
def offer_use(
    *,
    offer: Offer,
    member: Member,
    authorization_token: str | None = None,
    now: datetime | None = None,
) -> UseResult:
    """Use an offer (SPEC §4.5), checks 2–9 in the contract's order (check 1, visibility, is the caller's
    `offer_get_visible`). Locks the member's `OfferMemberState` row for the offer, then the offer row
    (conditional stock UPDATE). Records the usage, bumps the counters, calls the rewards hook for authorized
    uses and emits `offer.used`, all in this transaction."""
    club = offer.club
    if member.club_id == club.id:
        member.club = club  # the rewards hook reads member.club: spare it a query
    state = _state_lock(offer_id=offer.id, member_id=member.id)
    # The clock is read under the lock, so uses of one member are timestamped in the order they commit
    # (a time read before waiting could fall before the previous use and look "already active").
    now = now or timezone.now()
    member_ensure_not_banned(member=member, now=now)  # 2
    if offer.scope == Scope.INFORMATIONAL or not _in_usable_window(offer, now):  # 3
        raise NotInUsableTimeframes()
    if offer.audience_id is not None and not member_in_group(member_id=member.id, group_id=offer.audience_id):
        raise NotGranted()  # 4 (audience)
    grants: list[OfferGrant] = []
    if offer.needs_grant:
        grants = _active_grants_under_lock(offer=offer, member=member, now=now)
        if not grants:
            raise NotGranted()  # 4
    if authorization_token is None:  # 5
        if offer.usage_authorization_token_required:
            raise UsageAuthorizationTokenMissing()
        authorized = False
    elif _authorization_valid(offer=offer, club=club, token=authorization_token):
        authorized = True
    else:
        raise UsageAuthorizationTokenInvalid()
    activation = timedelta(seconds=club.activated_seconds_time)
    if state.last_used_at is not None and now < state.last_used_at + activation:  # 6
        raise AlreadyActive()
    grant = None
    maximum = offer.maximum_uses_per_user
    if offer.needs_grant:  # 7: draw the use from the soonest-expiring grant with uses left
        grant = next((g for g in grants if maximum is None or g.uses_count < maximum), None)
        if grant is None:
            raise UserLimitExceeded()
        member_left_after = None if maximum is None else sum(max(maximum - g.uses_count, 0) for g in grants) - 1
        max_uses = None if maximum is None else maximum * len(grants)
    else:
        if maximum is not None and state.uses_count >= maximum:
            raise UserLimitExceeded()
        member_left_after = None if maximum is None else maximum - state.uses_count - 1
        max_uses = maximum
    period_uses = 0
    if offer.periodic_timespan:  # 8
        start = period_start(offer.periodic_timespan, now=now, tz=club.tzinfo)
        period_uses = OfferUsage.objects.filter(offer=offer, member=member, used_at__gte=start).count()
        if period_uses >= offer.periodic_limit:
            raise PeriodicUserLimitExceeded()
    taken = _offer_take_stock(offer_id=offer.id)  # 9, last
    if taken is None:
        raise GlobalLimitExceeded()
    uses_count, stock = taken
    offer.uses_count = uses_count

    usage = _usage_record(offer=offer, member=member, grant=grant, now=now, authorized=authorized, state_id=state.id)
    if grant is not None:
        OfferGrant.objects.filter(pk=grant.id).update(uses_count=F("uses_count") + 1)
    if authorized:
        from rewards import hooks as rewards_hooks

        rewards_hooks.offer_used(usage=usage)
    _emit(
        club_id=club.id,
        type="offer.used",
        member_id=member.id,
        data={
            "usage_id": usage.id,
            "offer_id": offer.id,
            "member_id": member.id,
            "used_at": _iso(now),
            "authorized": authorized,
        },
    )

    global_left = None if stock is None else max(stock - uses_count, 0)
    uses_left = _min_unlimited(member_left_after, global_left)
    period_uses += 1
    usable = (uses_left is None or uses_left > 0) and (
        not offer.periodic_timespan or period_uses < offer.periodic_limit
    )
    return UseResult(
        usage=usage,
        figures=UsageFigures(
            usable=usable, max_uses=max_uses, uses_left=uses_left, last_used_at=now, period_uses=period_uses
        ),
    )


# --- Grants ---------------------------------------------------------------------------------------


@transaction.atomic
def offer_grant(
    *,
    offer: Offer,
    member: Member,
    usable_for_seconds: int | None = None,
    source: str = OfferGrant.Source.API,
    only_if_never_granted: bool = False,
    now: datetime | None = None,
) -> OfferGrant | None:
    """Grant an offer to a member (SPEC §4.6). Checks, in order: 467 banned, `Not grantable` (REGULAR),
    `Member not in audience`, `User grant limit exceeded`, `Global limit exceeded` (stock used up).

    Locks the member's `OfferMemberState` row for the offer (so grants and uses of one member serialise),
    then the offer row (its `grants_count`). With `only_if_never_granted` (welcome / birthday jobs) it
    returns None, doing nothing, when the member ever held a grant of this offer: idempotent under retries.
    Emits `offer.granted`."""
    state = _state_lock(offer_id=offer.id, member_id=member.id)
    now = now or timezone.now()  # read under the lock, like offer_use
    member_ensure_not_banned(member=member, now=now)
    if offer.type not in GRANT_TYPES:
        raise NotGrantable()
    if offer.audience_id is not None and not member_in_group(member_id=member.id, group_id=offer.audience_id):
        raise MemberNotInAudience()
    if only_if_never_granted and state.grants_count > 0:
        return None
    if offer.maximum_grants_per_user is not None and state.grants_count >= offer.maximum_grants_per_user:
        raise UserGrantLimitExceeded()
    if _offer_take_stock(offer_id=offer.id, counter="grants_count") is None:
        raise GlobalLimitExceeded()
    usable_until = now + timedelta(seconds=usable_for_seconds) if usable_for_seconds else None
    grant = OfferGrant.objects.create(
        offer=offer, member=member, granted_at=now, usable_until=usable_until, source=source
    )
    OfferMemberState.objects.filter(pk=state.id).update(grants_count=F("grants_count") + 1)
    _emit(
        club_id=offer.club_id,
        type="offer.granted",
        member_id=member.id,
        data={
            "grant_id": grant.id,
            "offer_id": offer.id,
            "member_id": member.id,
            "granted_at": _iso(now),
            "usable_until": _iso(usable_until),
        },
    )
    return grant


def offers_grant_welcome(*, member: Member, now: datetime | None = None) -> list[OfferGrant]:
    """Grant every published, live WELCOME offer of the member's club that the member never held (SPEC §8).
    Offers the member cannot receive (audience, stock, ban) are skipped silently. Safe to run twice."""
    now = now or timezone.now()
    offers = (
        Offer.objects.filter(
            club_id=member.club_id,
            type=OfferType.WELCOME,
            status=OfferStatus.PUBLISHED,
            archived_at__isnull=True,
        )
        .filter(Q(usable_until__isnull=True) | Q(usable_until__gt=now))
        .filter(Q(visible_until__isnull=True) | Q(visible_until__gt=now))
        .select_related("club")
        .order_by("id")
    )
    granted = []
    for offer in offers:
        try:
            grant = offer_grant(
                offer=offer, member=member, source=OfferGrant.Source.WELCOME, only_if_never_granted=True, now=now
            )
        except DomainError:
            continue
        if grant is not None:
            granted.append(grant)
    return granted


# --- Likes and events -----------------------------------------------------------------------------


def offer_like(*, offer: Offer, member: Member) -> None:
    """Idempotent: a second like changes nothing (the unique constraint absorbs races)."""
    OfferLike.objects.bulk_create([OfferLike(offer=offer, member=member)], ignore_conflicts=True)


def offer_unlike(*, offer: Offer, member: Member) -> None:
    """Idempotent: unliking an offer that is not liked changes nothing."""
    OfferLike.objects.filter(offer=offer, member=member).delete()


def offer_events_record(*, club: LoyaltyClub, member: Member, kind: str, events: list[dict[str, Any]]) -> int:
    """Store offers_clicked / offers_seen events (SPEC §4.10) in one INSERT. `events` are validated dicts
    `{offer_id, created_at, context}` of offers of this club."""
    now = timezone.now()
    rows = [
        OfferEvent(
            club=club,
            offer_id=event["offer_id"],
            member=member,
            kind=kind,
            created_at=event.get("created_at") or now,
            received_at=now,
            context=event.get("context") or {},
        )
        for event in events
    ]
    OfferEvent.objects.bulk_create(rows, batch_size=500)
    return len(rows)


# --- helpers --------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    from kit.formats import format_datetime

    return format_datetime(value)


def _emit(*, club_id: int, type: str, data: dict, member_id: int | None) -> None:
    from webhooks import services as webhook_services

    webhook_services.event_emit(club_id=club_id, type=type, data=data, member_id=member_id)
