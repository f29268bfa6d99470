"""GET /metrics after real traffic through the API: request series by route and status, the business
counters (after commit only), job runs, the outbox depth, and the token that protects the endpoint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import transaction
from rest_framework.test import APIClient

from offers import services as offer_services
from rewards import services as reward_services
from rewards.tasks import expire_points
from tests.factories import MemberFactory
from tests.offers.factories import OfferFactory
from webhooks import services as webhook_services

BASE = "/v3/infinity-mall/members"
NOW = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
USE = "loyalty_offer_uses_total"
REQUESTS = "loyalty_http_requests_total"


@pytest.mark.django_db(transaction=True)
def test_a_scrape_after_traffic_counts_requests_by_route_and_status_and_the_business(
    api, member_api, club, member, scrape
):
    offer = OfferFactory(club=club, maximum_uses_per_user=2)
    reward_services.membership_join(member=member)
    rewards_url = f"/v1/{club.slug}/members/{member.id}/rewards-program"
    before = scrape()

    with time_machine.travel(NOW, tick=False) as clock:
        uses = []
        for _ in range(3):
            uses.append(member_api.post(f"{BASE}/me/offers/{offer.id}/use", {}, format="json"))
            clock.shift(3600)  # past the use's activation window, so only the member's limit stops the third
        missing = member_api.post(f"{BASE}/me/offers/999999/use", {}, format="json")
        earned = api.post(f"{rewards_url}/grant_points", {"points": 42}, format="json")
        spent = api.post(f"{rewards_url}/corrections", {"points": -30}, format="json")
    with time_machine.travel(datetime(2026, 1, 1, tzinfo=UTC), tick=False):
        expired = expire_points()  # the lot of 42 granted in 2024 expired after a year: its 12 points left

    assert [u.status_code for u in uses] == [200, 200, 422]  # the third is over the member's limit
    assert (missing.status_code, earned.status_code, spent.status_code) == (404, 200, 200)
    assert expired["expired_points"] == 12
    after = scrape()
    route = {"route": "member-offer-use-me", "method": "POST"}
    assert after.delta(before, REQUESTS, **route, status="200") == 2
    assert after.delta(before, REQUESTS, **route, status="422") == 1
    assert after.delta(before, REQUESTS, **route, status="404") == 1
    assert after.delta(before, "loyalty_http_request_duration_seconds_count", **route, status="200") == 2
    assert after.delta(before, "loyalty_http_request_duration_seconds_bucket", **route, status="200", le="+Inf") == 2
    assert after.delta(before, REQUESTS, route="rewards-grant-points", method="POST", status="200") == 1
    assert after.delta(before, REQUESTS, route="rewards-corrections", method="POST", status="200") == 1
    assert after.delta(before, USE, authorized="false") == 2
    assert after.delta(before, "loyalty_points_earned_total") == 42
    assert after.delta(before, "loyalty_points_spent_total") == 30
    assert after.delta(before, "loyalty_points_expired_total") == 12
    assert after.delta(before, "loyalty_domain_events_total", type="offer.used") == 2
    assert after.delta(before, "loyalty_job_runs_total", job="points-expiration", status="ok") == 1
    assert after.delta(before, "loyalty_job_duration_seconds_count", job="points-expiration") == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_use_counts_nothing_and_a_committed_one_counts_once(club, member, scrape):
    offer = OfferFactory(club=club)
    before = scrape()

    with pytest.raises(RuntimeError), transaction.atomic():
        offer_services.offer_use(offer=offer, member=member)
        raise RuntimeError("the caller's transaction fails after the use")
    rolled_back = scrape()
    offer_services.offer_use(offer=offer, member=member)
    committed = scrape()

    assert rolled_back.delta(before, USE, authorized="false") == 0
    assert rolled_back.delta(before, "loyalty_domain_events_total", type="offer.used") == 0
    assert committed.delta(before, USE, authorized="false") == 1


def test_requests_that_match_no_route_share_one_label(db, scrape):
    before = scrape()
    for path in ("/nope", "/nope/1", "/v9/anything"):
        assert APIClient().get(path).status_code == 404
    after = scrape()
    assert after.delta(before, REQUESTS, route="<unmatched>", method="GET", status="404") == 3
    assert not [k for k in after.samples if "/nope" in str(k)]


def test_a_method_outside_http_s_usual_ones_is_labelled_other(db, scrape):
    before = scrape()
    APIClient().generic("BREW", "/nope")
    assert scrape().delta(before, REQUESTS, route="<unmatched>", method="OTHER", status="404") == 1


def test_the_outbox_depth_counts_pending_and_due_deliveries(club, member, scrape):
    webhook_services.webhook_endpoint_create(club=club, url="https://hooks.example.com/a", events=["offer.used"])
    webhook_services.webhook_endpoint_create(club=club, url="https://hooks.example.com/b", events=["offer.used"])
    offer = OfferFactory(club=club)
    # The test's transaction never commits, so no delivery task runs: both deliveries stay due.
    offer_services.offer_use(offer=offer, member=member)
    offer_services.offer_use(offer=offer, member=MemberFactory(club=club))

    after = scrape()
    assert after.value("loyalty_webhook_deliveries_pending") == 4
    assert after.value("loyalty_webhook_deliveries_due") == 4
    assert after.value("loyalty_webhook_oldest_due_age_seconds") >= 0


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"HTTP_AUTHORIZATION": "Bearer wrong"}, 401),
        ({"HTTP_AUTHORIZATION": "Basic s3cret-metrics"}, 401),
        ({"HTTP_AUTHORIZATION": "Bearer s3cret-metrics"}, 200),
    ],
)
def test_metrics_token_protects_the_endpoint(db, settings, headers, status):
    settings.METRICS_TOKEN = "s3cret-metrics"
    response = APIClient().get("/metrics", **headers)
    assert response.status_code == status
    if status == 401:
        assert response.json() == {"error": "Unauthorized"}
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    else:
        assert b"loyalty_http_requests_total" in response.content


def test_metrics_answers_get_only(db):
    assert APIClient().post("/metrics").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_a_use_in_a_rolled_back_savepoint_counts_nothing_while_the_committed_outer_one_counts(club, member, scrape):
    offer = OfferFactory(club=club)
    before = scrape()

    with transaction.atomic():
        offer_services.offer_use(offer=offer, member=member)
        with pytest.raises(RuntimeError), transaction.atomic():
            offer_services.offer_use(offer=offer, member=MemberFactory(club=club))
            raise RuntimeError("the inner block fails: its savepoint is rolled back")
        assert scrape().delta(before, USE, authorized="false") == 0  # nothing before the commit

    assert scrape().delta(before, USE, authorized="false") == 1
