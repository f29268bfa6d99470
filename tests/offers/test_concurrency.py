"""Exact limits under concurrency (SPEC §4.5, §4.6): real threads, each with its own database connection,
lined up by a barrier and sent through the real HTTP stack. PostgreSQL only (SQLite serialises writers)."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from offers.models import Offer, OfferGrant, OfferMemberState, OfferType, OfferUsage
from tests.concurrency import outcomes, run_in_parallel
from tests.conftest import make_client
from tests.factories import MemberFactory
from tests.offers.conftest import BASE
from tests.offers.factories import OfferFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post(secret: str, path: str, body: dict | None = None):
    """A call for run_in_parallel: a fresh client per thread (test clients are not thread-safe)."""
    return lambda: make_client(secret).post(path, body or {}, format="json")


def assert_counters_match_rows(offer: Offer) -> None:
    offer.refresh_from_db()
    assert offer.uses_count == OfferUsage.objects.filter(offer=offer).count()
    assert offer.grants_count == OfferGrant.objects.filter(offer=offer).count()
    states = OfferMemberState.objects.filter(offer=offer).aggregate(uses=Sum("uses_count"), grants=Sum("grants_count"))
    assert (states["uses"] or 0) == offer.uses_count
    assert (states["grants"] or 0) == offer.grants_count


@pytest.fixture
def instant_club(club):
    """Activation time 0, so a member's back-to-back uses are not refused as `Already active`."""
    club.activated_seconds_time = 0
    club.save(update_fields=["activated_seconds_time"])
    return club


def test_50_members_racing_for_a_stock_of_10_get_exactly_10_uses(club, full_token):
    offer = OfferFactory(club=club, stock=10)
    members = [MemberFactory(club=club) for _ in range(50)]

    results = run_in_parallel([post(full_token, f"{BASE}/{m.id}/offers/{offer.id}/use") for m in members])

    assert outcomes(results) == {(200, "ok"): 10, (422, "Global limit exceeded"): 40}
    assert_counters_match_rows(offer)
    assert offer.uses_count == 10
    assert OfferUsage.objects.filter(offer=offer).values("member").distinct().count() == 10


def test_20_parallel_uses_by_one_member_with_3_allowed_give_exactly_3(instant_club, member, full_token):
    offer = OfferFactory(club=instant_club, maximum_uses_per_user=3)

    results = run_in_parallel([post(full_token, f"{BASE}/{member.id}/offers/{offer.id}/use")] * 20)

    assert outcomes(results) == {(200, "ok"): 3, (422, "User limit exceeded"): 17}
    assert_counters_match_rows(offer)
    assert offer.uses_count == 3


def test_20_parallel_uses_against_a_periodic_limit_of_2_give_exactly_2(instant_club, member, full_token):
    offer = OfferFactory(club=instant_club, periodic_timespan="day", periodic_limit=2)

    results = run_in_parallel([post(full_token, f"{BASE}/{member.id}/offers/{offer.id}/use")] * 20)

    assert outcomes(results) == {(200, "ok"): 2, (422, "Periodic user limit exceeded"): 18}
    assert_counters_match_rows(offer)


def test_the_first_parallel_use_wins_the_activation_window(club, member, full_token):
    offer = OfferFactory(club=club)

    results = run_in_parallel([post(full_token, f"{BASE}/{member.id}/offers/{offer.id}/use")] * 10)

    assert outcomes(results) == {(200, "ok"): 1, (422, "Already active"): 9}
    assert_counters_match_rows(offer)


def test_20_parallel_grants_against_a_grant_limit_of_3_give_exactly_3(club, member, full_token):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, maximum_grants_per_user=3)

    results = run_in_parallel([post(full_token, f"{BASE}/{member.id}/offers/{offer.id}/grant")] * 20)

    assert outcomes(results) == {(200, "ok"): 3, (422, "User grant limit exceeded"): 17}
    assert_counters_match_rows(offer)
    assert offer.grants_count == 3


def test_parallel_uses_and_grants_of_one_member_never_overdraw_a_grant(instant_club, member, full_token):
    offer = OfferFactory(club=instant_club, type=OfferType.EXCLUSIVE, maximum_uses_per_user=1)
    path = f"{BASE}/{member.id}/offers/{offer.id}"
    make_client(full_token).post(f"{path}/grant", {}, format="json")

    results = run_in_parallel(
        [post(full_token, f"{path}/use") for _ in range(12)] + [post(full_token, f"{path}/grant") for _ in range(6)]
    )

    counted = outcomes(results)
    assert set(counted) <= {(200, "ok"), (422, "User limit exceeded")}
    assert_counters_match_rows(offer)
    assert offer.grants_count == 7
    assert 1 <= offer.uses_count <= 7
    assert all(grant.uses_count <= 1 for grant in OfferGrant.objects.filter(offer=offer))
    assert counted[(200, "ok")] == 6 + offer.uses_count  # every grant succeeded, and every recorded use
