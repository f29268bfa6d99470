"""Webhook endpoints, the transactional outbox and delivery attempts (SPEC §10.2).

An `OutboxEvent` is written in the transaction of the change that caused it, with one `Delivery` per
subscribed endpoint. Workers send due deliveries and log every try as a `DeliveryAttempt`.
"""

from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone

from loyalty.models import LoyaltyClub


def _empty_list():
    return []


class WebhookEndpoint(models.Model):
    """A receiver URL of a club and the event types it subscribes to. The secret signs every delivery, so
    it is stored as is; it is shown once, when the endpoint is created."""

    club = models.ForeignKey(LoyaltyClub, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=_empty_list, help_text='Event types, e.g. ["offer.used"]')
    active = models.BooleanField(default=True)
    # How deliveries are written (webhooks/formats.py): our signed envelope, or the published Placewise
    # member-change notifications (v1 or v2, with the secret in X-Secret-Token).
    format = models.CharField(
        max_length=20,
        choices=[("loyalty", "loyalty"), ("placewise_v1", "placewise_v1"), ("placewise_v2", "placewise_v2")],
        default="loyalty",
    )
    secret = models.CharField(max_length=100, editable=False)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "webhook endpoint"
        indexes = [models.Index(fields=["club", "active"], name="webhook_endpoint_club_active")]

    def __str__(self) -> str:
        return f"{self.url} (#{self.pk})"


class OutboxEvent(models.Model):
    """One event, with the stable id receivers de-duplicate on."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    club = models.ForeignKey(LoyaltyClub, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=50)
    # Not a foreign key: the event outlives the member (a deleted member's events are still delivered).
    member_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=dj_timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = "outbox event"

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class Delivery(models.Model):
    """An event on its way to one endpoint.

    Workers claim a due delivery with a lease (`locked_until`, `lease`), send it outside any transaction,
    then record the outcome only if the lease is still theirs. `member_id` is copied from the event: a
    pending delivery blocks the later (higher id) deliveries of the same member to the same endpoint.
    """

    PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
    STATES = [(PENDING, "pending"), (DELIVERED, "delivered"), (FAILED, "failed")]

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    member_id = models.BigIntegerField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=STATES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    give_up_at = models.DateTimeField(help_text="After this the delivery is no longer retried")
    locked_until = models.DateTimeField(null=True, blank=True)
    lease = models.UUIDField(null=True, blank=True, editable=False)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, help_text="Delivered or given up")

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_once_per_endpoint"),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "delivered", "failed"]), name="webhook_delivery_state_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at", "id"], condition=Q(state="pending"), name="webhook_delivery_due"),
            models.Index(
                fields=["endpoint", "member_id", "id"],
                condition=Q(state="pending"),
                name="webhook_delivery_member_order",
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_endpoint_log"),
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} ({self.state})"


class DeliveryAttempt(models.Model):
    """One HTTP request to the endpoint: its status (null when none came back), error and duration."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    response_excerpt = models.CharField(max_length=1000, blank=True, default="")
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Attempt {self.number} of delivery #{self.delivery_id}"
