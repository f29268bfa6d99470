"""Member-change webhooks as the published docs (10_members_api/9_webhooks.md) describe them: subscriptions
with their own secret in `X-Secret-Token`, notifications v2 and v1 for import, update and delete, 2xx
delivered, 5xx retried, 4xx ignored. Deliveries go to a real HTTP receiver on 127.0.0.1 through our outbox;
the changes are made through the real API (and the import command)."""

# ruff: noqa: F811 -- the receiver fixtures are imported from tests/webhooks and named as arguments

from __future__ import annotations

import json
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from tests.webhooks.conftest import fast_webhooks, receiver  # noqa: F401 -- the real receiver's fixtures
from webhooks.models import Delivery, OutboxEvent, WebhookEndpoint
from webhooks.services import deliveries_process_due, webhook_endpoint_create

SUBSCRIPTIONS = "/v3/infinity-mall/members_changes_subscriptions"
MEMBERS = "/v3/infinity-mall/members"


def send(secret: str, method: str, path: str, body: dict | None = None):
    """A request as a PHP client makes it: the docs' header names in lower case, a JSON body."""
    headers = {"x-client-authorization": secret, "x-product-name": "default", "x-user-agent": "cURL Manual Testing"}
    if body is None:
        return getattr(APIClient(), method)(path, headers=headers)
    return APIClient().generic(
        method.upper(), path, data=json.dumps(body), content_type="application/json", headers=headers
    )


