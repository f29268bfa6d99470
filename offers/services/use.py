"""A member's use of an offer (SPEC §4.5), likes (§4.8) and seen / clicked events (§4.10).

Limits are exact under concurrency: a use first locks the member's `OfferMemberState` row for the offer
(created race-free by an upsert that also locks it, `offers.sql.states_lock`), decides under that lock
(`offers.rules.use_decide`), and takes the global stock last with one conditional UPDATE of the offer row
(`offers.sql.offer_take_stock`, whose row count answers `Global limit exceeded`). Grants take the same
locks in the same order (state row → offer row), see `offers.services.grants`.

On PostgreSQL the API's use (`offer_use_by_id`) first tries the same decision with fewer round trips: the
offer and the member's facts in one statement without a lock (`offers.selectors.usage.use_facts`), the
decision in Python (the same `use_decide`), then one call of a server-side function (`offers.sql.use_apply`)
that writes only if the state row and the drawn grant are still what the decision saw, and takes the stock
last. Whenever they are not (a use of the same member and offer committed in between), or the use needs
the transaction for more (an authorized use in a club with rewards, a club with webhook endpoints), it
does the use under the locks instead (`offer_use`), which then decides again on fresh facts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from kit.periods import period_start, period_starts
from loyalty.models import LoyaltyClub, Member
from loyalty.selectors import member_in_group
from offers import events, rules, sql
from offers.exceptions import GlobalLimitExceeded, OfferNotFound
from offers.models import Offer, OfferEvent, OfferGrant, OfferLike, OfferUsage, Scope
from offers.selectors import usage as usage_selectors
from offers.selectors import visibility
from webhooks import services as webhooks


class UseResult:
    """A recorded use: its figures as the offer lists will show them from now on, and its `usage` (an
    `OfferUsage`; the API's use makes it only when asked for, as the answer needs the figures alone)."""

    def __init__(self, figures: rules.UsageFigures, usage: OfferUsage | Callable[[], OfferUsage]):
        self.figures = figures
        self._usage = usage

    @property
    def usage(self) -> OfferUsage:
        if not isinstance(self._usage, OfferUsage):
            self._usage = self._usage()
        return self._usage


def _active_grants_under_lock(*, offer: Offer, member: Member, now: datetime) -> list[OfferGrant]:
    """The member's active grants, oldest first. Read under the state lock."""
    return list(
        OfferGrant.objects.filter(offer=offer, member=member)
        .filter(Q(usable_until__isnull=True) | Q(usable_until__gt=now))
        .only("id", "usable_until", "uses_count")
        .order_by("id")
    )


def _used(
    offer: Offer,
    usage: OfferUsage | Callable[[], OfferUsage],
    *,
    used_at: datetime,
    grants: list[OfferGrant],
    uses_before: int,
    period_uses_before: int,
) -> UseResult:
    """The result of a use recorded at `used_at`: its figures as the offer lists will show them from now on
    (the usage's grant, if any, already counted in `grants`)."""
    figures = rules.usage_figures(
        offer,
        now=used_at,
        member=rules.MemberUsage(
            in_audience=True,
            grant_uses=[g.uses_count for g in grants],
            uses_count=uses_before + 1,
            last_used_at=used_at,
            period_uses=period_uses_before + 1,
        ),
    )
    return UseResult(figures, usage)


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
    state = sql.states_lock(offer_id=offer.id, member_ids=[member.id])[member.id]
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
    taken = sql.offer_take_stock(offer_id=offer.id)  # 9, last
    if taken is None:
        raise GlobalLimitExceeded()
    offer.uses_count, offer.stock = taken
    grant, authorized = decision.grant, decision.authorized

    usage_id = sql.usage_insert(
        offer_id=offer.id,
        member_id=member.id,
        grant_id=grant.id if grant else None,
        now=now,
        authorized=authorized,
        state_id=state.id,
    )
    usage = OfferUsage(id=usage_id, offer=offer, member=member, grant=grant, used_at=now, authorized=authorized)
    usage._state.adding, usage._state.db = False, connection.alias
    if grant is not None:
        OfferGrant.objects.filter(pk=grant.id).update(uses_count=F("uses_count") + 1)
        grant.uses_count += 1
    if authorized:
        from rewards import hooks as rewards_hooks

        rewards_hooks.offer_used(usage=usage)
    events.offer_used(usage=usage)
    return _used(offer, usage, used_at=now, grants=grants, uses_before=state.uses_count, period_uses_before=period_uses)


# --- The API's use: fewer round trips on PostgreSQL ------------------------------------------------------


@dataclass
class UseTarget:
    """The offer a use request names (SPEC §4.5 check 1 passed), and on PostgreSQL the member's facts read
    with it (`offers.selectors.usage.use_facts`)."""

    offer: Offer
    facts: usage_selectors.UseFacts | None = None


def offer_use_target(*, club: LoyaltyClub, scope: str, offer_id: int | str, member: Member) -> UseTarget:
    """Check 1: the live offer of the club in the scope, else 404 (`offer_get_visible`'s answer); on
    PostgreSQL, in the same statement, the facts `offer_use_by_id` decides on."""
    if connection.vendor != "postgresql":
        return UseTarget(visibility.offer_get_visible(club=club, scope=scope, offer_id=offer_id))
    pk = visibility.offer_pk(offer_id)
    facts = usage_selectors.use_facts(club=club, scope=scope, offer_pk=pk, member=member, now=timezone.now())
    if facts is None:
        raise OfferNotFound(offer_id)
    return UseTarget(facts.offer, facts)


def offer_use_by_id(*, target: UseTarget, member: Member, authorization_token: str | None = None) -> UseResult:
    """`offer_use` of the target's offer, with the same answers; with the facts of `offer_use_target`, in one
    more round trip when nothing changed since they were read (see the module's docstring)."""
    facts, offer = target.facts, target.offer
    if facts is None:
        return offer_use(offer=offer, member=member, authorization_token=authorization_token)
    club = offer.club
    # Read after the facts: any use they show committed before this instant (as under the lock, a use is
    # never timestamped before the one it follows).
    now = timezone.now()
    timespan = offer.periodic_timespan
    if timespan and period_starts(now=now, tz=club.tzinfo)[timespan] != facts.period_start:
        return offer_use(offer=offer, member=member, authorization_token=authorization_token)  # a period began
    token_valid = None
    if authorization_token is not None:
        candidates = [offer.usage_authorization_token or "", *(club.usage_authorization_tokens or [])]
        token_valid = rules.authorization_token_valid(authorization_token, candidates)
    grants = rules.grants_in_draw_order(facts.grants, now)
    decision = rules.use_decide(
        offer,
        now=now,
        banned_until=member.banned_until,
        in_audience=facts.in_audience,
        grants=grants,
        token_valid=token_valid,
        last_used_at=facts.last_used_at,
        activation=timedelta(seconds=club.activated_seconds_time),
        member_uses=facts.uses_count,
        period_uses=facts.period_uses,
    )
    if decision.refusal is not None:
        raise decision.refusal
    grant, authorized = decision.grant, decision.authorized
    if (authorized and club.rewards_enabled) or webhooks.endpoints_listening(facts.endpoints, "offer.used"):
        # The rewards hook and the outbox write in the use's transaction: the locking path has one.
        return offer_use(offer=offer, member=member, authorization_token=authorization_token)
    applied = sql.use_apply(
        offer_id=offer.id,
        member_id=member.id,
        seen_uses=facts.uses_count,
        seen_last_used_at=facts.last_used_at,
        grant_id=grant.id if grant else None,
        seen_grant_uses=grant.uses_count if grant else None,
        now=now,
        authorized=authorized,
    )
    if applied.outcome == sql.USE_CHANGED:
        return offer_use(offer=offer, member=member, authorization_token=authorization_token)
    if applied.outcome == sql.USE_NO_STOCK:  # 9, last
        raise GlobalLimitExceeded()
    offer.uses_count, offer.stock = applied.uses_count, applied.stock
    if grant is not None:
        grant.uses_count += 1
    usage_id = applied.usage_id
    events.offer_used_emit(
        club_id=offer.club_id,
        usage_id=usage_id,
        offer_id=offer.id,
        member_id=member.id,
        used_at=now,
        authorized=authorized,
        endpoints=facts.endpoints,
    )

    def usage() -> OfferUsage:
        made = OfferUsage(id=usage_id, offer=offer, member=member, grant=grant, used_at=now, authorized=authorized)
        made._state.adding, made._state.db = False, connection.alias
        return made

    return _used(
        offer, usage, used_at=now, grants=grants, uses_before=facts.uses_count, period_uses_before=facts.period_uses
    )


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
