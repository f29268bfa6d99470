"""The offer rules of SPEC §4.3, §4.5 and §4.6, as decisions on plain values: no queries, no clock.

The services gather the facts (under their locks), the seed simulator keeps them in memory, and both ask
these functions. The database keeps two forms of its own, for what must happen in SQL: the usage
annotation of `offers.selectors.usage` (filtering and sorting a list on `usable` / `uses_left`) and the
conditional stock UPDATE of `offers.sql` (the last check, exact under concurrency). A hypothesis test holds
the annotation equal to `usage_figures` on generated cases (tests/offers/test_rules_sql.py).

`offer` is anything with the attributes of an `Offer` read here (a model instance, or the simulator's copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from kit.errors import DomainError, MemberBanned
from loyalty.secrets import constant_time_equals
from offers.exceptions import (
    AlreadyActive,
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
from offers.models import GRANT_TYPES, OfferType, Scope


class HeldGrant(Protocol):
    usable_until: datetime | None
    uses_count: int


G = TypeVar("G", bound=HeldGrant)


# --- Small facts --------------------------------------------------------------------------------------


def member_banned(banned_until: datetime | None, now: datetime) -> bool:
    return banned_until is not None and now < banned_until


def in_usable_window(offer: Any, now: datetime) -> bool:
    return (offer.usable_since is None or offer.usable_since <= now) and (
        offer.usable_until is None or now < offer.usable_until
    )


def stock_left(*, stock: int | None, uses_count: int) -> bool:
    """The global limit; `offers.sql.offer_take_stock` is its form under concurrency."""
    return stock is None or uses_count < stock


def grant_active(grant: HeldGrant, now: datetime) -> bool:
    return grant.usable_until is None or now < grant.usable_until


def grants_in_draw_order(grants: Sequence[G], now: datetime) -> list[G]:
    """The active grants, soonest-expiring first, open-ended last; among equals in the order given (oldest
    first, as the callers pass them)."""
    return sorted(
        (g for g in grants if grant_active(g, now)), key=lambda g: (g.usable_until is None, g.usable_until or now)
    )


def authorization_token_valid(token: str, candidates: Sequence[Any]) -> bool:
    """Does `token` match one of the candidates (the offer's token, the club's tokens)?"""
    valid = False
    for candidate in candidates:
        # Compare with every candidate (no early exit) so timing says nothing about which one matched.
        if isinstance(candidate, str) and candidate and constant_time_equals(candidate, token):
            valid = True
    return valid


def _min_unlimited(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


# --- Use (SPEC §4.5, checks 2-8; check 9, the stock, is taken last by the database) ----------------------


@dataclass(frozen=True)
class UseDecision:
    refusal: DomainError | None
    grant: Any = None  # the grant the use draws from (offers that need one)
    authorized: bool = False


def use_decide(
    offer: Any,
    *,
    now: datetime,
    banned_until: datetime | None,
    in_audience: bool,
    grants: Sequence[HeldGrant],
    token_valid: bool | None,
    last_used_at: datetime | None,
    activation: timedelta,
    member_uses: int,
    period_uses: int,
) -> UseDecision:
    """Checks 2-8 in the contract's order. `grants`: the member's active grants in draw order
    (`grants_in_draw_order`); `token_valid`: None when no token was sent; `member_uses`: the member's uses
    of the offer (its state row); `period_uses`: its uses since the current period started."""
    if member_banned(banned_until, now):  # 2
        return UseDecision(MemberBanned(banned_until))
    if offer.scope == Scope.INFORMATIONAL or not in_usable_window(offer, now):  # 3
        return UseDecision(NotInUsableTimeframes())
    needs_grant = offer.type in GRANT_TYPES
    if (offer.audience_id is not None and not in_audience) or (needs_grant and not grants):  # 4
        return UseDecision(NotGranted())
    if token_valid is None:  # 5
        if offer.usage_authorization_token_required:
            return UseDecision(UsageAuthorizationTokenMissing())
    elif not token_valid:
        return UseDecision(UsageAuthorizationTokenInvalid())
    if last_used_at is not None and now < last_used_at + activation:  # 6
        return UseDecision(AlreadyActive())
    maximum = offer.maximum_uses_per_user
    grant = None
    if needs_grant:  # 7: from the soonest-expiring grant with uses left
        grant = next((g for g in grants if maximum is None or g.uses_count < maximum), None)
        if grant is None:
            return UseDecision(UserLimitExceeded())
    elif maximum is not None and member_uses >= maximum:
        return UseDecision(UserLimitExceeded())
    if offer.periodic_timespan and period_uses >= offer.periodic_limit:  # 8
        return UseDecision(PeriodicUserLimitExceeded())
    return UseDecision(None, grant=grant, authorized=bool(token_valid))


# --- Grant (SPEC §4.6; the stock is taken last by the database) ----------------------------------------


def grant_refusal(
    offer: Any, *, now: datetime, banned_until: datetime | None, in_audience: bool, grants_count: int
) -> DomainError | None:
    """Why the member cannot be granted the offer now, the first reason in the contract's order, or None.
    `grants_count`: the grants the member ever held of the offer (its state row)."""
    if member_banned(banned_until, now):
        return MemberBanned(banned_until)
    if offer.type not in GRANT_TYPES:
        return NotGrantable()
    if offer.audience_id is not None and not in_audience:
        return MemberNotInAudience()
    if offer.maximum_grants_per_user is not None and grants_count >= offer.maximum_grants_per_user:
        return UserGrantLimitExceeded()
    return None


# --- Usage figures (SPEC §4.3) ------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberUsage:
    """What the member holds of one offer: `grant_uses` are the uses drawn from each active grant,
    `uses_count` and `last_used_at` come from the state row (0 / None without one), `period_uses` counts
    the uses since the current period started."""

    in_audience: bool
    grant_uses: Sequence[int]
    uses_count: int
    last_used_at: datetime | None
    period_uses: int


@dataclass(frozen=True)
class UsageFigures:
    usable: bool
    max_uses: int | None
    uses_left: int | None
    last_used_at: datetime | None
    period_uses: int


def usage_figures(offer: Any, *, now: datetime, member: MemberUsage | None) -> UsageFigures:
    """`usable`, `max_uses`, `uses_left` (None: unlimited), `last_used_at` and the period's uses of the
    offer for a member, or for a guest (None), who has used nothing and can use only what needs neither
    audience nor grant. A member's allowance: REGULAR offers allow `maximum_uses_per_user` in all; offers
    that need a grant allow it per active grant, each use drawn from one grant. Activation time and bans
    are not part of `usable` (a use reports them)."""
    maximum = offer.maximum_uses_per_user
    needs_grant = offer.type in GRANT_TYPES
    global_left = None if offer.stock is None else max(offer.stock - offer.uses_count, 0)
    open_ = in_usable_window(offer, now) and offer.scope != Scope.INFORMATIONAL
    has_stock = stock_left(stock=offer.stock, uses_count=offer.uses_count)
    if member is None:
        max_uses = 0 if needs_grant and maximum is not None else maximum
        member_left = None if maximum is None else 0 if needs_grant else maximum
        usable = open_ and offer.audience_id is None and offer.type == OfferType.REGULAR and has_stock
        return UsageFigures(usable, max_uses, _min_unlimited(member_left, global_left), None, 0)
    period_uses = member.period_uses if offer.periodic_timespan else 0
    if needs_grant:
        max_uses = None if maximum is None else maximum * len(member.grant_uses)
        member_left = None if maximum is None else sum(max(maximum - uses, 0) for uses in member.grant_uses)
        allowed = bool(member.grant_uses) if maximum is None else any(uses < maximum for uses in member.grant_uses)
    else:
        max_uses = maximum
        member_left = None if maximum is None else max(maximum - member.uses_count, 0)
        allowed = maximum is None or member.uses_count < maximum
    usable = (
        open_
        and (offer.audience_id is None or member.in_audience)
        and allowed
        and has_stock
        and (not offer.periodic_timespan or period_uses < offer.periodic_limit)
    )
    return UsageFigures(usable, max_uses, _min_unlimited(member_left, global_left), member.last_used_at, period_uses)
