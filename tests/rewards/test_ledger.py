"""Ledger rules of SPEC §6.6 at the service level, checked against the rows the database holds."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from kit.errors import NotParticipating
from rewards import selectors, services
from rewards.exceptions import NotEnoughPoints, TransactionCannotBeCancelled
from rewards.models import Allocation, Lot, Membership, RewardPurchase, Transaction
from tests.rewards.conftest import assert_ledger_consistent, at, balance, drawn_from, ledger, remaining_by_lot

T0 = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def grant(member, points: int, when=None) -> Transaction:
    with at(when or T0):
        return services.points_grant(member=member, points=points)


def correct(member, points: int, when=None) -> Transaction:
    with at(when or T0):
        return services.points_correct(member=member, points=points)


def cancel(member, tx: Transaction, when=None) -> Transaction:
    with at(when or T0):
        return services.transaction_cancel(member=member, transaction_id=tx.pk)


def purchase(member, reward, when=None) -> RewardPurchase:
    with at(when or T0):
        return services.reward_purchase(member=member, reward=reward)


# --- FIFO --------------------------------------------------------------------------------------------


def test_spending_draws_soonest_expiring_first_then_oldest_and_never_expiring_lots_last(club, member, joined):
    services.program_config_update(club=club, points_validity_days=None)
    forever = grant(member, 100)
    services.program_config_update(club=club, points_validity_days=365)
    year_a = grant(member, 40)
    year_b = grant(member, 40, T0 + timedelta(seconds=1))  # same validity, later: expires later
    services.program_config_update(club=club, points_validity_days=30)
    month = grant(member, 30, T0 + days(2))

    spend = correct(member, -150, T0 + days(3))

    assert drawn_from(spend) == [(month.pk, 30), (year_a.pk, 40), (year_b.pk, 40), (forever.pk, 40)]
    assert remaining_by_lot(member) == {forever.pk: 60, year_a.pk: 0, year_b.pk: 0, month.pk: 0}
    assert balance(member) == 60
    assert_ledger_consistent(member)


def test_points_past_their_expiry_cannot_be_spent_even_before_the_expiration_job_runs(club, member, joined):
    services.program_config_update(club=club, points_validity_days=10)
    old = grant(member, 100)
    fresh = grant(member, 20, T0 + days(11))
    assert balance(member) == 120  # the job has not run: the cache still counts the due points

    with pytest.raises(NotEnoughPoints):
        correct(member, -50, T0 + days(11))
    spend = correct(member, -20, T0 + days(11))

    assert drawn_from(spend) == [(fresh.pk, 20)]
    assert remaining_by_lot(member) == {old.pk: 100, fresh.pk: 0}
    assert services.points_expire_due(as_of=T0 + days(11)).points == 100
    assert balance(member) == 0
    assert_ledger_consistent(member)


def test_a_negative_correction_larger_than_the_balance_is_refused_and_writes_nothing(member, joined):
    grant(member, 30)
    with pytest.raises(NotEnoughPoints):
        correct(member, -31)
    assert ledger(member) == [("grant", 30)]
    assert balance(member) == 30


# --- Cancellation ------------------------------------------------------------------------------------


def test_cancelling_a_lot_takes_its_unspent_points_first_then_fifo_and_marks_both_rows(member, joined, make_reward):
    first = grant(member, 100)
    second = grant(member, 100, T0 + timedelta(seconds=1))
    spend = correct(member, -80, T0 + days(1))
    assert drawn_from(spend) == [(first.pk, 80)]

    cancellation = cancel(member, first, T0 + days(2))

    assert cancellation.amount == -100
    assert drawn_from(cancellation) == [(first.pk, 20), (second.pk, 80)]
    assert remaining_by_lot(member) == {first.pk: 0, second.pk: 20}
    first.refresh_from_db()
    assert first.cancelled_at == cancellation.cancelled_at == cancellation.date == T0 + days(2)
    membership = Membership.objects.get(member=member)
    assert (membership.balance, membership.lifetime_points) == (20, 100)
    assert_ledger_consistent(member)


def test_cancelling_a_lot_is_refused_when_the_balance_is_smaller_than_its_amount(member, joined):
    lot = grant(member, 100)
    correct(member, -30)
    with pytest.raises(TransactionCannotBeCancelled):
        cancel(member, lot)
    lot.refresh_from_db()
    assert lot.cancelled_at is None
    assert balance(member) == 70


def test_cancelling_a_lot_is_refused_once_it_has_expired(club, member, joined):
    services.program_config_update(club=club, points_validity_days=10)
    lot = grant(member, 100)
    grant(member, 500, T0 + days(10))
    services.points_expire_due(as_of=T0 + days(10))
    with pytest.raises(TransactionCannotBeCancelled):
        cancel(member, lot, T0 + days(11))
    assert balance(member) == 500


@pytest.mark.parametrize("kind", ["cancellation", "expiration", "cancelled"])
def test_cancellations_expirations_and_cancelled_rows_cannot_be_cancelled(club, member, joined, kind):
    services.program_config_update(club=club, points_validity_days=1)
    grant(member, 10)
    grant(member, 10, T0 + days(2))
    if kind == "expiration":
        services.points_expire_due(as_of=T0 + days(2))
        target = Transaction.objects.get(type="expiration")
    else:
        cancellation = cancel(member, Transaction.objects.filter(type="grant").last(), T0 + days(2))
        target = cancellation if kind == "cancellation" else cancellation.cancelled_transaction
    before = ledger(member)
    with pytest.raises(TransactionCannotBeCancelled):
        cancel(member, target, T0 + days(2))
    assert ledger(member) == before


def test_cancelling_a_purchase_refunds_the_original_lots_and_returns_the_item_to_stock(member, joined, make_reward):
    a = grant(member, 50)
    b = grant(member, 50, T0 + timedelta(seconds=1))
    reward = make_reward(price=70, stock=1)
    bought = purchase(member, reward)
    assert drawn_from(bought.transaction) == [(a.pk, 50), (b.pk, 20)]
    reward.refresh_from_db()
    assert reward.remaining_stock == 0

    cancellation = cancel(member, bought.transaction, T0 + days(1))

    assert cancellation.amount == 70
    assert drawn_from(cancellation) == [(a.pk, -50), (b.pk, -20)]
    assert remaining_by_lot(member) == {a.pk: 50, b.pk: 50}
    reward.refresh_from_db()
    bought.refresh_from_db()
    assert (reward.remaining_stock, bought.cancelled_at) == (1, T0 + days(1))
    membership = Membership.objects.get(member=member)
    assert (membership.balance, membership.lifetime_points) == (100, 100)
    assert_ledger_consistent(member)


def test_a_used_purchase_cannot_be_cancelled(member, joined, make_reward):
    grant(member, 100)
    bought = purchase(member, make_reward(price=40))
    with at(T0 + days(1)):
        services.reward_use(member=member, reward=bought.reward)
    with pytest.raises(TransactionCannotBeCancelled):
        cancel(member, bought.transaction, T0 + days(1))
    assert balance(member) == 60


def test_cancelling_a_negative_correction_gives_the_points_back_to_their_lots(member, joined):
    lot = grant(member, 100)
    spend = correct(member, -60)
    cancellation = cancel(member, spend, T0 + days(1))
    assert drawn_from(cancellation) == [(lot.pk, -60)]
    assert remaining_by_lot(member) == {lot.pk: 100}
    assert balance(member) == 100
    assert_ledger_consistent(member)


def test_cancel_answers_not_found_for_unknown_ids_and_other_members_transactions(club, member, joined):
    from tests.factories import MemberFactory

    other = MemberFactory(club=club)
    services.membership_join(member=other)
    foreign = grant(other, 10)
    for transaction_id in (foreign.pk, 10**9, 2**70):
        with pytest.raises(Exception) as error:
            services.transaction_cancel(member=member, transaction_id=transaction_id)
        assert str(error.value) == f"Transaction#{transaction_id} not found"


def test_cancel_for_a_member_who_has_not_joined_answers_not_participating(member):
    with pytest.raises(NotParticipating):
        services.transaction_cancel(member=member, transaction_id=1)


# --- Expiration --------------------------------------------------------------------------------------


def test_expiration_writes_one_row_per_due_lot_dated_at_its_expiry_for_the_unspent_points_only(club, member, joined):
    services.program_config_update(club=club, points_validity_days=10)
    spent = grant(member, 100)
    partly = grant(member, 30, T0 + days(1))
    untouched = grant(member, 20, T0 + days(2))
    not_due = grant(member, 5, T0 + days(5))
    correct(member, -110, T0 + days(3))
    assert remaining_by_lot(member) == {spent.pk: 0, partly.pk: 20, untouched.pk: 20, not_due.pk: 5}

    result = services.points_expire_due(as_of=T0 + days(12))

    assert (result.lots, result.points) == (2, 40)
    assert list(
        Transaction.objects.filter(type="expiration").order_by("id").values_list("date", "amount", "details")
    ) == [
        (T0 + days(11), -20, {"expired_transaction_id": partly.pk}),
        (T0 + days(12), -20, {"expired_transaction_id": untouched.pk}),
    ]
    for tx, expired_at in ((spent, None), (partly, T0 + days(11)), (untouched, T0 + days(12)), (not_due, None)):
        tx.refresh_from_db()
        assert tx.expired_at == expired_at
    assert balance(member) == 5
    assert_ledger_consistent(member)


def test_a_fully_spent_lot_never_gets_an_expiration_and_keeps_expired_at_null(club, member, joined):
    services.program_config_update(club=club, points_validity_days=10)
    lot = grant(member, 50)
    correct(member, -50, T0 + days(1))
    assert services.points_expire_due(as_of=T0 + days(30)).lots == 0
    lot.refresh_from_db()
    assert lot.expired_at is None
    assert not Transaction.objects.filter(type="expiration").exists()


def test_running_the_expiration_twice_expires_nothing_more(club, member, joined):
    services.program_config_update(club=club, points_validity_days=10)
    grant(member, 50)
    first = services.points_expire_due(as_of=T0 + days(10))
    second = services.points_expire_due(as_of=T0 + days(20))
    assert (first.lots, first.points, second.lots, second.points) == (1, 50, 0, 0)
    assert ledger(member) == [("grant", 50), ("expiration", -50)]


def test_the_database_refuses_a_second_expiration_of_the_same_lot_round(club, member, joined):
    services.program_config_update(club=club, points_validity_days=10)
    lot = grant(member, 50)
    services.points_expire_due(as_of=T0 + days(10))
    first = Transaction.objects.get(type="expiration")
    with pytest.raises(IntegrityError), transaction.atomic():
        Transaction.objects.create(
            membership=first.membership,
            type="expiration",
            date=first.date,
            amount=-50,
            expired_lot=lot.lot,
            expiry_round=first.expiry_round,
        )


def test_points_refunded_into_an_expired_lot_expire_on_the_next_run_dated_at_the_refund(
    club, member, joined, make_reward
):
    services.program_config_update(club=club, points_validity_days=10)
    lot = grant(member, 100)
    bought = purchase(member, make_reward(price=30), T0 + days(1))
    services.points_expire_due(as_of=T0 + days(10))  # the 70 unspent points expire
    cancel(member, bought.transaction, T0 + days(12))  # 30 points go back into the expired lot
    assert balance(member) == 30
    assert_ledger_consistent(member)

    result = services.points_expire_due(as_of=T0 + days(13))

    assert (result.lots, result.points) == (1, 30)
    expirations = list(
        Transaction.objects.filter(type="expiration").order_by("id").values_list("date", "amount", "expiry_round")
    )
    assert expirations == [(T0 + days(10), -70, 0), (T0 + days(12), -30, 1)]
    lot.refresh_from_db()
    assert lot.expired_at == T0 + days(10)  # the marker is set once
    assert balance(member) == 0
    assert services.points_expire_due(as_of=T0 + days(30)).lots == 0
    assert_ledger_consistent(member)


# --- Database-enforced invariants ---------------------------------------------------------------------


def test_the_database_refuses_a_negative_balance(member, joined):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(pk=joined.pk).update(balance=-1)


def test_the_database_refuses_a_lot_with_more_remaining_than_its_amount(member, joined):
    grant(member, 10)
    with pytest.raises(IntegrityError), transaction.atomic():
        Lot.objects.update(remaining=11)


@pytest.mark.parametrize(
    "change",
    [{"amount": 99}, {"type": "correction"}, {"date": T0 + days(1)}, {"details": {"x": 1}}],
    ids=["amount", "type", "date", "details"],
)
def test_transaction_facts_are_immutable_in_the_database(member, joined, change):
    tx = grant(member, 10)
    with pytest.raises(IntegrityError), transaction.atomic():
        Transaction.objects.filter(pk=tx.pk).update(**change)


def test_a_marker_is_set_once_and_never_changed_or_cleared(member, joined):
    tx = grant(member, 10)
    Transaction.objects.filter(pk=tx.pk).update(cancelled_at=T0)  # NULL → value: allowed
    for value in (None, T0 + days(1)):
        with pytest.raises(IntegrityError), transaction.atomic():
            Transaction.objects.filter(pk=tx.pk).update(cancelled_at=value)


def test_allocations_and_lot_amounts_cannot_be_rewritten(member, joined):
    lot = grant(member, 10)
    correct(member, -5)
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.update(points=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Lot.objects.filter(transaction=lot).update(amount=20, remaining=20)


# --- Membership --------------------------------------------------------------------------------------


def test_leaving_deletes_every_ledger_row_and_a_later_join_starts_from_zero(member, joined, make_reward):
    grant(member, 100)
    bought = purchase(member, make_reward(price=30))
    cancel(member, bought.transaction, T0 + days(1))
    purchase(member, bought.reward, T0 + days(1))

    services.membership_leave(member=member)

    for model in (Membership, Transaction, Lot, Allocation, RewardPurchase):
        assert not model.objects.exists(), model
    membership, created = services.membership_join(member=member)
    assert (created, membership.balance, membership.lifetime_points) == (True, 0, 0)


def test_deleting_the_member_deletes_the_membership_and_its_ledger(member, joined, make_reward):
    grant(member, 100)
    purchase(member, make_reward(price=30))
    member.delete()
    for model in (Membership, Transaction, Lot, Allocation, RewardPurchase):
        assert not model.objects.exists(), model


def test_joining_twice_keeps_the_first_membership(member, joined):
    membership, created = services.membership_join(member=member)
    assert (created, membership.pk, membership.started_at) == (False, joined.pk, joined.started_at)


def test_lifetime_points_count_non_cancelled_point_adding_rows_only(member, joined):
    grant(member, 100)
    cancelled = grant(member, 40)
    correct(member, 25)
    correct(member, -50)
    cancel(member, cancelled)
    assert Membership.objects.get(member=member).lifetime_points == 125
    assert_ledger_consistent(member)


# --- The trigger-kept transactions count ---------------------------------------------------------------


@pytest.mark.postgres
def test_every_ledger_write_counts_in_transactions_count_and_reconcile_catches_a_wrong_count(
    club, member, joined, make_reward
):
    services.program_config_update(club=club, points_validity_days=10)
    first = grant(member, 100)
    correct(member, -10, T0 + days(1))
    bought = purchase(member, make_reward(price=20), T0 + days(2))
    cancel(member, bought.transaction, T0 + days(3))
    services.points_expire_due(as_of=T0 + days(20))  # one expiration row for `first`'s unspent points
    joined.refresh_from_db()
    assert joined.transactions_count == Transaction.objects.filter(membership=joined).count() == 5
    assert Transaction.objects.filter(type="expiration", details__expired_transaction_id=first.pk).exists()
    assert_ledger_consistent(member)

    Membership.objects.filter(pk=joined.pk).update(transactions_count=4)
    mismatches = selectors.ledger_reconcile(membership_ids=[joined.pk]).mismatches
    assert mismatches == [
        {"member_id": member.id, "membership_id": joined.pk, "check": "transactions_count", "expected": 5, "actual": 4}
    ]
    Membership.objects.filter(pk=joined.pk).update(transactions_count=5)  # the invariants check runs after


@pytest.mark.django_db
@pytest.mark.parametrize("one_statement", [True, False])
def test_a_credit_writes_its_transaction_and_lot_column_for_column_as_the_orm_does(
    member, joined, monkeypatch, one_statement
):
    from django.forms.models import model_to_dict

    from rewards import sql

    if one_statement and connection.vendor != "postgresql":
        pytest.skip("the one-statement insert is PostgreSQL's")
    if not one_statement:
        monkeypatch.setattr(sql, "_postgresql", lambda: False)
    tx = services.points_grant(member=member, points=7, grant_type="visit", grant_properties={"n": 2**70})
    stored = Transaction.objects.get(pk=tx.pk)
    lot = Lot.objects.get(transaction=stored)
    fields = [f.name for f in Transaction._meta.concrete_fields]
    assert model_to_dict(stored, fields=fields) == model_to_dict(tx, fields=fields)
    assert (lot.pk, lot.amount, lot.remaining, lot.expires_at, lot.expiry_round, lot.refunded_at) == (
        tx.lot.pk,
        7,
        7,
        tx.lot.expires_at,
        0,
        None,
    )
    assert stored.details == {"grant_type": "visit", "grant_properties": {"n": 2**70}}
    if connection.vendor == "postgresql":  # the trigger counted the row the CTE inserted
        assert Membership.objects.get(pk=joined.pk).transactions_count == 1