@pytest.fixture
def subscribe(full_token, receiver, fast_webhooks):
    def _subscribe(**attrs) -> dict:
        body = {"subscription": {"url": receiver.url, **attrs}}
        response = send(full_token, "post", SUBSCRIPTIONS, body)
        assert response.status_code == 201, response.content
        return response.json()["subscription"]

    return _subscribe


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a request with its on-commit work (the eager delivery task) executed, as after a real commit."""

    def _run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return _run


def test_a_subscription_is_created_with_its_secret_token_shown_once(full_token, subscribe, receiver):
    created = subscribe(events=["import", "update"], version="2", active="true")

    assert created == {
        "id": created["id"],
        "url": receiver.url,
        "events": ["import", "update"],
        "version": 2,
        "active": True,
        "secret_token": WebhookEndpoint.objects.get().secret,
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
    }
    shown = send(full_token, "get", f"{SUBSCRIPTIONS}/{created['id']}").json()["subscription"]
    assert "secret_token" not in shown
    assert send(full_token, "get", SUBSCRIPTIONS).json()["subscriptions"] == [shown]


def test_a_registration_is_an_import_notification_v2_with_the_secret_token(
    full_token, subscribe, receiver, committed, club
):
    subscription = subscribe()
    body = {"member": {"properties": {"email": "john@example.com", "first_name": "John", "last_name": "Doe"}}}

    created = committed(lambda: send(full_token, "post", MEMBERS, body))

    assert created.status_code in (200, 201), created.content
    [received] = receiver.requests
    assert received.headers["X-Secret-Token"] == subscription["secret_token"]
    assert "X-Loyalty-Signature" not in received.headers
    payload = received.json
    assert payload["version"] == 2
    [event] = payload["events"]
    member_id = created.json()["member"]["id"]
    assert event["event"]["type"] == "import"
    assert event["event"]["date"].endswith("Z")
    assert event["loyalty_club"] == {"id": club.id, "slug": "infinity-mall"}
    member = event["member"]
    assert (member["id"], member["person_id"], member["email"], member["msisdn"]) == (
        member_id,
        None,
        "john@example.com",
        None,
    )
    assert member["properties"]["first_name"] == "John"
    assert {"sms_status", "email_status", "push_status", "optin_channel", "created_at", "updated_at"} <= set(member)
    assert event["member_changes"]["email"] == {"change": "+", "was": None, "is": "john@example.com"}
    assert event["member_changes"]["properties"]["last_name"] == {"change": "+", "was": None, "is": "Doe"}
    assert Delivery.objects.get().state == Delivery.DELIVERED


def test_an_update_carries_only_what_changed(full_token, subscribe, receiver, committed, member):
    subscribe(events=["update"])
    member.first_name, member.last_name = "Mark", "Smith"
    member.save()
    body = {"member": {"properties": {"first_name": "John", "last_name": None, "email": "john@example.com"}}}

    response = committed(lambda: send(full_token, "put", f"{MEMBERS}/{member.id}", body))

    assert response.status_code == 200, response.content
    [received] = receiver.requests
    [event] = received.json["events"]
    assert event["event"]["type"] == "update"
    assert event["member_changes"] == {
        "email": {"change": "~", "was": "ada@example.com", "is": "john@example.com"},
        "properties": {
            "first_name": {"change": "~", "was": "Mark", "is": "John"},
            "last_name": {"change": "-", "was": "Smith", "is": None},
        },
    }
    assert event["member"]["email"] == "john@example.com"


def test_an_update_that_changes_nothing_visible_sends_nothing(full_token, subscribe, receiver, committed, member):
    subscribe()

    committed(lambda: send(full_token, "put", f"{MEMBERS}/{member.id}", {"member": {"password": "s3cret-pass"}}))
    committed(lambda: send(full_token, "put", f"{MEMBERS}/{member.id}", {"member": {"properties": {}}}))

    assert receiver.requests == []
    assert not OutboxEvent.objects.exists()


def test_a_delete_has_only_the_ids_and_no_changes(full_token, subscribe, receiver, committed, member):
    subscribe()
    member_id = member.id

    response = committed(lambda: send(full_token, "delete", f"{MEMBERS}/{member_id}"))

    assert response.status_code == 200, response.content
    [received] = receiver.requests
    [event] = received.json["events"]
    assert event["event"]["type"] == "delete"
    assert event["member"] == {"id": member_id, "person_id": None}
    assert event["member_changes"] == {}


def test_notifications_v1_are_the_deprecated_bulk_shape(full_token, subscribe, receiver, committed, member, club):
    subscribe(version=1)

    committed(
        lambda: send(full_token, "put", f"{MEMBERS}/{member.id}", {"member": {"properties": {"first_name": "Jo"}}})
    )
    committed(lambda: send(full_token, "delete", f"{MEMBERS}/{member.id}"))

    update, delete = (r.json for r in receiver.requests)
    assert update["version"] == 1
    [item] = update["bulk"]
    assert item["customer_name"] == "Infinity Mall"
    assert item["customer_id"] == club.id
    assert item["event_type"] == "update"
    assert item["external_id"] == member.id
    assert item["properties"]["first_name"] == {"type": "string", "value": "Jo"}
    assert item["properties"]["email"] == {"type": "string", "value": "ada@example.com"}
    assert item["optin_date"] == update["bulk"][0]["optin_date"] and item["optin_date"].endswith("Z")
    [gone] = delete["bulk"]
    assert gone["event_type"] == "delete"
    assert gone["properties"] == {
        "msisdn": {"type": "string", "value": "4740769126"},
        "email": {"type": "string", "value": "ada@example.com"},
    }
    assert gone["consents"] == {}


def test_a_subscription_gets_only_the_changes_it_subscribed_to(full_token, subscribe, receiver, committed, member):
    subscribe(events=["delete"])

    committed(
        lambda: send(full_token, "put", f"{MEMBERS}/{member.id}", {"member": {"properties": {"first_name": "X"}}})
    )
    committed(lambda: send(full_token, "delete", f"{MEMBERS}/{member.id}"))

    assert [r.json["events"][0]["event"]["type"] for r in receiver.requests] == ["delete"]


def test_an_import_notifies_created_and_changed_members_and_a_reimport_nothing(
    subscribe, receiver, django_capture_on_commit_callbacks, tmp_path, member
):
    subscribe()
    path = tmp_path / "members.csv"
    path.write_text("email,first_name\nnew@example.com,New\nada@example.com,Ada Changed\n", encoding="utf-8")

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            call_command("import_members", str(path), "--club", "infinity-mall", "--json", stdout=StringIO())

    events = [r.json["events"][0] for r in receiver.requests]
    assert sorted((e["event"]["type"], e["member"]["email"]) for e in events) == [
        ("import", "new@example.com"),
        ("update", "ada@example.com"),
    ]
    update = next(e for e in events if e["event"]["type"] == "update")
    was = member.first_name
    assert update["member_changes"] == {"properties": {"first_name": {"change": "~", "was": was, "is": "Ada Changed"}}}


def test_a_5xx_is_retried_and_a_4xx_is_ignored(full_token, subscribe, receiver, committed, member):
    subscribe()
    receiver.statuses = [503, 200, 404]
    start = timezone.now()

    with time_machine.travel(start, tick=False) as clock:
        committed(
            lambda: send(full_token, "put", f"{MEMBERS}/{member.id}", {"member": {"properties": {"first_name": "A"}}})
        )
        clock.shift(10)  # fast_webhooks: the first retry after 10 s
        deliveries_process_due()
        committed(
            lambda: send(full_token, "put", f"{MEMBERS}/{member.id}", {"member": {"properties": {"first_name": "B"}}})
        )
        clock.shift(3600)
        assert deliveries_process_due() == 0  # the 4xx is not tried again

    first, second = Delivery.objects.order_by("id")
    assert (first.state, first.attempts) == (Delivery.DELIVERED, 2)
    assert (second.state, second.attempts, second.last_status_code) == (Delivery.FAILED, 1, 404)
    assert len(receiver.requests) == 3


def test_our_own_endpoints_get_member_changes_in_the_signed_envelope(
    full_token,
    receiver,
    fast_webhooks,
    committed,
    club,
    member,
):
    endpoint = webhook_endpoint_create(club=club, url=receiver.url, events=["member.updated"])

    committed(
        lambda: send(full_token, "put", f"{MEMBERS}/{member.id}", {"member": {"properties": {"first_name": "Z"}}})
    )

    [received] = receiver.requests
    assert received.json["type"] == "member.updated"
    assert received.json["data"]["member_changes"]["properties"]["first_name"]["is"] == "Z"
    assert received.headers["X-Loyalty-Signature"].startswith("t=")
    assert "X-Secret-Token" not in received.headers
    assert endpoint.format == "loyalty"


def test_subscriptions_are_updated_partially_and_deleted(full_token, subscribe):
    created = subscribe()

    updated = send(full_token, "put", f"{SUBSCRIPTIONS}/{created['id']}", {"events": ["delete"], "active": "false"})
    assert updated.status_code == 200, updated.content
    assert (updated.json()["subscription"]["events"], updated.json()["subscription"]["active"]) == (["delete"], False)
    assert updated.json()["subscription"]["version"] == 2

    deleted = send(full_token, "delete", f"{SUBSCRIPTIONS}/{created['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["subscription"]["id"] == created["id"]
    assert not WebhookEndpoint.objects.exists()
    assert send(full_token, "get", f"{SUBSCRIPTIONS}/{created['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://hooks.example.com/x"}, "url"),  # the docs: HTTPS only
        ({"url": "https://hooks.example.com/x", "events": ["create"]}, "events"),
        ({"url": "https://hooks.example.com/x", "events": []}, "events"),
        ({"url": "https://hooks.example.com/x", "version": 3}, "version"),
        ({"url": "https://hooks.example.com/x", "active": "maybe"}, "active"),
        ({}, "url"),
    ],
)
def test_bad_subscriptions_get_a_422_naming_the_field_and_create_nothing(full_token, club, body, field, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    response = send(full_token, "post", SUBSCRIPTIONS, {"subscription": body})

    assert response.status_code == 422, response.content
    assert field in response.json()["details"]["subscription"]
    assert not WebhookEndpoint.objects.exists()


def test_our_own_endpoints_are_not_subscriptions_and_other_clubs_are_invisible(full_token, club, other_club):
    ours = webhook_endpoint_create(club=club, url="https://hooks.example.com/a", events=["offer.used"])
    theirs = webhook_endpoint_create(
        club=other_club, url="https://hooks.example.com/b", events=["member.updated"], format="placewise_v2"
    )

    for endpoint in (ours, theirs):
        response = send(full_token, "get", f"{SUBSCRIPTIONS}/{endpoint.id}")
        assert response.status_code == 404
        assert response.json() == {"error": f"Subscription#{endpoint.id} not found"}
    assert send(full_token, "get", SUBSCRIPTIONS).json()["subscriptions"] == []
