"""Every data invariant in one call, for the end of any heavy test (races, crashes, fuzzing, seeding):

    from tests.reliability.invariants import assert_invariants
    assert_invariants()                 # or assert_invariants(club=club)

It runs what `reconcile_balances` runs — the ledger (`rewards.selectors.ledger_reconcile`: cached balance ==
Σ amounts == Σ lot remaining, lots == amount − allocations, every debit fully allocated) and the offers'
counters (`offers.invariants.offers_reconcile`: uses_count == usages, grants_count == grants, per-member and
per-grant counters, 0 <= uses_count <= stock) — plus the shop: a reward's `purchased_count` is never below
its live (not cancelled) purchases, and never above its stock when purchases are what filled it.
"""

from __future__ import annotations

from django.db.models import Count, F, Q

from offers.invariants import offers_reconcile
from rewards.models import Reward
from rewards.selectors import ledger_reconcile


def invariant_violations(*, club=None) -> list[dict]:
    violations = ledger_reconcile(club=club).mismatches + offers_reconcile(club=club).mismatches
    rewards = Reward.objects.all() if club is None else Reward.objects.filter(club=club)
    live = rewards.annotate(live=Count("purchases", filter=Q(purchases__cancelled_at__isnull=True)))
    for row in live.filter(purchased_count__lt=F("live")).values("pk", "purchased_count", "live"):
        violations.append({"reward_id": row["pk"], "check": "reward_purchased_count", **row})
    return violations


def assert_invariants(*, club=None) -> None:
    violations = invariant_violations(club=club)
    assert violations == [], violations
