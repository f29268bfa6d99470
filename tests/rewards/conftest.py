"""Rewards fixtures: a joined member, achievement rules, rewards, and ledger helpers."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine

from rewards import selectors, services
from rewards.models import Achievement, Allocation, Lot, Membership, Reward, Transaction


@pytest.fixture
def joined(member) -> Membership:
    """`member`, joined to the rewards program."""
    membership, _ = services.membership_join(member=member)
    return membership


@pytest.fixture
def make_rule(club):
    def _make(type="app_opened", points=10, **fields) -> Achievement:
        return Achievement.objects.create(
            club=club, type=type, name=type.replace("_", " ").title(), points=points, **fields
        )

    return _make


@pytest.fixture
def make_reward(club):
    def _make(**fields) -> Reward:
        defaults = {"name": "Awesome Toaster", "price": 20, "status": Reward.PUBLISHED}
        return Reward.objects.create(club=club, **{**defaults, **fields})

    return _make


def ledger(member) -> list[tuple[str, int]]:
    """(type, amount) of the member's transactions, oldest first."""
    return list(
        Transaction.objects.filter(membership__member=member).order_by("date", "id").values_list("type", "amount")
    )


def balance(member) -> int:
    return Membership.objects.get(member=member).balance


def remaining_by_lot(member) -> dict[int, int]:
    """{source transaction id: remaining} of the member's lots."""
    return dict(Lot.objects.filter(membership__member=member).values_list("transaction_id", "remaining"))


def drawn_from(tx: Transaction) -> list[tuple[int, int]]:
    """[(source transaction id of the lot, points)] a transaction drew (or refunded, negative)."""
    return list(Allocation.objects.filter(transaction=tx).order_by("id").values_list("lot__transaction_id", "points"))


def assert_ledger_consistent(member=None) -> None:
    ids = None if member is None else list(Membership.objects.filter(member=member).values_list("pk", flat=True))
    result = selectors.ledger_reconcile(membership_ids=ids)
    assert result.mismatches == []


def at(when):
    """Freeze time at an ISO 8601 string or an aware datetime."""
    return time_machine.travel(datetime.fromisoformat(when) if isinstance(when, str) else when, tick=False)
