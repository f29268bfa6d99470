"""Webhooks management API (SPEC §10.2): endpoints and their delivery log."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from kit.api.params import parse_body, parse_query
from kit.pagination import paginate
from loyalty.api.base import LoyaltyAPIView
from webhooks import selectors, services
from webhooks.api import serializers as s

MANAGE = "Webhooks:Api:Endpoints:Manage"


class WebhookListView(LoyaltyAPIView):
    permit = MANAGE
    creates = True
    schema_tags = ["Webhooks"]

    @extend_schema(
        parameters=[s.WebhookListQuerySerializer],
        responses=s.WebhookListResponseSerializer,
        summary="List webhook endpoints",
    )
    def get(self, request, lc):
        q = parse_query(s.WebhookListQuerySerializer, request.query_params)
        endpoints, info = paginate(
            selectors.webhook_endpoint_list(club=request.club), page_no=q["page_no"], per_page=q["per_page"]
        )
        return Response({"webhooks": [s.webhook_to_json(e) for e in endpoints], "pagination_info": info})

    @extend_schema(
        request=s.WebhookInputSerializer,
        responses={201: s.WebhookCreatedResponseSerializer},
        summary="Create a webhook endpoint (the signing secret is shown once)",
    )
    def post(self, request, lc):
        data = parse_body(s.WebhookInputSerializer, request.data)
        endpoint = services.webhook_endpoint_create(club=request.club, **data)
        return Response({"webhook": s.webhook_to_json(endpoint, with_secret=True)}, status=201)


class WebhookDetailView(LoyaltyAPIView):
    permit = MANAGE
    schema_tags = ["Webhooks"]

    @extend_schema(responses=s.WebhookResponseSerializer, summary="Show a webhook endpoint")
    def get(self, request, lc, webhook_id):
        endpoint = selectors.webhook_endpoint_get(club=request.club, webhook_id=webhook_id)
        return Response({"webhook": s.webhook_to_json(endpoint)})

    @extend_schema(
        request=s.WebhookUpdateInputSerializer,
        responses=s.WebhookResponseSerializer,
        summary="Update a webhook endpoint (partial)",
    )
    def put(self, request, lc, webhook_id):
        endpoint = selectors.webhook_endpoint_get(club=request.club, webhook_id=webhook_id)
        data = parse_body(s.WebhookUpdateInputSerializer, request.data)
        endpoint = services.webhook_endpoint_update(endpoint=endpoint, **data)
        return Response({"webhook": s.webhook_to_json(endpoint)})

    @extend_schema(
        responses=s.WebhookDeletedResponseSerializer,
        summary="Delete a webhook endpoint with its queued deliveries and log",
    )
    def delete(self, request, lc, webhook_id):
        endpoint = selectors.webhook_endpoint_get(club=request.club, webhook_id=webhook_id)
        services.webhook_endpoint_delete(endpoint=endpoint)
        return Response({})


class WebhookDeliveryListView(LoyaltyAPIView):
    permit = "Webhooks:Api:Deliveries:List"
    schema_tags = ["Webhooks"]

    @extend_schema(
        parameters=[s.WebhookDeliveryListQuerySerializer],
        responses=s.WebhookDeliveryListResponseSerializer,
        summary="List an endpoint's deliveries, newest first, with every attempt",
    )
    def get(self, request, lc, webhook_id):
        endpoint = selectors.webhook_endpoint_get(club=request.club, webhook_id=webhook_id)
        q = parse_query(s.WebhookDeliveryListQuerySerializer, request.query_params)
        deliveries, info = paginate(
            selectors.delivery_list(endpoint=endpoint, state=q.get("state")),
            page_no=q["page_no"],
            per_page=q["per_page"],
        )
        return Response({"deliveries": [s.delivery_to_json(d) for d in deliveries], "pagination_info": info})
