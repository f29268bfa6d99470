"""The Django admin of webhooks: endpoints through the services (secret shown once), a read-only log."""

from __future__ import annotations

from django.db import transaction

from webhooks.models import Delivery, OutboxEvent, WebhookEndpoint
from webhooks.services import event_emit, webhook_endpoint_create


def test_creating_an_endpoint_in_the_admin_shows_its_secret_once(admin_client, club):
    response = admin_client.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"club": club.id, "url": "https://example.com/hooks", "events": '["offer.used"]', "active": "on"},
    )

    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["offer.used"]
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret.encode() in admin_client.get(response.url).content  # the page after saving
    page = admin_client.get(f"/admin/webhooks/webhookendpoint/{endpoint.id}/change/")
    assert page.status_code == 200
    assert endpoint.secret.encode() not in page.content  # and never again


def test_the_admin_refuses_unknown_event_types(admin_client, club):
    response = admin_client.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"club": club.id, "url": "https://example.com/hooks", "events": '["offer.teleported"]', "active": "on"},
    )

    assert response.status_code == 200
    assert b"Unknown event types: offer.teleported" in response.content
    assert not WebhookEndpoint.objects.exists()


def test_outbox_events_and_deliveries_are_a_read_only_log(admin_client, club, member):
    webhook_endpoint_create(club=club, url="https://example.com/hooks", events=["offer.used"])
    with transaction.atomic():
        event = event_emit(club_id=club.id, type="offer.used", data={}, member_id=member.id)
    delivery = Delivery.objects.get()

    for url in (
        "/admin/webhooks/outboxevent/",
        f"/admin/webhooks/outboxevent/{event.pk}/change/",
        "/admin/webhooks/delivery/",
        f"/admin/webhooks/delivery/{delivery.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get("/admin/webhooks/delivery/add/").status_code == 403
    assert admin_client.post(f"/admin/webhooks/outboxevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert OutboxEvent.objects.count() == 1
