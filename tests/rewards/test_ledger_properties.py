"""Property test of the ledger (STYLE §19): random sequences of earn / grant / correct / purchase / use / cancel /
expire at random times, checked after every step against a small reference model of SPEC §6.6.

The model decides, independently of the implementation, which calls succeed and which lots every debit must
draw from (FIFO: soonest-expiring first, then oldest, never-expiring last; points past their expiry never
spendable). After each step the database must agree with it exactly, and the reconciliation must find nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import F
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from kit.errors import DomainError
from rewards import selectors, services
from rewards.models import Achievement, Allocation, Lot, Membership, Reward, Transaction
from tests.factories import LoyaltyClubFactory, MemberFactory

START = datetime(2024, 1, 1, tzinfo=UTC)
VALIDITY = timedelta(days=30)
PRICES = (30, 120, 400)
ACHIEVEMENT_POINTS = 7


@dataclass
class ModelLot:
    source: int  # id of the point-adding transaction
    amount: int
    expires_at: datetime | None
    remaining: int


@dataclass
class ModelTx:
    id: int
    type: str
    amount: int
    cancelled: bool = False
    expired: bool = False
    lot: ModelLot | None = None
    draws: dict[int, int] = field(default_factory=dict)  # lot source id -> points (negative: refunded)
    reward: int | None = None
    used: bool = False


class Model:
    """SPEC §6.6, as plainly as possible."""

    def __init__(self):
        self.txs: dict[int, ModelTx] = {}
        self.lots: dict[int, ModelLot] = {}

    @property
    def balance(self) -> int:
        return sum(tx.amount for tx in self.txs.values())

    @property
    def lifetime(self) -> int:
        return sum(tx.amount for tx in self.txs.values() if tx.lot is not None and not tx.cancelled)

    def fifo(self, now: datetime, exclude: int | None = None) -> list[ModelLot]:
        spendable = [
            lot
            for lot in self.lots.values()
            if lot.remaining > 0 and lot.source != exclude and (lot.expires_at is None or lot.expires_at > now)
        ]
        return sorted(spendable, key=lambda lot: (lot.expires_at is None, lot.expires_at or now, lot.source))

    def plan(self, points: int, now: datetime, first: ModelLot | None = None) -> dict[int, int] | None:
        """The draws covering `points`, or None when the spendable lots cannot."""
        draws, need = {}, points
        for lot in ([first] if first is not None else []) + self.fifo(now, exclude=first.source if first else None):
            if need == 0:
                break
            take = min(lot.remaining, need)
            if take:
                draws[lot.source] = take
                need -= take
        return draws if need == 0 else None

    def apply(self, tx: ModelTx) -> None:
        for source, points in tx.draws.items():
            self.lots[source].remaining -= points
        self.txs[tx.id] = tx


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.traveller = time_machine.travel(START, tick=False)
        self.clock = self.traveller.start()
        self.now = START
        self.club = LoyaltyClubFactory()
        services.program_config_update(club=self.club, points_validity_days=VALIDITY.days, reward_activation_time=0)
        Achievement.objects.create(club=self.club, type="app_opened", name="Open", points=ACHIEVEMENT_POINTS)
        self.rewards = [
            Reward.objects.create(club=self.club, name=f"R{p}", price=p, status="published", uses_per_purchase=1)
            for p in PRICES
        ]
        self.member = MemberFactory(club=self.club)
        self.member.club = self.club
        self.membership, _ = services.membership_join(member=self.member)
        self.model = Model()

    def teardown(self):
        self.traveller.stop()

    # --- helpers ------------------------------------------------------------------------------------------

    def _credit(self, tx: Transaction) -> None:
        lot = ModelLot(source=tx.pk, amount=tx.amount, expires_at=self.now + VALIDITY, remaining=tx.amount)
        self.model.lots[tx.pk] = lot
        self.model.apply(ModelTx(id=tx.pk, type=tx.type, amount=tx.amount, lot=lot))

    def _debit(self, call, points: int, type: str, reward: int | None = None) -> None:
        draws = self.model.plan(points, self.now) if self.model.balance >= points else None
        try:
            tx = call()
        except DomainError as error:
            assert draws is None, f"refused although the model could pay: {error}"
            return
        assert draws is not None, "accepted although the model could not pay"
        tx = getattr(tx, "transaction", tx)
        self.model.apply(ModelTx(id=tx.pk, type=type, amount=-points, draws=draws, reward=reward))

    # --- rules ----------------------------------------------------------------------------------------------

    @rule(points=st.integers(1, 300))
    def grant(self, points):
        self._credit(services.points_grant(member=self.member, points=points))

    @rule()
    def achieve(self):
        self._credit(services.achievement_report(member=self.member, type="app_opened"))

    @rule(points=st.integers(-400, 300).filter(bool))
    def correct(self, points):
        if points > 0:
            self._credit(services.points_correct(member=self.member, points=points))
        else:
            self._debit(lambda: services.points_correct(member=self.member, points=points), -points, "correction")

    @rule(index=st.integers(0, len(PRICES) - 1))
    def purchase(self, index):
        reward = self.rewards[index]
        self._debit(
            lambda: services.reward_purchase(member=self.member, reward=reward),
            reward.price,
            "reward_purchase",
            reward=reward.pk,
        )

    @rule(index=st.integers(0, len(PRICES) - 1))
    def use(self, index):
        reward = self.rewards[index]
        unused = sorted(
            tx.id for tx in self.model.txs.values() if tx.reward == reward.pk and not tx.cancelled and not tx.used
        )
        try:
            services.reward_use(member=self.member, reward=reward)
        except DomainError:
            assert not unused
            return
        assert unused
        self.model.txs[unused[0]].used = True

    @precondition(lambda self: self.model.txs)
    @rule(pick=st.integers(0, 10**6))
    def cancel(self, pick):
        ids = sorted(self.model.txs)
        target = self.model.txs[ids[pick % len(ids)]]
        expected: ModelTx | None = None
        if target.type not in ("cancellation", "expiration") and not target.cancelled:
            if target.lot is not None:
                draws = None
                if not target.expired and self.model.balance >= target.amount:
                    draws = self.model.plan(target.amount, self.now, first=target.lot)
                if draws is not None:
                    expected = ModelTx(id=0, type="cancellation", amount=-target.amount, draws=draws)
            elif not target.used:
                refunds = {source: -points for source, points in target.draws.items()}
                expected = ModelTx(id=0, type="cancellation", amount=-target.amount, draws=refunds)
        try:
            cancellation = services.transaction_cancel(member=self.member, transaction_id=target.id)
        except DomainError as error:
            assert expected is None, f"refused: {error}"
            return
        assert expected is not None, "accepted a cancellation the rules refuse"
        expected.id = cancellation.pk
        expected.cancelled = target.cancelled = True
        self.model.apply(expected)

    @rule(hours=st.integers(0, 24 * 45))
    def advance(self, hours):
        self.now += timedelta(hours=hours)
        self.clock.move_to(self.now)

    @rule()
    def expire(self):
        due = {
            lot.source: lot.remaining
            for lot in self.model.lots.values()
            if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= self.now
        }
        last_id = max(self.model.txs, default=0)
        result = services.points_expire_due(as_of=self.now, club=self.club, batch_size=3)
        written = {
            details["expired_transaction_id"]: (pk, -amount)
            for pk, amount, details in Transaction.objects.filter(
                membership=self.membership, type="expiration", pk__gt=last_id
            ).values_list("pk", "amount", "details")
        }
        assert {source: points for source, (_, points) in written.items()} == due
        assert (result.lots, result.points) == (len(due), sum(due.values()))
        for source, (pk, points) in written.items():
            self.model.lots[source].remaining = 0
            self.model.txs[source].expired = True
            self.model.txs[pk] = ModelTx(id=pk, type="expiration", amount=-points, draws={source: points})

    # --- invariants, after every step ---------------------------------------------------------------------
    # The queries are built once per example and replayed as SQL: the checks run after every step, and
    # building the same querysets thousands of times would cost more than running them.

    def _queries(self) -> dict:
        if not hasattr(self, "_compiled"):
            membership = self.membership
            querysets = {
                "membership": Membership.objects.filter(pk=membership.pk).values_list("balance", "lifetime_points"),
                "transactions": Transaction.objects.filter(membership=membership)
                .order_by("pk")
                .values_list("pk", "type", "amount", "cancelled_at", "expired_at"),
                "lots": Lot.objects.filter(membership=membership).values_list("transaction_id", "remaining"),
                "allocations": Allocation.objects.filter(lot__membership=membership).values_list(
                    "transaction_id", "lot__transaction_id", "points"
                ),
                # Only an expiration, or the cancellation of that very lot, may take points from a lot past due.
                "spent_late": Allocation.objects.filter(lot__membership=membership, points__gt=0)
                .filter(lot__expires_at__lte=F("transaction__date"))
                .exclude(transaction__type="expiration")
                .exclude(transaction__cancelled_transaction=F("lot__transaction"))
                .values_list("pk"),
            }
            self._compiled = {name: qs.query.sql_with_params() for name, qs in querysets.items()}
        return self._compiled

    def _rows(self, name: str) -> list[tuple]:
        sql, params = self._queries()[name]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    @invariant()
    def database_agrees_with_the_model(self):
        [(balance, lifetime)] = self._rows("membership")
        assert balance == self.model.balance >= 0
        assert lifetime == self.model.lifetime
        assert [(pk, t, a, c is not None, e is not None) for pk, t, a, c, e in self._rows("transactions")] == [
            (tx.id, tx.type, tx.amount, tx.cancelled, tx.expired) for _, tx in sorted(self.model.txs.items())
        ]
        assert dict(self._rows("lots")) == {source: lot.remaining for source, lot in self.model.lots.items()}
        # Every debit drew exactly the model's lots (this is the FIFO check), every refund went back to them.
        assert set(self._rows("allocations")) == {
            (tx.id, source, points) for tx in self.model.txs.values() for source, points in tx.draws.items()
        }

    @invariant()
    def expired_points_were_never_spent(self):
        assert self._rows("spent_late") == []

    @invariant()
    def reconciliation_finds_nothing(self):
        assert selectors.ledger_reconcile(membership_ids=[self.membership.pk]).mismatches == []


@pytest.mark.django_db
def test_random_ledger_histories_keep_every_invariant():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=int(__import__("os").environ.get("LEDGER_EXAMPLES", 200)),
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
