"""Lists of the member offer API (SPEC §4.2-4.4, §4.7): pages of offers and the meta of a context.

`offers_page` and `offer_row_get` return plain rows of the member's figures and the revision of each offer's
content; the API renders the content once per revision (offers/api/content.py, which reads it with
`offers.selectors.content`) and turns both into JSON without serializers on this hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Exists, F, OrderBy, OuterRef, Q, QuerySet
from django.utils import timezone

from kit.pagination import pagination_info
from kit.prepared import PreparedLookup
from loyalty.models import LoyaltyClub, Member
from offers import sql
from offers.exceptions import OfferNotFound
from offers.extras_filter import extras_q
from offers.models import Collection, CollectionOffer, Offer, OfferFile, OfferStore, OfferTag
from offers.selectors.usage import offers_annotate_usage, usage_rows
from offers.selectors.visibility import offers_visible
from offers.sql import FILE_FIELDS
from offers.texts import AllTexts, languages_signature, name_order_key

ORDER_ALWAYS = ("name", "usable_since", "usable_until", "created_at")
ORDER_MEMBER = ("usable", "uses_left", "liked")


def order_attributes(*, guest: bool, single_collection: bool) -> list[str]:
    allowed = list(ORDER_ALWAYS)
    if not guest:
        allowed += ORDER_MEMBER
    if single_collection:
        allowed.append("collection_position")
    return allowed


def _order_expression(attribute: str, *, languages: list[str], collection_id: int | None):
    if attribute == "name_key":  # the column of `name_keyed`
        return F("name_key")
    if attribute == "name":
        return name_order_key(languages)
    if attribute in ("usable_since", "usable_until", "created_at"):
        return F(attribute)
    if attribute == "collection_position":
        return sql.collection_position(collection_id)
    return F({"usable": "u_usable", "uses_left": "u_uses_left", "liked": "u_liked"}[attribute])


@dataclass
class OfferListFilters:
    collection_ids: list[int] | None = None
    tags: list[str] | None = None
    stores: list[str] | None = None
    ids: list[int] | None = None
    type: str | None = None
    campaign_ids: list[int] | None = None
    search: str | None = None
    usable: bool = False
    liked: bool = False
    extras: dict[str, list[str]] | None = None  # offers.extras_filter
    order_by: list[tuple[str, bool]] = field(default_factory=lambda: [("name", False)])  # (attribute, descending)


def _apply_filters(qs: QuerySet[Offer], f: OfferListFilters) -> QuerySet[Offer]:
    if f.collection_ids:
        qs = qs.filter(Exists(CollectionOffer.objects.filter(offer=OuterRef("pk"), collection_id__in=f.collection_ids)))
    if f.tags:
        qs = qs.filter(Exists(OfferTag.objects.filter(offer=OuterRef("pk"), value__in=f.tags)))
    if f.stores:
        qs = qs.filter(Exists(OfferStore.objects.filter(offer=OuterRef("pk"), value__in=f.stores)))
    if f.ids:
        qs = qs.filter(pk__in=f.ids)
    if f.type:
        qs = qs.filter(type=f.type)
    if f.campaign_ids:
        qs = qs.filter(campaign_id__in=f.campaign_ids)
    if f.search:
        qs = qs.alias(s_name=AllTexts("name"), s_description=AllTexts("description")).filter(
            Q(s_name__icontains=f.search)
            | Q(s_description__icontains=f.search)
            | Exists(OfferTag.objects.filter(offer=OuterRef("pk"), value__icontains=f.search))
            | Exists(OfferStore.objects.filter(offer=OuterRef("pk"), value__icontains=f.search))
        )
    if f.extras:
        qs = qs.filter(extras_q(f.extras))
    if f.usable:
        qs = qs.filter(u_usable=True)
    if f.liked:
        qs = qs.filter(u_liked=True)
    return qs


@dataclass
class OfferPage:
    rows: list[dict[str, Any]]
    pagination_info: dict[str, Any] | None


def offers_page(
    *,
    club: LoyaltyClub,
    member: Member | None,
    scope: str,
    filters: OfferListFilters,
    languages: list[str],
    page_no: int = 1,
    per_page: int = 100,
    with_pagination_info: bool = False,
    now: datetime | None = None,
) -> OfferPage:
    """One page of the offers this context lists, as the rows of `offer_rows` (the member's figures and each
    offer's content revision; offers/api/content.py adds the content).

    Two steps keep the work proportional to the page, not the catalogue: the ids of the page (a narrow sort;
    usage annotations only when a filter or the order needs them), then the usage-annotated rows of just
    those ids. Queries: a COUNT (only with pagination info), the ids, the rows."""
    now = now or timezone.now()
    offset = (page_no - 1) * per_page
    if not with_pagination_info and _unfiltered(filters):
        values = dict(club_id=club.pk, member_id=member.pk if member else None, scope=scope, now=now)
        parts = _page_ids_lookup(guest=member is None, order_by=filters.order_by, languages=languages)
        if len(parts) == 1:
            page_ids = [row[0] for row in parts[0].rows(**values, limit=per_page, offset=offset)]
        else:
            page_ids = sql.ids_of_merged_pages(
                [part.statement(**values, limit=offset + per_page, offset=0) for part in parts],
                descending=filters.order_by[0][1],
                limit=per_page,
                offset=offset,
            )
        return OfferPage(rows=offer_rows(club=club, member=member, ids=page_ids, now=now), pagination_info=None)
    qs = offers_visible(club=club, member=member, scope=scope, now=now)
    if filters.usable or filters.liked or any(attr in ORDER_MEMBER for attr, _ in filters.order_by):
        qs = offers_annotate_usage(qs, club=club, member=member, now=now)
    qs = _apply_filters(qs, filters)
    collection_id = filters.collection_ids[0] if filters.collection_ids and len(filters.collection_ids) == 1 else None
    qs = qs.order_by(*_page_order(filters.order_by, languages=languages, collection_id=collection_id))
    info = None
    if with_pagination_info:
        total = qs.count()
        info = pagination_info(total_count=total, page_no=page_no, per_page=per_page)
        if info["is_out_of_range"] or total == 0:
            return OfferPage(rows=[], pagination_info=info)
    if len(filters.order_by) == 1 and filters.order_by[0][0] == "name":  # the two parts of `name_keyed`
        descending = filters.order_by[0][1]
        ordering = _page_order([("name_key", descending)], languages=[], collection_id=None)
        parts = [
            part(qs).order_by(*ordering)[: offset + per_page].query.sql_with_params()
            for part in name_keyed(languages=languages)
        ]
        page_ids = sql.ids_of_merged_pages(parts, descending=descending, limit=per_page, offset=offset)
    else:
        page_ids = list(qs.values_list("id", flat=True)[offset : offset + per_page])
    return OfferPage(rows=offer_rows(club=club, member=member, ids=page_ids, now=now), pagination_info=info)


def _page_order(order_by: list[tuple[str, bool]], *, languages: list[str], collection_id: int | None) -> list:
    ordering = []
    for attribute, descending in order_by:
        expression = _order_expression(attribute, languages=languages, collection_id=collection_id)
        ordering.append(
            OrderBy(expression, descending=True, nulls_first=True)
            if descending
            else OrderBy(expression, nulls_last=True)
        )
    return [*ordering, "id"]


def _unfiltered(filters: OfferListFilters) -> bool:
    """The list as apps ask for it most: no filter, ordered by offer attributes only."""
    return (
        not (filters.collection_ids or filters.tags or filters.stores or filters.ids or filters.type)
        and not (filters.campaign_ids or filters.search or filters.usable or filters.liked or filters.extras)
        and all(
            attribute in ("name", "usable_since", "usable_until", "created_at") for attribute, _ in filters.order_by
        )
    )


# The page-ids query of an unfiltered list, compiled once per (guest, order, languages): see kit.prepared.
# Bounded, since the languages come from the request; past the bound a lookup is built for the request alone.
_page_ids_lookups: dict[tuple, list[PreparedLookup]] = {}


def _page_ids_lookup(*, guest: bool, order_by: list[tuple[str, bool]], languages: list[str]) -> list[PreparedLookup]:
    """The page-ids queries of an unfiltered list: one, or for the order by name alone the two parts of
    `name_keyed` (each ordered and limited like the page, merged by `sql.ids_of_merged_pages`)."""
    key = (guest, tuple(order_by), tuple(languages))
    lookups = _page_ids_lookups.get(key)
    if lookups is None:

        def visible(p) -> QuerySet[Offer]:
            member = None if guest else Member(pk=p.member_id)
            return offers_visible(club=LoyaltyClub(pk=p.club_id), member=member, scope=p.scope, now=p.now)

        if len(order_by) == 1 and order_by[0][0] == "name":
            ordering = _page_order([("name_key", order_by[0][1])], languages=[], collection_id=None)
            lookups = [
                PreparedLookup(lambda p, part=part: part(visible(p)).order_by(*ordering), paged=True)
                for part in name_keyed(languages=languages)
            ]
        else:
            ordering = _page_order(order_by, languages=languages, collection_id=None)
            lookups = [PreparedLookup(lambda p: visible(p).order_by(*ordering).values_list("id"), paged=True)]
        if len(_page_ids_lookups) < 256:
            _page_ids_lookups[key] = lookups
    return lookups


def name_keyed(*, languages: list[str]) -> tuple:
    """Two functions of an offer queryset, whose results together are its rows as `(id, name_key)`,
    `name_key` being `name_order_key(languages)`: the offers whose stored key `Offer.name_sort` was
    computed for these languages, read from it, and the others (stored key of other languages, or none),
    computed. Ordered by `name_key`, the first walks an index (`offer_name_sort*`) and stops after the page,
    whatever the size of the catalogue; the second holds no offer when the request's languages are the
    club's default language and the catalog service wrote every offer, every offer otherwise (sorted on the
    computed key, as before the stored key existed)."""
    signature = languages_signature(languages)
    other = (
        Q(name_sort_language__isnull=True) | Q(name_sort_language__lt=signature) | Q(name_sort_language__gt=signature)
    )

    def stored(qs: QuerySet[Offer]) -> QuerySet:
        return qs.filter(name_sort_language=signature).annotate(name_key=F("name_sort")).values_list("id", "name_key")

    def computed(qs: QuerySet[Offer]) -> QuerySet:
        return qs.filter(other).annotate(name_key=name_order_key(languages)).values_list("id", "name_key")

    return stored, computed


def offer_rows(*, club: LoyaltyClub, member: Member | None, ids: list[int], now: datetime) -> list[dict[str, Any]]:
    """The usage-annotated rows of these offers (`OFFER_ROW_FIELDS`: the member's figures and the revision of
    the offer's content), in the order of `ids`. Visibility is the caller's business (the ids come from a
    visibility-filtered query); the content is `offers.selectors.content`'s."""
    if not ids:
        return []
    found = usage_rows("ids", club=club, member=member, now=now, ids=list(ids))
    by_id = {row["id"]: row for row in found}
    return [by_id[pk] for pk in ids if pk in by_id]


def offer_row_get(
    *,
    club: LoyaltyClub,
    member: Member | None,
    scope: str,
    offer_id: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One offer as a row (GET by id rules: live and in scope; audience and grants only affect usage)."""
    now = now or timezone.now()
    rows = []
    if 0 < offer_id < 2**63:
        rows = usage_rows("live", club=club, member=member, now=now, scope=scope, offer_id=offer_id)
    if not rows:
        raise OfferNotFound(offer_id)
    return rows[0]


# --- Meta -----------------------------------------------------------------------------------------


@dataclass
class OffersMeta:
    tags: list[str]
    stores: list[str]
    collections: list[dict[str, Any]]


def offers_meta(*, club: LoyaltyClub, member: Member | None, scope: str, now: datetime | None = None) -> OffersMeta:
    """Distinct tags, stores and collections of the offers this context lists (SPEC §4.7). Four queries."""
    now = now or timezone.now()

    def visible_with_pk(pk) -> QuerySet[Offer]:
        return offers_visible(club=club, member=member, scope=scope, now=now).filter(pk=pk)

    tags = sql.values_of_offers(OfferTag, club_id=club.pk, offers_with_pk=visible_with_pk)
    stores = sql.values_of_offers(OfferStore, club_id=club.pk, offers_with_pk=visible_with_pk)
    # Per collection of the club, the first of its offers that is visible (an index probe each).
    in_collection = CollectionOffer.objects.filter(collection_id=OuterRef("pk")).filter(
        Exists(visible_with_pk(OuterRef("offer_id")))
    )
    collections = list(
        Collection.objects.filter(Exists(in_collection), club=club).values(
            "id", "title", "description", "short_description", "offers_order"
        )
    )
    by_id = {c["id"]: {**c, "files": []} for c in collections}
    if by_id:
        for file in OfferFile.objects.filter(collection_id__in=list(by_id)).values(*FILE_FIELDS, "collection_id"):
            by_id[file.pop("collection_id")]["files"].append(file)
    return OffersMeta(tags=tags, stores=stores, collections=list(by_id.values()))
