"""SPEC §10.2: the webhooks management API and the delivery log."""

from __future__ import annotations

import pytest
from django.db import transaction

from kit.formats import format_datetime
from webhooks.models import Delivery, WebhookEndpoint
from webhooks.services import EVENT_TYPES, event_emit, webhook_endpoint_create

URL = "/v3/infinity-mall/webhooks"
WEBHOOK_KEYS = {"id", "url", "events", "active", "created_at", "updated_at"}


def test_creating_an_endpoint_shows_the_secret_once(api, club):
    response = api.post(
        URL, {"url": "https://example.com/hooks", "events": ["points.earned", "offer.used"]}, format="json"
    )

    assert response.status_code == 201
    body = response.json()["webhook"]
    secret = body.pop("secret")
    assert secret.startswith("whsec_") and len(secret) > 40
    endpoint = WebhookEndpoint.objects.get()
    assert body == {
        "id": endpoint.id,
        "url": "https://example.com/hooks",
        "events": ["offer.used", "points.earned"],
        "active": True,
        "created_at": format_datetime(endpoint.created_at),
        "updated_at": format_datetime(endpoint.updated_at),
    }
    assert endpoint.secret == secret
    assert "secret" not in api.get(f"{URL}/{endpoint.id}").json()["webhook"]
    assert "secret" not in api.get(URL).json()["webhooks"][0]


def test_listing_endpoints_is_paginated_and_club_scoped(api, club, other_club):
    for n in range(3):
        webhook_endpoint_create(club=club, url=f"https://example.com/{n}", events=["offer.used"])
    webhook_endpoint_create(club=other_club, url="https://elsewhere.example/", events=["offer.used"])

    response = api.get(URL, {"per_page": 2, "page_no": 2})

    assert response.status_code == 200
    body = response.json()
    assert [w["url"] for w in body["webhooks"]] == ["https://example.com/2"]
    assert set(body["webhooks"][0]) == WEBHOOK_KEYS
    assert body["pagination_info"] == {
        "total_count": 3,
        "per_page": 2,
        "total_pages": 2,
        "current_page": 2,
        "next_page": None,
        "prev_page": 1,
        "is_first_page": False,
        "is_last_page": True,
        "is_out_of_range": False,
    }


def test_updating_an_endpoint_is_partial(api, club):
    endpoint = webhook_endpoint_create(club=club, url="https://example.com/a", events=["offer.used"])

    response = api.put(f"{URL}/{endpoint.id}", {"active": False}, format="json")

    assert response.status_code == 200
    body = response.json()["webhook"]
    assert (body["url"], body["events"], body["active"]) == ("https://example.com/a", ["offer.used"], False)
    response = api.put(f"{URL}/{endpoint.id}", {"events": ["reward.used"], "url": "http://x.example/h"}, format="json")
    body = response.json()["webhook"]
    assert (body["url"], body["events"], body["active"]) == ("http://x.example/h", ["reward.used"], False)


def test_deleting_an_endpoint_removes_it_with_its_deliveries(api, club, member):
    endpoint = webhook_endpoint_create(club=club, url="https://example.com/a", events=["offer.used"])
    with transaction.atomic():
        event_emit(club_id=club.id, type="offer.used", data={}, member_id=member.id)

    response = api.delete(f"{URL}/{endpoint.id}")

    assert response.status_code == 200
    assert response.json() == {}
    assert not WebhookEndpoint.objects.exists()
    assert not Delivery.objects.exists()
    assert api.get(f"{URL}/{endpoint.id}").status_code == 404


def test_an_endpoint_of_another_club_is_not_found(api, other_club):
    foreign = webhook_endpoint_create(club=other_club, url="https://example.com/", events=["offer.used"])
    for response in (
        api.get(f"{URL}/{foreign.id}"),
        api.put(f"{URL}/{foreign.id}", {"active": False}, format="json"),
        api.delete(f"{URL}/{foreign.id}"),
        api.get(f"{URL}/{foreign.id}/deliveries"),
    ):
        assert response.status_code == 404
        assert response.json() == {"error": f"Webhook#{foreign.id} not found"}
    assert WebhookEndpoint.objects.get().active is True


