"""Serializers of the webhooks management API (SPEC §10.2). Names are globally unique."""

from __future__ import annotations

from urllib.parse import urlsplit

from rest_framework import serializers

from kit.api.params import StrictBooleanField, StrictCharField, page_no_field, param_error, per_page_field
from kit.formats import format_datetime
from loyalty.api.serializers import PaginationInfoSerializer
from webhooks import egress
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from webhooks.services import EVENT_TYPES

# --- Input ----------------------------------------------------------------------------------------


def validate_webhook_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in value
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        valid = False
    if not valid:
        raise param_error("invalid", format="http or https URL")
    if egress.url_host_refused(value):  # deliveries would be refused: say so now (webhooks/egress.py)
        raise param_error("invalid", format="http or https URL of a public host")
    return value


class WebhookEventTypeField(StrictCharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=50, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value not in EVENT_TYPES:
            raise param_error("inclusion", **{"in": list(EVENT_TYPES)})
        return value


class WebhookInputSerializer(serializers.Serializer):
    url = StrictCharField(max_length=2000, validators=[validate_webhook_url])
    events = serializers.ListField(child=WebhookEventTypeField(), min_length=1, max_length=len(EVENT_TYPES) * 2)
    active = StrictBooleanField(required=False, default=True)


class WebhookUpdateInputSerializer(WebhookInputSerializer):
    """Partial: every attribute optional."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
        self.fields["active"].default = serializers.empty


class WebhookDeliveryListQuerySerializer(serializers.Serializer):
    page_no = page_no_field()
    per_page = per_page_field(maximum=100, default=25)
    state = serializers.ChoiceField(choices=[s for s, _ in Delivery.STATES], required=False)


# --- Output ---------------------------------------------------------------------------------------


class WebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=list(EVENT_TYPES)))
    active = serializers.BooleanField()
    created_at = serializers.CharField()
    updated_at = serializers.CharField()


class WebhookWithSecretSerializer(WebhookSerializer):
    secret = serializers.CharField(
        help_text="Signs every delivery (X-Loyalty-Signature). Shown only in the response that created it."
    )


class WebhookResponseSerializer(serializers.Serializer):
    webhook = WebhookSerializer()


class WebhookCreatedResponseSerializer(serializers.Serializer):
    webhook = WebhookWithSecretSerializer()


class WebhookListResponseSerializer(serializers.Serializer):
    webhooks = WebhookSerializer(many=True)
    pagination_info = PaginationInfoSerializer()


class WebhookListQuerySerializer(serializers.Serializer):
    page_no = page_no_field()
    per_page = per_page_field(maximum=100, default=25)


class WebhookDeletedResponseSerializer(serializers.Serializer):
    pass


class WebhookDeliveryAttemptSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    attempted_at = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True, help_text="null when no HTTP answer came back")
    error = serializers.CharField(allow_null=True)
    duration_ms = serializers.IntegerField()


class WebhookDeliveryEventSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    member_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.CharField()
    data = serializers.DictField()


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=[s for s, _ in Delivery.STATES])
    attempts_count = serializers.IntegerField()
    next_attempt_at = serializers.CharField(allow_null=True, help_text="null once delivered or failed")
    give_up_at = serializers.CharField()
    finished_at = serializers.CharField(allow_null=True)
    event = WebhookDeliveryEventSerializer()
    attempts = WebhookDeliveryAttemptSerializer(many=True)


class WebhookDeliveryListResponseSerializer(serializers.Serializer):
    deliveries = WebhookDeliverySerializer(many=True)
    pagination_info = PaginationInfoSerializer()


def webhook_to_json(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict:
    data = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "active": endpoint.active,
        "created_at": format_datetime(endpoint.created_at),
        "updated_at": format_datetime(endpoint.updated_at),
    }
    if with_secret:
        data["secret"] = endpoint.secret
    return data


def _attempt_to_json(attempt: DeliveryAttempt) -> dict:
    return {
        "attempt": attempt.number,
        "attempted_at": format_datetime(attempt.attempted_at),
        "status_code": attempt.status_code,
        "error": attempt.error or None,
        "duration_ms": attempt.duration_ms,
    }


def delivery_to_json(delivery: Delivery) -> dict:
    event = delivery.event
    return {
        "id": delivery.id,
        "state": delivery.state,
        "attempts_count": delivery.attempts,
        "next_attempt_at": format_datetime(delivery.next_attempt_at) if delivery.state == Delivery.PENDING else None,
        "give_up_at": format_datetime(delivery.give_up_at),
        "finished_at": format_datetime(delivery.finished_at),
        "event": {
            "id": str(event.id),
            "type": event.type,
            "member_id": event.member_id,
            "created_at": format_datetime(event.created_at),
            "data": event.data,
        },
        "attempts": [_attempt_to_json(a) for a in delivery.attempt_log.all()],
    }
