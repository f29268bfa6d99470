"""Member offer endpoints (SPEC §4.1) in the `me`, `{member_id}` and `guest` contexts."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from kit.api.headers import header
from kit.api.params import parse_body, parse_query, query_to_dict
from kit.api.schema import BannedResponseSerializer
from kit.errors import InvalidParameters
from kit.messages import error_leaf
from loyalty.api.base import LoyaltyAPIView
from loyalty.api.serializers import EmptyResponseSerializer
from loyalty.permits import SCOPE_PERMITS
from offers.api import content, published_params
from offers.api import serializers as s
from offers.exceptions import OfferNotFound
from offers.models import OfferEvent
from offers.selectors import listing, visibility
from offers.services import grants, use
from offers.texts import request_languages

_P = "Offers:Api:MemberOffers:"
SCOPE_PARAMETER = OpenApiParameter(
    "scope",
    str,
    enum=list(SCOPE_PERMITS),
    required=False,
    description="Offer scope (default `standard`); needs the matching `Offers:Api:Scopes:*` permit",
)
LOCALE_PARAMETER = OpenApiParameter(
    "X-Locale",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Preferred language of texts (e.g. `nb`); then the member's language, then the club's default",
)


class MemberOfferAPIView(LoyaltyAPIView):
    """Base of the member offer endpoints: feature `offers` (402) and the scope permit of `?scope=` (403)."""

    feature = "offers"
    schema_tags = ["Offers (member)"]
    extra_permit_note = "Also needs the `Offers:Api:Scopes:*` permit of the requested `scope`."

    def required_permits(self, request) -> list[str]:
        permits = super().required_permits(request)
        scope = query_to_dict(request.query_params).get("scope", "standard")
        if isinstance(scope, str) and scope in SCOPE_PERMITS:
            permits.append(SCOPE_PERMITS[scope])
        return permits

    def parse_scope(self, request) -> str:
        return parse_query(s.OfferScopeQuerySerializer, request.query_params)["scope"]

    def languages(self, request) -> list[str]:
        return request_languages(locale=header(request, "X-Locale"), member=request.member, club=request.club)


class MemberOffersMetaView(MemberOfferAPIView):
    """Distinct tags, stores and collections of the offers this context lists, and the activation time."""

    permit = {"me": f"{_P}GetMeta", "id": f"{_P}GetMetaByMemberId", "guest": f"{_P}GetMetaPreview"}

    @extend_schema(
        parameters=[SCOPE_PARAMETER, LOCALE_PARAMETER],
        responses=s.MemberOffersMetaResponseSerializer,
        summary="Offers meta",
    )
    def get(self, request, lc, ctx, member_id=None):
        scope = self.parse_scope(request)
        meta = listing.offers_meta(club=request.club, member=request.member, scope=scope)
        languages = self.languages(request)
        collections = [s.collection_to_json(c, languages=languages) for c in meta.collections]
        collections.sort(key=lambda c: ((c["title"] or "").lower(), c["id"]))
        return Response(
            {
                "tags": meta.tags,
                "stores": meta.stores,
                "collections": collections,
                "activated_seconds_time": request.club.activated_seconds_time,
            }
        )


class MemberOfferListView(MemberOfferAPIView):
    """Offers visible in this context: filters, `order_by` (SPEC §4.4), optional pagination info."""

    permit = {"me": f"{_P}ListVisible", "id": f"{_P}ListVisibleByMemberId", "guest": f"{_P}ListVisiblePreview"}

    @extend_schema(
        parameters=[
            s.MemberOfferListQuerySerializer,
            LOCALE_PARAMETER,
            published_params.EXTRAS_PARAMETER,
            published_params.STORE_IDS_PARAMETER,
        ],
        responses=s.MemberOfferListResponseSerializer,
        summary="List the offers visible in this context",
    )
    def get(self, request, lc, ctx, member_id=None):
        q = parse_query(
            s.MemberOfferListQuerySerializer, request.query_params, context={"guest": request.member is None}
        )
        published_params.refuse_store_ids(request.query_params)
        languages = self.languages(request)
        filters = listing.OfferListFilters(
            extras=published_params.extras_filters(request.query_params),
            collection_ids=q.get("collection_ids"),
            tags=q.get("tags"),
            stores=q.get("stores"),
            ids=q.get("ids"),
            type=q.get("type"),
            campaign_ids=q.get("campaign_id"),
            search=q.get("search") or None,
            usable=q["usable"],
            liked=q["liked"],
            order_by=q["order_by"],
        )
        page = listing.offers_page(
            club=request.club,
            member=request.member,
            scope=q["scope"],
            filters=filters,
            languages=languages,
            page_no=q["page_no"],
            per_page=q["per_page"],
            with_pagination_info=q["include_pagination_info"],
        )
        activation = request.club.activated_seconds_time
        contents = content.offer_contents(page.rows, languages=languages)
        offers = [
            s.offer_to_json(row, contents[row["id"]], activated_seconds_time=activation)
            for row in page.rows
            if row["id"] in contents  # not deleted since the page was read
        ]
        body = {"offers": offers}
        if page.pagination_info is not None:
            body["pagination_info"] = page.pagination_info
        return Response(body)


class MemberOfferDetailView(MemberOfferAPIView):
    """One live offer of the scope, with the member's usage (unusable when not granted or outside the audience)."""

    permit = {"me": f"{_P}Get", "id": f"{_P}GetByMemberId", "guest": f"{_P}GetPreview"}

    @extend_schema(
        parameters=[SCOPE_PARAMETER, LOCALE_PARAMETER],
        responses=s.MemberOfferResponseSerializer,
        summary="Show an offer",
    )
    def get(self, request, lc, ctx, offer_id, member_id=None):
        scope = self.parse_scope(request)
        row = listing.offer_row_get(club=request.club, member=request.member, scope=scope, offer_id=offer_id)
        found = content.offer_contents([row], languages=self.languages(request))
        if offer_id not in found:  # deleted since its row was read
            raise OfferNotFound(offer_id)
        offer = s.offer_to_json(row, found[offer_id], activated_seconds_time=request.club.activated_seconds_time)
        return Response({"offer": offer})


