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
from loyalty.selectors import member_in_group
from offers import rules
from offers.exceptions import (
    GlobalLimitExceeded,
)
from offers.models import (
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


@dataclass
class UseResult:
    usage: OfferUsage
    figures: rules.UsageFigures


def _active_grants_under_lock(*, offer: Offer, member: Member, now: datetime) -> list[OfferGrant]:
    """The member's active grants, oldest first. Read under the state lock."""
    return list(
        OfferGrant.objects.filter(offer=offer, member=member)
        .filter(Q(usable_until__isnull=True) | Q(usable_until__gt=now))
        .only("id", "usable_until", "uses_count")
        .order_by("id")
    )


@transaction.atomic
def offer_use(
    *,
    offer: Offer,
    member: Member,
    authorization_token: str | None = None,
    now: datetime | None = None,
) -> UseResult:
    """Use an offer (SPEC §4.5): checks 2–9 in the contract's order (`offers.rules.use_decide`; check 1,
    visibility, is the caller's `offer_get_visible`). Locks the member's `OfferMemberState` row for the
    offer, then the offer row (conditional stock UPDATE). Records the usage, bumps the counters, calls the
    rewards hook for authorized uses and emits `offer.used`, all in this transaction."""
    club = offer.club
    if member.club_id == club.id:
        member.club = club  # the rewards hook reads member.club: spare it a query
    state = _state_lock(offer_id=offer.id, member_id=member.id)
    # The clock is read under the lock, so uses of one member are timestamped in the order they commit
    # (a time read before waiting could fall before the previous use and look "already active").
    now = now or timezone.now()
    # The facts the rules need, each read only when the offer makes it matter, and only while no earlier
    # check has refused (a banned member costs no further query).
    banned = rules.member_banned(member.banned_until, now)
    open_ = not banned and offer.scope != Scope.INFORMATIONAL and rules.in_usable_window(offer, now)
    in_audience = (
        open_ and offer.audience_id is not None and member_in_group(member_id=member.id, group_id=offer.audience_id)
    )
    grants: list[OfferGrant] = []
    if open_ and offer.needs_grant and (offer.audience_id is None or in_audience):
        grants = rules.grants_in_draw_order(_active_grants_under_lock(offer=offer, member=member, now=now), now)
    token_valid = None
    if authorization_token is not None:
        candidates = [offer.usage_authorization_token or "", *(club.usage_authorization_tokens or [])]
        token_valid = rules.authorization_token_valid(authorization_token, candidates)
    period_uses = 0
    reached_period_check = open_ and (offer.audience_id is None or in_audience) and (grants or not offer.needs_grant)
    if offer.periodic_timespan and reached_period_check:
        start = period_start(offer.periodic_timespan, now=now, tz=club.tzinfo)
        period_uses = OfferUsage.objects.filter(offer=offer, member=member, used_at__gte=start).count()
    decision = rules.use_decide(
        offer,
        now=now,
        banned_until=member.banned_until,
        in_audience=in_audience,
        grants=grants,
        token_valid=token_valid,
        last_used_at=state.last_used_at,
        activation=timedelta(seconds=club.activated_seconds_time),
        member_uses=state.uses_count,
        period_uses=period_uses,
    )
    if decision.refusal is not None:
        raise decision.refusal
    taken = _offer_take_stock(offer_id=offer.id)  # 9, last
    if taken is None:
        raise GlobalLimitExceeded()
    offer.uses_count, offer.stock = taken
    grant, authorized = decision.grant, decision.authorized

    usage = _usage_record(offer=offer, member=member, grant=grant, now=now, authorized=authorized, state_id=state.id)
    if grant is not None:
        OfferGrant.objects.filter(pk=grant.id).update(uses_count=F("uses_count") + 1)
        grant.uses_count += 1
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
    figures = rules.usage_figures(
        offer,
        now=now,
        member=rules.MemberUsage(
            in_audience=True,
            grant_uses=[g.uses_count for g in grants],
            uses_count=state.uses_count + 1,
            last_used_at=now,
            period_uses=period_uses + 1,
        ),
    )
    return UseResult(usage=usage, figures=figures)


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
    in_audience = offer.audience_id is not None and member_in_group(member_id=member.id, group_id=offer.audience_id)
    refusal = rules.grant_refusal(
        offer, now=now, banned_until=member.banned_until, in_audience=in_audience, grants_count=state.grants_count
    )
    if refusal is not None:
        raise refusal
    if only_if_never_granted and state.grants_count > 0:
        return None
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
