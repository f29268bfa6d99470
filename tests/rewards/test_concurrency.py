"""The ledger under real concurrency (SPEC §7, §8): threads with their own PostgreSQL connections, lined up by a
barrier. Exact counts, then every invariant through the reconciliation. PostgreSQL only (SQLite serialises
writers, so it could not show a race)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db.models import Count, Sum
from django.utils import timezone

from kit.errors import DomainError
from loyalty.services.oauth import oauth_tokens_issue
from rewards import selectors, services
from rewards.models import Membership, RewardPurchase, Transaction
from tests.concurrency import outcomes, run_in_parallel
from tests.conftest import make_client
from tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def purchase_call(secret: str, bearer: str, club, reward):
    url = f"/v3/{club.slug}/members/me/rewards-program/rewards/{reward.id}/purchase"
    return lambda: make_client(secret, bearer=bearer).post(url, {}, format="json")


def assert_reconciled():
    result = selectors.ledger_reconcile()
    assert result.mismatches == []
    assert not Membership.objects.filter(balance__lt=0).exists()


def test_twenty_parallel_purchases_of_100_with_500_points_buy_exactly_five(
    full_token, member_bearer, club, member, joined, make_reward
):
    services.points_grant(member=member, points=500)
    reward = make_reward(price=100)

    responses = run_in_parallel([purchase_call(full_token, member_bearer, club, reward) for _ in range(20)])

    assert outcomes(responses) == Counter({(200, "ok"): 5, (422, "Not enough points"): 15})
    assert Membership.objects.get(member=member).balance == 0
    assert RewardPurchase.objects.count() == 5
    assert_reconciled()


def test_fifty_members_buying_a_reward_with_stock_7_get_exactly_seven(full_token, club, make_reward):
    reward = make_reward(price=10, stock=7)
    calls = []
    for _ in range(50):
        buyer = MemberFactory(club=club)
        services.membership_join(member=buyer)
        services.points_grant(member=buyer, points=10)
        calls.append(purchase_call(full_token, oauth_tokens_issue(member=buyer).access_token, club, reward))

    responses = run_in_parallel(calls)

    assert outcomes(responses) == Counter({(200, "ok"): 7, (422, "Global limit exceeded"): 43})
    reward.refresh_from_db()
    assert (reward.purchased_count, reward.remaining_stock, RewardPurchase.objects.count()) == (7, 0, 7)
    assert Transaction.objects.filter(type="reward_purchase").count() == 7
    assert_reconciled()


def test_expiration_runs_racing_purchases_never_spend_twice_or_go_negative(full_token, club, make_reward):
    services.program_config_update(club=club, points_validity_days=10)
    reward = make_reward(price=80)
    calls, due_lots = [], 0
    past = timezone.now() - timedelta(days=11)
    for _ in range(10):
        buyer = MemberFactory(club=club)
        services.membership_join(member=buyer)
        with time_machine.travel(past, tick=False):  # due lots: past their expiry, so never spendable
            for _ in range(3):
                services.points_grant(member=buyer, points=50)
                due_lots += 1
        services.points_grant(member=buyer, points=100)  # spendable: one purchase of 80 fits, two do not
        bearer = oauth_tokens_issue(member=buyer).access_token
        calls += [purchase_call(full_token, bearer, club, reward) for _ in range(2)]
    expire = lambda: services.points_expire_due(as_of=timezone.now(), batch_size=4)  # noqa: E731
    calls += [expire, expire, expire]

    results = run_in_parallel(calls)

    runs, responses = results[-3:], results[:-3]
    assert outcomes(responses) == Counter({(200, "ok"): 10, (422, "Not enough points"): 10})
    assert all(not isinstance(run, Exception) for run in runs), runs
    expirations = Transaction.objects.filter(type="expiration").aggregate(n=Count("id"), points=Sum("amount"))
    assert (expirations["n"], -expirations["points"]) == (due_lots, 50 * due_lots)
    assert (sum(run.lots for run in runs), sum(run.points for run in runs)) == (due_lots, 50 * due_lots)
    assert set(Membership.objects.values_list("balance", flat=True)) == {20}
    assert_reconciled()


def test_two_simultaneous_cancellations_of_one_transaction_cancel_it_once(member, joined):
    grant = services.points_grant(member=member, points=100)

    def cancel():
        try:
            return services.transaction_cancel(member=member, transaction_id=grant.pk).pk
        except DomainError as error:
            return str(error)

    results = run_in_parallel([cancel] * 6)

    assert Counter(isinstance(r, int) for r in results) == Counter({True: 1, False: 5})
    assert set(r for r in results if not isinstance(r, int)) == {"Transaction cannot be cancelled"}
    assert Membership.objects.get(member=member).balance == 0
    assert_reconciled()


def test_parallel_reports_never_exceed_the_achievement_limit(member, joined, make_rule):
    make_rule("app_opened", points=5, limit=3)

    def report():
        try:
            return services.achievement_report(member=member, type="app_opened").amount
        except DomainError as error:
            return str(error)

    results = run_in_parallel([report] * 10)

    assert Counter(results) == Counter({5: 3, "Achievement limit exceeded": 7})
    assert_reconciled()