class MemberOfferUseView(MemberOfferAPIView):
    """Use an offer: checks in the order of SPEC §4.5; answers the usage after the use."""

    permit = {"me": f"{_P}Use", "id": f"{_P}UseByMemberId"}

    @extend_schema(
        parameters=[SCOPE_PARAMETER],
        request=s.MemberOfferUseInputSerializer,
        responses={200: s.MemberOfferUseResponseSerializer, 467: BannedResponseSerializer},
        summary="Use an offer",
    )
    def post(self, request, lc, ctx, offer_id, member_id=None):
        scope = self.parse_scope(request)
        target = use.offer_use_target(club=request.club, scope=scope, offer_id=offer_id, member=request.member)
        body = parse_body(s.MemberOfferUseInputSerializer, request.data if request.data is not None else {})
        token = body.get("authorization_token")
        result = use.offer_use_by_id(target=target, member=request.member, authorization_token=token)
        offer, figures = target.offer, result.figures
        usage = s.usage_to_json(
            usable=figures.usable,
            max_uses=figures.max_uses,
            uses_left=figures.uses_left,
            last_used_at=figures.last_used_at,
            period_uses=figures.period_uses,
            periodic_timespan=offer.periodic_timespan,
            periodic_limit=offer.periodic_limit,
            activated_seconds_time=request.club.activated_seconds_time,
        )
        return Response({"usage": usage})


class MemberOfferLikeView(MemberOfferAPIView):
    """Like an offer (idempotent)."""

    permit = {"me": f"{_P}Like", "id": f"{_P}LikeByMemberId"}
    like = True

    @extend_schema(parameters=[SCOPE_PARAMETER], request=None, responses=EmptyResponseSerializer)
    def put(self, request, lc, ctx, offer_id, member_id=None):
        scope = self.parse_scope(request)
        offer = visibility.offer_get_visible(club=request.club, scope=scope, offer_id=offer_id)
        if self.like:
            use.offer_like(offer=offer, member=request.member)
        else:
            use.offer_unlike(offer=offer, member=request.member)
        return Response({})


class MemberOfferUnlikeView(MemberOfferLikeView):
    """Unlike an offer (idempotent)."""

    like = False


class MemberOfferGrantView(MemberOfferAPIView):
    """Grant an offer to a member (SPEC §4.6); each grant adds `maximum_uses_per_user` uses."""

    permit = {"id": f"{_P}GrantByMemberId"}

    @extend_schema(
        parameters=[SCOPE_PARAMETER],
        request=s.MemberOfferGrantInputSerializer,
        responses={200: EmptyResponseSerializer, 467: BannedResponseSerializer},
        summary="Grant an offer to a member",
    )
    def post(self, request, lc, ctx, offer_id, member_id=None):
        scope = self.parse_scope(request)
        offer = visibility.offer_get_visible(club=request.club, scope=scope, offer_id=offer_id)
        body = parse_body(s.MemberOfferGrantInputSerializer, request.data if request.data is not None else {})
        grants.offer_grant(offer=offer, member=request.member, usable_for_seconds=body.get("usable_for_seconds"))
        return Response({})


class OfferEventsView(MemberOfferAPIView):
    """`offers_clicked` / `offers_seen` (SPEC §4.10), under `members/me/events/…` and `offers/events/…`."""

    bearer = True
    kind = OfferEvent.Kind.CLICKED

    @extend_schema(
        parameters=[SCOPE_PARAMETER], request=s.OfferEventsInputSerializer, responses=EmptyResponseSerializer
    )
    def post(self, request, lc, ctx=None):
        scope = self.parse_scope(request)
        data = parse_body(s.OfferEventsInputSerializer, request.data, context={"tz": request.club.tzinfo})
        events = data["events"]
        wanted = {e["offer_id"] for e in events}
        known = visibility.offer_ids_existing(club=request.club, scope=scope, ids=wanted)
        unknown = {
            str(i): {
                "offer_id": [
                    error_leaf("invalid", request.data["events"][i].get("offer_id"), message="is not a known offer")
                ]
            }
            for i, e in enumerate(events)
            if e["offer_id"] not in known
        }
        if unknown:
            raise InvalidParameters({"events": unknown})
        use.offer_events_record(club=request.club, member=request.member, kind=self.kind, events=events)
        return Response({})


class OffersClickedView(OfferEventsView):
    """Report offers clicked by the signed-in member (≤ 500 events)."""

    permit = "Offers:Api:Events:Clicked"
    kind = OfferEvent.Kind.CLICKED


class OffersSeenView(OfferEventsView):
    """Report offers seen by the signed-in member (≤ 500 events)."""

    permit = "Offers:Api:Events:Seen"
    kind = OfferEvent.Kind.SEEN
