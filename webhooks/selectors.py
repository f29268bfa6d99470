"""Reads for webhooks, club-scoped; lookups raise their own not-found."""

from __future__ import annotations

from django.db.models import QuerySet

from kit.errors import ResourceNotFound
from loyalty.models import LoyaltyClub
from webhooks.models import Delivery, WebhookEndpoint


def webhook_endpoint_list(*, club: LoyaltyClub) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(club=club).order_by("id")


def webhook_endpoint_get(*, club: LoyaltyClub, webhook_id: int) -> WebhookEndpoint:
    """The endpoint of this club; another club's endpoint is "not found" too."""
    endpoint = WebhookEndpoint.objects.filter(club=club, pk=webhook_id).first() if 0 < webhook_id < 2**63 else None
    if endpoint is None:
        raise ResourceNotFound("Webhook", webhook_id)
    return endpoint


def delivery_list(*, endpoint: WebhookEndpoint, state: str | None = None) -> QuerySet[Delivery]:
    """The endpoint's deliveries, newest first, with their event and attempt log (three queries a page)."""
    deliveries = Delivery.objects.filter(endpoint=endpoint).select_related("event").prefetch_related("attempt_log")
    if state:
        deliveries = deliveries.filter(state=state)
    return deliveries.order_by("-id")
