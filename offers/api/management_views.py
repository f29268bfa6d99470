"""Offers management endpoints (SPEC §5.2): offers in batches, clone, archive, delete, grants to an audience,
and collections. Each view parses, fetches through club-scoped selectors, calls services and renders."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from kit.api.headers import header
from kit.api.params import parse_body, parse_query
from kit.errors import InvalidParameters, NotFound
from kit.pagination import paginate
from loyalty.api.base import LoyaltyAPIView
from loyalty.api.serializers import EmptyResponseSerializer
from offers.api import management_serializers as s
from offers.api import published_params
from offers.selectors import catalog as selectors
from offers.services import catalog, collections, grants
from offers.services.catalog import OfferAttributesInvalid
from offers.texts import request_languages

_O = "Offers:Api:Offers:"
_C = "Offers:Api:Collections:"
LOCALE_PARAMETER = OpenApiParameter(
    "X-Locale",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Language whose text sorts by `name` (then the club's default language)",
)


class OffersManagementAPIView(LoyaltyAPIView):
    feature = "offers"
    schema_tags = ["Offers (management)"]


def _offer_json(club, offer_id: int) -> dict:
    return s.offer_admin_to_json(selectors.offer_get(club=club, offer_id=offer_id, with_relations=True))


class OffersAdminView(OffersManagementAPIView):
    permit = {"GET": f"{_O}List", "POST": f"{_O}Create", "PUT": f"{_O}Update", "DELETE": f"{_O}Destroy"}

    @extend_schema(
        parameters=[s.OffersAdminListQuerySerializer, LOCALE_PARAMETER, published_params.EXTRAS_PARAMETER],
        responses=s.OffersAdminOfferListResponseSerializer,
        summary="List offers (management)",
    )
    def get(self, request, lc):
        q = parse_query(s.OffersAdminListQuerySerializer, request.query_params)
        q["without_store"] = q["without_store"] or q["without_shop"]
        filters = selectors.OfferAdminFilters(
            extras=published_params.extras_filters(request.query_params),
            scopes=q.get("scope"),
            types=q.get("types"),
            statuses=q.get("status"),
            collection_ids=q.get("collection_ids"),
            tags=q.get("tags"),
            stores=q.get("stores"),
            campaign_ids=q.get("campaign_id"),
            audience_ids=q.get("audience_id"),
            search=q.get("search") or None,
            ids=q.get("ids"),
            **{key: q[key] for key in _BOOLEAN_FILTERS},
        )
        languages = request_languages(locale=header(request, "X-Locale"), club=request.club)
        offers, info = selectors.offers_admin_page(
            club=request.club,
            filters=filters,
            page_no=q["page_no"],
            per_page=q["per_page"],
            sort_by=q["sort_by"],
            descending=q["sort_direction"] == "desc",
            languages=languages,
        )
        return Response({"offers": [s.offer_admin_to_json(o) for o in offers], "pagination_info": info})

    @extend_schema(
        request=s.OffersAdminCreateInputSerializer,
        responses=s.OffersAdminCreateResponseSerializer,
        summary="Create offers (batch; per-item errors)",
    )
    def post(self, request, lc):
        items = parse_body(s.OffersAdminBatchInputSerializer, request.data)["offers"]
        ids, errors = [], {}
        for index, item in enumerate(items):
            attrs, item_errors = s.offer_payload_parse(item, tz=request.club.tzinfo)
            if attrs is not None:
                try:
                    ids.append(catalog.offer_create(club=request.club, attrs=attrs).pk)
                except OfferAttributesInvalid as exc:
                    item_errors = exc.errors
            if item_errors:
                errors[str(index)] = item_errors
        return Response({"success": bool(ids), "ids": ids, "errors": errors})

    @extend_schema(
        request=s.OffersAdminUpdateInputSerializer,
        responses=s.OffersAdminUpdateResponseSerializer,
        summary="Replace offers (batch; attributes left out are reset to their defaults)",
    )
    def put(self, request, lc):
        items = parse_body(s.OffersAdminBatchInputSerializer, request.data)["offers"]
        updated, errors = 0, {}
        for index, item in enumerate(items):
            attrs, item_errors = s.offer_payload_parse(item, tz=request.club.tzinfo, update=True)
            if attrs is not None:
                try:
                    offer = selectors.offer_get(club=request.club, offer_id=attrs.pop("id"))
                    catalog.offer_update(offer=offer, attrs=attrs)
                    updated += 1
                except NotFound as exc:
                    item_errors = {"id": [exc.message]}
                except OfferAttributesInvalid as exc:
                    item_errors = exc.errors
            if item_errors:
                errors[str(index)] = item_errors
        return Response({"success": updated > 0, "errors": errors})

    @extend_schema(
        request=s.OffersAdminIdsInputSerializer,
        responses=EmptyResponseSerializer,
        summary="Delete offers (those already used are archived instead)",
    )
    def delete(self, request, lc):
        ids = parse_body(s.OffersAdminIdsInputSerializer, request.data)["ids"]
        catalog.offers_delete(offers=selectors.offers_get_many(club=request.club, offer_ids=ids))
        return Response({})


_BOOLEAN_FILTERS = (
    "without_collection",
    "without_tag",
    "without_audience_id",
    "without_campaign_id",
    "without_store",
    "with_archived",
    "only_archived",
)


class OfferAdminView(OffersManagementAPIView):
    permit = f"{_O}Get"

    @extend_schema(responses=s.OffersAdminOfferResponseSerializer, summary="Show an offer (management)")
    def get(self, request, lc, offer_id):
        return Response({"offer": _offer_json(request.club, offer_id)})


class OffersCloneView(OffersManagementAPIView):
    permit = f"{_O}Clone"

    @extend_schema(
        request=s.OffersAdminIdsInputSerializer,
        responses=s.OffersAdminIdsResponseSerializer,
        summary="Clone offers (drafts with zero counters; new ids in request order)",
    )
    def post(self, request, lc):
        ids = parse_body(s.OffersAdminIdsInputSerializer, request.data)["ids"]
        clones = catalog.offers_clone(offers=selectors.offers_get_many(club=request.club, offer_ids=ids))
        return Response({"ids": [clone.pk for clone in clones]})


class OffersArchiveView(OffersManagementAPIView):
    permit = f"{_O}Archive"
    archive = True

    @extend_schema(request=s.OffersAdminIdsInputSerializer, responses=EmptyResponseSerializer, summary="Archive offers")
    def post(self, request, lc):
        ids = parse_body(s.OffersAdminIdsInputSerializer, request.data)["ids"]
        offers = selectors.offers_get_many(club=request.club, offer_ids=ids)
        if self.archive:
            catalog.offers_archive(offers=offers)
        else:
            catalog.offers_unarchive(offers=offers)
        return Response({})


class OffersUnarchiveView(OffersArchiveView):
    archive = False

    @extend_schema(
        request=s.OffersAdminIdsInputSerializer, responses=EmptyResponseSerializer, summary="Unarchive offers"
    )
    def post(self, request, lc):
        return super().post(request, lc)


class OffersGrantView(OffersManagementAPIView):
    permit = f"{_O}Grant"

    @extend_schema(
        request=s.OffersAdminGrantInputSerializer,
        responses=s.OffersAdminGrantResponseSerializer,
        summary="Grant offers to every member of a group (large groups in the background)",
    )
    def post(self, request, lc):
        items = parse_body(s.OffersAdminGrantInputSerializer, request.data)["offers"]
        offers = selectors.offers_get_many(club=request.club, offer_ids=[item["id"] for item in items])
        groups = selectors.member_groups_get_many(club=request.club, group_ids=[i["audience_id"] for i in items])
        work = [
            (offer, groups[item["audience_id"]], item["usable_for_seconds"])
            for offer, item in zip(offers, items, strict=True)
        ]
        return Response({"granted": grants.audience_grants_start(club=request.club, items=work)})


# --- Collections ----------------------------------------------------------------------------------


def _collection_input(request, *, partial: bool) -> dict:
    """Collection attributes sent bare (as SPEC §5.2 lists them) or wrapped in `{"collection": {...}}`
    (the response's shape); errors follow the shape sent."""
    if _wrapped(request):
        data = parse_body(s.OffersAdminCollectionWrappedInputSerializer, request.data, partial=partial, context={})[
            "collection"
        ]
    else:
        data = parse_body(s.OffersAdminCollectionInputSerializer, request.data, partial=partial)
    return s.collection_attrs(data, partial=partial)


def _wrapped(request) -> bool:
    return isinstance(request.data, dict) and "collection" in request.data


def _nest_collection_errors(request, exc: InvalidParameters) -> InvalidParameters:
    if _wrapped(request):
        return InvalidParameters({"collection": exc.details})
    return exc


class CollectionsAdminView(OffersManagementAPIView):
    permit = {"GET": f"{_C}List", "POST": f"{_C}Create"}

    @extend_schema(
        parameters=[s.OffersAdminCollectionListQuerySerializer],
        responses=s.OffersAdminCollectionListResponseSerializer,
        summary="List collections",
    )
    def get(self, request, lc):
        q = parse_query(s.OffersAdminCollectionListQuerySerializer, request.query_params)
        page, info = paginate(
            selectors.collections_list(club=request.club), page_no=q["page_no"], per_page=q["per_page"]
        )
        return Response({"collections": [s.collection_admin_to_json(c) for c in page], "pagination_info": info})

    @extend_schema(
        request=s.OffersAdminCollectionInputSerializer,
        responses={201: s.OffersAdminCollectionResponseSerializer},
        summary="Create a collection",
    )
    def post(self, request, lc):
        attrs = _collection_input(request, partial=False)
        try:
            collection = collections.collection_create(club=request.club, attrs=attrs)
        except InvalidParameters as exc:
            raise _nest_collection_errors(request, exc) from None
        collection = selectors.collection_get(club=request.club, collection_id=collection.pk)
        return Response({"collection": s.collection_admin_to_json(collection)}, status=201)


class CollectionAdminView(OffersManagementAPIView):
    permit = {"GET": f"{_C}Get", "PUT": f"{_C}Update", "DELETE": f"{_C}Destroy"}

    @extend_schema(responses=s.OffersAdminCollectionResponseSerializer, summary="Show a collection")
    def get(self, request, lc, collection_id):
        collection = selectors.collection_get(club=request.club, collection_id=collection_id)
        return Response({"collection": s.collection_admin_to_json(collection)})

    @extend_schema(
        request=s.OffersAdminCollectionInputSerializer,
        responses=s.OffersAdminCollectionResponseSerializer,
        summary="Update a collection (partial)",
    )
    def put(self, request, lc, collection_id):
        collection = selectors.collection_get(club=request.club, collection_id=collection_id)
        attrs = _collection_input(request, partial=True)
        try:
            collections.collection_update(collection=collection, attrs=attrs)
        except InvalidParameters as exc:
            raise _nest_collection_errors(request, exc) from None
        collection = selectors.collection_get(club=request.club, collection_id=collection_id)
        return Response({"collection": s.collection_admin_to_json(collection)})

    @extend_schema(responses=EmptyResponseSerializer, summary="Delete a collection (its offers stay)")
    def delete(self, request, lc, collection_id):
        collections.collection_delete(
            collection=selectors.collection_get(club=request.club, collection_id=collection_id)
        )
        return Response({})