def test_unknown_event_types_answer_422_inclusion(api):
    response = api.post(
        URL, {"url": "https://example.com/", "events": ["offer.used", "offer.teleported"]}, format="json"
    )

    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {
            "events": {
                "1": [
                    {
                        "value": "offer.teleported",
                        "error": "inclusion",
                        "options": {"in": list(EVENT_TYPES)},
                        "message": "must be one of: " + ", ".join(EVENT_TYPES),
                    }
                ]
            }
        },
    }
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", ["ftp://example.com/", "javascript:alert(1)", "example.com/hook", "https://", 42])
def test_only_http_and_https_urls_are_accepted(api, url):
    response = api.post(URL, {"url": url, "events": ["offer.used"]}, format="json")

    assert response.status_code == 422
    [leaf] = response.json()["details"]["url"]
    assert leaf["value"] == url
    assert leaf["error"] == "invalid"


def test_url_and_events_are_required_on_create(api):
    response = api.post(URL, {"events": []}, format="json")

    assert response.status_code == 422
    details = response.json()["details"]
    assert details["url"][0]["error"] == "presence"
    assert details["events"][0]["error"] == "size_too_small"


def test_managing_endpoints_needs_its_permit(client_with):
    client = client_with("Webhooks:Api:Deliveries:List")
    response = client.get(URL)
    assert response.status_code == 403
    assert response.json() == {"error": "Missing permit: Webhooks:Api:Endpoints:Manage"}


def test_the_delivery_log_needs_its_permit(client_with, club):
    endpoint = webhook_endpoint_create(club=club, url="https://example.com/", events=["offer.used"])
    response = client_with("Webhooks:Api:Endpoints:Manage").get(f"{URL}/{endpoint.id}/deliveries")
    assert response.status_code == 403
    assert response.json() == {"error": "Missing permit: Webhooks:Api:Deliveries:List"}


def test_the_delivery_log_shows_every_attempt_newest_delivery_first(
    client_with,
    club,
    member,
    receiver,
    fast_webhooks,
    django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):
    endpoint = webhook_endpoint_create(club=club, url=receiver.url, events=["offer.used", "points.earned"])
    receiver.statuses = [500]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        failing = event_emit(club_id=club.id, type="offer.used", data={"offer_id": 3}, member_id=member.id)
    for n in range(3):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            event_emit(club_id=club.id, type="points.earned", data={"n": n}, member_id=None)
    client = client_with("Webhooks:Api:Deliveries:List")

    with django_assert_max_num_queries(8):
        response = client.get(f"{URL}/{endpoint.id}/deliveries", {"per_page": 10})

    assert response.status_code == 200
    body = response.json()
    assert body["pagination_info"]["total_count"] == 4
    assert [d["state"] for d in body["deliveries"]] == ["delivered", "delivered", "delivered", "pending"]
    delivery = Delivery.objects.get(event=failing)
    attempt = delivery.attempt_log.get()
    assert body["deliveries"][-1] == {
        "id": delivery.id,
        "state": "pending",
        "attempts_count": 1,
        "next_attempt_at": format_datetime(delivery.next_attempt_at),
        "give_up_at": format_datetime(delivery.give_up_at),
        "finished_at": None,
        "event": {
            "id": str(failing.id),
            "type": "offer.used",
            "member_id": member.id,
            "created_at": format_datetime(failing.created_at),
            "data": {"offer_id": 3},
        },
        "attempts": [
            {
                "attempt": 1,
                "attempted_at": format_datetime(attempt.attempted_at),
                "status_code": 500,
                "error": "HTTP 500",
                "duration_ms": attempt.duration_ms,
            }
        ],
    }
    assert body["deliveries"][0]["attempts"][0]["status_code"] == 200
    assert body["deliveries"][0]["attempts"][0]["error"] is None
    assert body["deliveries"][0]["next_attempt_at"] is None

    pending_only = client.get(f"{URL}/{endpoint.id}/deliveries", {"state": "pending"}).json()
    assert [d["id"] for d in pending_only["deliveries"]] == [delivery.id]
    assert client.get(f"{URL}/{endpoint.id}/deliveries", {"state": "lost"}).status_code == 422


def test_creating_an_endpoint_with_an_idempotency_key_creates_it_once(api):
    body = {"url": "https://example.com/hooks", "events": ["offer.used"]}
    first = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="create-hook")
    retry = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="create-hook")

    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content
    assert WebhookEndpoint.objects.count() == 1
