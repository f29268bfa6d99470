"""Members changes subscriptions: the published Members Webhooks' Subscriptions, managed through the API.

Placewise sets subscriptions up by hand ("contact us"); here a client with `Webhooks:Api:Endpoints:Manage`
manages them itself. A subscription is a webhook endpoint (one outbox, one delivery engine, the same
delivery log at `/webhooks/{id}/deliveries`) whose format is a Placewise notification version, subscribed
to some of `import`, `update`, `delete`. Its secret is the `X-Secret-Token` of every notification and is
shown once, when it is created. Bodies are taken wrapped (`{"subscription": {...}}`, the answer's shape)
or bare; numbers and booleans also as strings, as PHP clients send them.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from kit.api.params import StrictCharField, build_details, page_no_field, param_error, parse_query, per_page_field
from kit.errors import InvalidParameters, ResourceNotFound
from kit.formats import format_datetime
from kit.pagination import paginate
from loyalty.api.base import LoyaltyAPIView
from loyalty.api.serializers import PaginationInfoSerializer
from webhooks import formats, services
from webhooks.api.serializers import validate_webhook_url
from webhooks.member_changes import CHANGE_OF_TYPE, TYPE_OF_CHANGE
from webhooks.models import WebhookEndpoint

MANAGE = "Webhooks:Api:Endpoints:Manage"
CHANGES = ("import", "update", "delete")
_FORMAT_OF_VERSION = {1: formats.PLACEWISE_V1, 2: formats.PLACEWISE_V2}
_VERSION_OF_FORMAT = {f: v for v, f in _FORMAT_OF_VERSION.items()}


def _subscription_url(value: str) -> str:
    validate_webhook_url(value)
    # "For security reasons, we don't support HTTP" — unless private test receivers are allowed.
    if not value.lower().startswith("https://") and not settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        raise param_error("invalid", format="https URL")
    return value


class MembersChangesSubscriptionInputSerializer(serializers.Serializer):
    url = StrictCharField(max_length=2000, validators=[_subscription_url])
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=CHANGES),
        required=False,
        default=list(CHANGES),
        min_length=1,
        max_length=6,
    )
    version = serializers.ChoiceField(choices=[1, 2], required=False, default=2)
    active = serializers.BooleanField(required=False, default=True)


class MembersChangesSubscriptionWrappedInputSerializer(serializers.Serializer):
    subscription = MembersChangesSubscriptionInputSerializer()


class MembersChangesSubscriptionListQuerySerializer(serializers.Serializer):
    page_no = page_no_field()
    per_page = per_page_field(maximum=100, default=25)


class MembersChangesSubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=CHANGES))
    version = serializers.IntegerField()
    active = serializers.BooleanField()
    created_at = serializers.CharField()
    updated_at = serializers.CharField()


class MembersChangesSubscriptionWithSecretSerializer(MembersChangesSubscriptionSerializer):
    secret_token = serializers.CharField(help_text="Sent as X-Secret-Token with every notification; shown once")


class MembersChangesSubscriptionResponseSerializer(serializers.Serializer):
    subscription = MembersChangesSubscriptionSerializer()


class MembersChangesSubscriptionCreatedResponseSerializer(serializers.Serializer):
    subscription = MembersChangesSubscriptionWithSecretSerializer()


class MembersChangesSubscriptionListResponseSerializer(serializers.Serializer):
    subscriptions = MembersChangesSubscriptionSerializer(many=True)
    pagination_info = PaginationInfoSerializer()


def subscription_to_json(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict:
    data = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": [CHANGE_OF_TYPE[e] for e in endpoint.events if e in CHANGE_OF_TYPE],
        "version": _VERSION_OF_FORMAT[endpoint.format],
        "active": endpoint.active,
        "created_at": format_datetime(endpoint.created_at),
        "updated_at": format_datetime(endpoint.updated_at),
    }
    if with_secret:
        data["secret_token"] = endpoint.secret
    return data


def _parse(request, *, partial: bool) -> dict:
    """The attributes sent bare or wrapped; errors are keyed the way they were sent."""
    wrapped = isinstance(request.data, dict) and "subscription" in request.data
    if wrapped:
        serializer = MembersChangesSubscriptionWrappedInputSerializer(data=request.data, partial=partial)
    else:
        serializer = MembersChangesSubscriptionInputSerializer(data=request.data, partial=partial)
    if not serializer.is_valid():
        details = build_details(serializer, serializer.errors, request.data)
        raise InvalidParameters(details if isinstance(details, dict) else {"body": details})
    data = dict(serializer.validated_data["subscription"] if wrapped else serializer.validated_data)
    attrs: dict = {}
    if "url" in data:
        attrs["url"] = data["url"]
    if "events" in data:
        attrs["events"] = [TYPE_OF_CHANGE[c] for c in CHANGES if c in set(data["events"])]
    if "version" in data:
        attrs["format"] = _FORMAT_OF_VERSION[data["version"]]
    if "active" in data:
        attrs["active"] = data["active"]
    return attrs


def _get(request, subscription_id: int) -> WebhookEndpoint:
    endpoint = (
        WebhookEndpoint.objects.filter(
            club=request.club, pk=subscription_id, format__in=formats.PLACEWISE_FORMATS
        ).first()
        if 0 < subscription_id < 2**63
        else None
    )
    if endpoint is None:
        raise ResourceNotFound("Subscription", subscription_id)
    return endpoint


class MembersChangesSubscriptionListView(LoyaltyAPIView):
    permit = MANAGE
    creates = True
    schema_tags = ["Webhooks"]

    @extend_schema(
        parameters=[MembersChangesSubscriptionListQuerySerializer],
        responses=MembersChangesSubscriptionListResponseSerializer,
        summary="List members changes subscriptions",
    )
    def get(self, request, lc):
        q = parse_query(MembersChangesSubscriptionListQuerySerializer, request.query_params)
        endpoints = WebhookEndpoint.objects.filter(club=request.club, format__in=formats.PLACEWISE_FORMATS)
        page, info = paginate(endpoints.order_by("id"), page_no=q["page_no"], per_page=q["per_page"])
        return Response({"subscriptions": [subscription_to_json(e) for e in page], "pagination_info": info})

    @extend_schema(
        request=MembersChangesSubscriptionWrappedInputSerializer,
        responses={201: MembersChangesSubscriptionCreatedResponseSerializer},
        summary="Create a members changes subscription (the secret token is shown once)",
    )
    def post(self, request, lc):
        attrs = _parse(request, partial=False)
        endpoint = services.webhook_endpoint_create(club=request.club, **attrs)
        return Response({"subscription": subscription_to_json(endpoint, with_secret=True)}, status=201)


class MembersChangesSubscriptionDetailView(LoyaltyAPIView):
    permit = MANAGE
    schema_tags = ["Webhooks"]

    @extend_schema(responses=MembersChangesSubscriptionResponseSerializer, summary="Show a subscription")
    def get(self, request, lc, subscription_id):
        return Response({"subscription": subscription_to_json(_get(request, subscription_id))})

    @extend_schema(
        request=MembersChangesSubscriptionWrappedInputSerializer,
        responses=MembersChangesSubscriptionResponseSerializer,
        summary="Update a subscription (partial)",
    )
    def put(self, request, lc, subscription_id):
        endpoint = _get(request, subscription_id)
        attrs = _parse(request, partial=True)
        if attrs:
            endpoint = services.webhook_endpoint_update(endpoint=endpoint, **attrs)
        return Response({"subscription": subscription_to_json(endpoint)})

    @extend_schema(
        responses=MembersChangesSubscriptionResponseSerializer,
        summary="Delete a subscription with its queued notifications",
    )
    def delete(self, request, lc, subscription_id):
        endpoint = _get(request, subscription_id)
        body = subscription_to_json(endpoint)
        services.webhook_endpoint_delete(endpoint=endpoint)
        return Response({"subscription": body})


v3_patterns: list = [
    path(
        "members_changes_subscriptions",
        MembersChangesSubscriptionListView.as_view(),
        name="members-changes-subscriptions",
    ),
    path(
        "members_changes_subscriptions/<int:subscription_id>",
        MembersChangesSubscriptionDetailView.as_view(),
        name="members-changes-subscription",
    ),
]
