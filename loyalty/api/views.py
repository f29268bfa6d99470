"""Core endpoints: the loyalty club (SPEC §3.1), and the token admin API (§2.1); health lives in config/health.py."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from kit.api.params import parse_body, parse_query
from kit.errors import BusinessRuleError, ResourceNotFound
from kit.pagination import paginate_list
from loyalty.api import serializers as s
from loyalty.api.base import LoyaltyAPIView
from loyalty.models import ClientToken
from loyalty.permits import PERMITS, POLICIES, expand
from loyalty.services import clubs, tokens


class LoyaltyClubView(LoyaltyAPIView):
    permit = {"GET": "BL:Api:LoyaltyClubs:Get", "PUT": "BL:Api:LoyaltyClubs:Update"}
    schema_tags = ["Loyalty club"]

    @extend_schema(responses=s.LoyaltyClubResponseSerializer, summary="Show the loyalty club")
    def get(self, request, lc):
        return Response({"loyalty_club": s.club_to_json(request.club)})

    @extend_schema(
        request=s.LoyaltyClubUpdateInputSerializer,
        responses=s.LoyaltyClubResponseSerializer,
        summary="Update the loyalty club (partial)",
    )
    def put(self, request, lc):
        data = parse_body(s.LoyaltyClubUpdateInputSerializer, request.data)
        club = clubs.club_update(club=request.club, **data["loyalty_club"])
        return Response({"loyalty_club": s.club_to_json(club)})


# --- Token admin ----------------------------------------------------------------------------------


def _visible_tokens(caller: ClientToken):
    """Tokens the caller may see: all for an unbound caller, else those bound within its clubs."""
    tokens = list(ClientToken.objects.all())
    if caller.loyalty_club_ids is None:
        return tokens
    own = set(caller.loyalty_club_ids)
    return [t for t in tokens if t.loyalty_club_ids is not None and set(t.loyalty_club_ids) <= own]


def _token_get(caller: ClientToken, token_id: int) -> ClientToken:
    for token in _visible_tokens(caller):
        if token.id == token_id:
            return token
    raise ResourceNotFound("Token", token_id)


def _check_within_caller(caller: ClientToken, attrs: dict, current: ClientToken | None = None) -> None:
    """A token can never grant more than its issuer holds: permits, clubs and product."""
    permits = attrs.get("permits", current.permits if current else [])
    policies = attrs.get("policies", current.policies if current else [])
    if not expand(permits, policies) <= caller.effective_permits:
        raise BusinessRuleError("Token cannot grant permits it does not hold")
    clubs = attrs.get("loyalty_club_ids", current.loyalty_club_ids if current else None)
    if caller.loyalty_club_ids is not None and (clubs is None or not set(clubs) <= set(caller.loyalty_club_ids)):
        raise BusinessRuleError("Token cannot grant loyalty clubs it does not hold")
    product = attrs.get("product", current.product if current else None)
    if caller.product and product != caller.product:
        raise BusinessRuleError("Token cannot grant products it does not hold")


class ClientTokenListView(LoyaltyAPIView):
    club_scoped = False
    permit = {"GET": "Tokens:Api:Tokens:Index", "POST": "Tokens:Api:Tokens:Create"}
    creates = True
    schema_tags = ["Tokens"]

    @extend_schema(
        parameters=[s.ClientTokenListQuerySerializer],
        responses=s.ClientTokenListResponseSerializer,
        summary="List API client tokens",
    )
    def get(self, request):
        q = parse_query(s.ClientTokenListQuerySerializer, request.query_params)
        tokens = _visible_tokens(request.auth)
        if "loyalty_club_id" in q:
            tokens = [t for t in tokens if t.loyalty_club_ids is None or q["loyalty_club_id"] in t.loyalty_club_ids]
        if "product" in q:
            tokens = [t for t in tokens if t.product == q["product"]]
        if "policy" in q:
            tokens = [t for t in tokens if q["policy"] in (t.policies or [])]
        if "permit" in q:
            tokens = [t for t in tokens if q["permit"] in t.effective_permits]
        if "search" in q:
            needle = q["search"].lower()
            tokens = [t for t in tokens if needle in t.name.lower()]
        page, info = paginate_list(tokens, page_no=q["page_no"], per_page=q["per_page"])
        return Response({"tokens": [s.client_token_to_json(t) for t in page], "pagination_info": info})

    @extend_schema(
        request=s.ClientTokenCreateInputSerializer,
        responses={201: s.ClientTokenCreatedResponseSerializer},
        summary="Issue an API client token (the secret is shown once)",
    )
    def post(self, request):
        attrs = parse_body(s.ClientTokenCreateInputSerializer, request.data)["token"]
        _check_within_caller(request.auth, attrs)
        issued = tokens.client_token_issue(**attrs)
        return Response({"token": s.client_token_to_json(issued.token, secret=issued.secret)}, status=201)


class ClientTokenDetailView(LoyaltyAPIView):
    club_scoped = False
    permit = {
        "GET": "Tokens:Api:Tokens:Show",
        "PUT": "Tokens:Api:Tokens:Update",
        "DELETE": "Tokens:Api:Tokens:Destroy",
    }
    schema_tags = ["Tokens"]

    @extend_schema(responses=s.ClientTokenResponseSerializer, summary="Show an API client token")
    def get(self, request, token_id):
        return Response({"token": s.client_token_to_json(_token_get(request.auth, token_id))})

    @extend_schema(
        request=s.ClientTokenUpdateInputSerializer,
        responses=s.ClientTokenResponseSerializer,
        summary="Update an API client token (partial)",
    )
    def put(self, request, token_id):
        token = _token_get(request.auth, token_id)
        attrs = parse_body(s.ClientTokenUpdateInputSerializer, request.data)["token"]
        _check_within_caller(request.auth, attrs, current=token)
        token = tokens.client_token_update(token=token, **attrs)
        return Response({"token": s.client_token_to_json(token)})

    @extend_schema(responses=s.ClientTokenResponseSerializer, summary="Revoke an API client token")
    def delete(self, request, token_id):
        token = tokens.client_token_revoke(token=_token_get(request.auth, token_id))
        return Response({"token": s.client_token_to_json(token)})


class PermitListView(LoyaltyAPIView):
    club_scoped = False
    permit = "Permits:Api:Permits:Index"
    schema_tags = ["Tokens"]

    @extend_schema(responses=s.PermitListResponseSerializer, summary="List the permit catalogue")
    def get(self, request):
        return Response({"permits": [{"name": n, "description": d} for n, d in sorted(PERMITS.items())]})


class PolicyListView(LoyaltyAPIView):
    club_scoped = False
    permit = "Policies:Api:Policies:Index"
    schema_tags = ["Tokens"]

    @extend_schema(responses=s.PolicyListResponseSerializer, summary="List the built-in policies")
    def get(self, request):
        return Response(
            {
                "policies": [
                    {"name": name, "description": desc, "permits": sorted(permits)}
                    for name, (desc, permits) in sorted(POLICIES.items())
                ]
            }
        )
