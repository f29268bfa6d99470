"""The ledger's decisions as pure functions: no database, no clock, no I/O.

The services (rewards.services.ledger) feed them rows they read under the membership lock and write what
they decide; the seed simulator (backoffice.seed.simulate) feeds them its in-memory rows. One home per rule:

* which lots a debit draws from, and how much from each (`fifo_plan`, over lots in `fifo_key` order, keeping
  only `lot_spendable` ones) — planned whole before one bulk write, like Saleor's stock allocations;
* whether an achievement may be awarded again (`achievement_refusal`: lifetime limit, then calendar frequency).

The SQL twin of `fifo_key` / `lot_spendable` is the ledger's lot query (ORDER BY expires_at NULLS LAST, id);
tests/rewards/test_rules.py holds the two equal on generated lots.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from typing import TypeVar

from kit.errors import DomainError
from kit.periods import period_start
from rewards.exceptions import AchievementFrequencyLimitExceeded, AchievementLimitExceeded

LotT = TypeVar("LotT")


# --- FIFO ------------------------------------------------------------------------------------------


def lot_spendable(*, remaining: int, expires_at: datetime | None, at: datetime) -> bool:
    """A lot can be drawn from while it has points left and has not expired at `at` — even when the
    expiration job has not run yet (an expired lot's points are gone, whatever the cache says)."""
    return remaining > 0 and (expires_at is None or expires_at > at)


def fifo_key(*, expires_at: datetime | None, seq: int) -> tuple:
    """The FIFO order of lots: soonest-expiring first, lots that never expire last, then oldest (`seq`: the
    lot's id, or its creation order)."""
    return (expires_at is None, expires_at or datetime.min, seq)


def fifo_plan(
    points: int, lots: Iterable[tuple[LotT, int]], *, first: tuple[LotT, int] | None = None
) -> list[tuple[LotT, int]] | None:
    """The allocations [(lot, points taken)] that cover `points`: from `first` (a cancelled lot's own unspent
    points) first, then from `lots` — (lot, remaining) pairs already in FIFO order — each lot emptied before
    the next is touched. None when they cannot cover it: nothing is to be written.

    `lots` is read lazily and no further than needed, so a caller may page through the database."""
    if points <= 0:
        return []
    plan: list[tuple[LotT, int]] = []
    need = points
    for lot, remaining in itertools.chain([first] if first is not None else [], lots):
        if remaining <= 0:
            continue
        take = min(remaining, need)
        plan.append((lot, take))
        need -= take
        if need == 0:
            return plan
    return None


# --- Achievements ------------------------------------------------------------------------------------


def achievement_refusal(
    *,
    limit: int | None,
    frequency_timespan: str | None,
    frequency_limit: int | None,
    earned_since: Callable[[datetime | None], int],
    now: datetime,
    tz: tzinfo,
) -> type[DomainError] | None:
    """Why the achievement may not be awarded at `now`, or None when it may: 422 `AchievementLimitExceeded`
    once the member earned it `limit` times in all, then 422 `AchievementFrequencyLimitExceeded` once it was
    earned `frequency_limit` times in the current calendar period (club time zone, see kit.periods).

    `earned_since(start)` counts the member's non-cancelled awards of this achievement dated at or after
    `start` (all of them for None); it is asked only what the answer needs (the frequency count only when
    there is a frequency and the limit is not reached)."""
    if limit is not None and earned_since(None) >= limit:
        return AchievementLimitExceeded
    if frequency_timespan:
        start = period_start(frequency_timespan, now=now, tz=tz)
        if earned_since(start) >= frequency_limit:
            return AchievementFrequencyLimitExceeded
    return None
