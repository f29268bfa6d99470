"""Reads of offers management (SPEC §5): offers in any status, collections, audiences. Club-scoped; each
lookup raises its own not-found."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from django.db.models import Exists, F, OrderBy, OuterRef, Prefetch, Q, QuerySet

from kit.errors import ResourceNotFound
from kit.pagination import pagination_info
from loyalty.models import LoyaltyClub, MemberGroup
from offers import sql
from offers.exceptions import OfferNotFound
from offers.extras_filter import extras_q
from offers.models import Collection, CollectionOffer, Offer, OfferFile, OfferStore, OfferTag
from offers.selectors.listing import name_keyed
from offers.texts import AllTexts, name_order_key

MAX_ID = 2**63
logger = logging.getLogger("offers.catalog")


def _pk(value: Any) -> int | None:
    try:
        pk = int(value)
    except (TypeError, ValueError):
        return None
    return pk if 0 < pk < MAX_ID else None


def offers_with_relations(qs: QuerySet[Offer]) -> QuerySet[Offer]:
    """What the admin offer JSON needs, in four extra queries for any number of offers."""
    return qs.prefetch_related(
        Prefetch("tag_rows", queryset=OfferTag.objects.order_by("id")),
        Prefetch("store_rows", queryset=OfferStore.objects.order_by("id")),
        Prefetch("collection_memberships", queryset=CollectionOffer.objects.order_by("collection_id")),
        Prefetch("files", queryset=OfferFile.objects.order_by("position", "id")),
    )


def offer_get(*, club: LoyaltyClub, offer_id: int | str, with_relations: bool = False) -> Offer:
    """The club's offer with this id, in any status, archived or not; else 404 `Offer#<id> not found`."""
    pk = _pk(offer_id)
    qs = Offer.objects.filter(club=club, pk=pk)
    offer = (offers_with_relations(qs) if with_relations else qs).first() if pk is not None else None
    if offer is None:
        raise OfferNotFound(offer_id)
    offer.club = club
    return offer


def offers_get_many(*, club: LoyaltyClub, offer_ids: list[int]) -> list[Offer]:
    """The club's offers with these ids, in the order given (repeats included); 404 naming the first id
    that is not an offer of the club."""
    by_id = {offer.pk: offer for offer in Offer.objects.filter(club=club, pk__in=set(offer_ids))}
    for pk in offer_ids:
        if pk not in by_id:
            raise OfferNotFound(pk)
    for offer in by_id.values():
        offer.club = club
    return [by_id[pk] for pk in offer_ids]


def member_groups_get_many(*, club: LoyaltyClub, group_ids: list[int]) -> dict[int, MemberGroup]:
    """The club's member groups with these ids; 404 `MembersGroup#<id> not found` for the first unknown."""
    by_id = {group.pk: group for group in MemberGroup.objects.filter(club=club, pk__in=set(group_ids))}
    for pk in group_ids:
        if pk not in by_id:
            raise ResourceNotFound("MembersGroup", pk)
    return by_id


# --- The management list (SPEC §5.4) --------------------------------------------------------------

SORT_ATTRIBUTES = (
    "name",
    "usable_since",
    "usable_until",
    "visible_since",
    "visible_until",
    "created_at",
    "updated_at",
    "archived_at",
)


@dataclass
class OfferAdminFilters:
    scopes: list[str] | None = None
    types: list[str] | None = None
    statuses: list[str] | None = None
    collection_ids: list[int] | None = None
    tags: list[str] | None = None
    stores: list[str] | None = None
    campaign_ids: list[int] | None = None
    audience_ids: list[int] | None = None
    search: str | None = None
    ids: list[int] | None = None
    without_collection: bool = False
    without_tag: bool = False
    without_audience_id: bool = False
    without_campaign_id: bool = False
    without_store: bool = False
    with_archived: bool = False
    only_archived: bool = False
    extras: dict[str, list[str]] | None = None  # offers.extras_filter


def offers_admin_list(
    *,
    club: LoyaltyClub,
    filters: OfferAdminFilters,
    sort_by: str = "name",
    descending: bool = False,
    languages: list[str] | None = None,
) -> QuerySet[Offer]:
    """The club's offers matching every given filter (lists match any of their values), sorted by one
    attribute (nulls last ascending, first descending; `name` case-insensitively in the request's language),
    then by id. Archived offers only with `with_archived` / `only_archived`."""
    expression = name_order_key(languages or []) if sort_by == "name" else F(sort_by)
    return _admin_filtered(club=club, filters=filters).order_by(_admin_order(expression, descending), "id")


def offers_admin_page(
    *,
    club: LoyaltyClub,
    filters: OfferAdminFilters,
    page_no: int,
    per_page: int,
    sort_by: str = "name",
    descending: bool = False,
    languages: list[str] | None = None,
) -> tuple[list[Offer], dict[str, Any]]:
    """One page of `offers_admin_list`, its offers with their relations, and its pagination info: the total
    (`offers_admin_total`), then the page. By name, the page's ids come from the two parts of
    `listing.name_keyed` (the stored key walked by an index, the computed key of the offers without it),
    each limited to the page.

    A total from the kept counts is checked against the page it paginates (`_kept_total_agrees`): a count
    gone stale (offers written with the triggers off) then costs a COUNT and a warning, never a wrong page."""
    offset = (page_no - 1) * per_page
    if sort_by == "name":
        qs = _admin_filtered(club=club, filters=filters)
    else:
        qs = offers_admin_list(club=club, filters=filters, sort_by=sort_by, descending=descending)

    def page(total: int) -> list:
        if offset >= total:
            return []
        if sort_by != "name":
            return list(offers_with_relations(qs)[offset : offset + per_page])
        order = _admin_order(F("name_key"), descending)
        parts = [
            part(qs).order_by(order, "id")[: offset + per_page].query.sql_with_params()
            for part in name_keyed(languages=languages or [])
        ]
        ids = sql.ids_of_merged_pages(parts, descending=descending, limit=per_page, offset=offset)
        by_id = {offer.pk: offer for offer in offers_with_relations(Offer.objects.filter(pk__in=ids))}
        return [by_id[pk] for pk in ids if pk in by_id]

    kept = _kept_counts_answer(filters)
    total = offers_admin_total(club=club, filters=filters, filtered=qs)
    offers = page(total)
    if kept and not _kept_total_agrees(total, offset=offset, per_page=per_page, found=len(offers)):
        counted = qs.count()
        if counted != offers_admin_total(club=club, filters=filters):  # not a write between the two reads
            logger.warning(
                "club %s: the kept offer count is stale (kept %s, counted %s); run manage.py offers_counts_refresh",
                club.pk,
                total,
                counted,
            )
        if offset >= total:
            offers = page(counted)
        total = counted
    return offers, pagination_info(total_count=total, page_no=page_no, per_page=per_page)


def _kept_total_agrees(total: int, *, offset: int, per_page: int, found: int) -> bool:
    """Whether a page of `found` offers at `offset` fits a list of `total`. A page past the end was not read,
    so nothing vouches for its total: it is counted."""
    if offset >= total:
        return False
    return found == min(per_page, total - offset)


def _kept_counts_answer(filters: OfferAdminFilters) -> bool:
    """Whether `offers_admin_total` reads the kept counts for these filters: filtered on nothing but the
    archived state, on PostgreSQL."""
    return sql.club_offer_counts_kept() and replace(filters, with_archived=False, only_archived=False) == _NO_FILTER


def offers_admin_total(
    *, club: LoyaltyClub, filters: OfferAdminFilters, filtered: QuerySet[Offer] | None = None
) -> int:
    """How many offers `offers_admin_list` holds. Filtered on nothing but the archived state, the club's kept
    counts answer (`ClubOfferCount`, on PostgreSQL: one index lookup, whatever the catalogue's size);
    otherwise a COUNT of the filtered offers (`filtered`, when the caller has built them already)."""
    if _kept_counts_answer(filters):
        if filters.only_archived:
            archived: tuple[bool, ...] = (True,)
        else:
            archived = (False, True) if filters.with_archived else (False,)
        return sql.club_offer_count(club_id=club.pk, archived=archived)
    return (filtered if filtered is not None else _admin_filtered(club=club, filters=filters)).count()


_NO_FILTER = OfferAdminFilters()


def _admin_order(expression, descending: bool) -> OrderBy:
    return (
        OrderBy(expression, descending=True, nulls_first=True) if descending else OrderBy(expression, nulls_last=True)
    )


def _admin_filtered(*, club: LoyaltyClub, filters: OfferAdminFilters) -> QuerySet[Offer]:
    f = filters
    qs = Offer.objects.filter(club=club)
    if f.only_archived:
        qs = qs.filter(archived_at__isnull=False)
    elif not f.with_archived:
        qs = qs.filter(archived_at__isnull=True)
    for values, lookup in (
        (f.scopes, "scope__in"),
        (f.types, "type__in"),
        (f.statuses, "status__in"),
        (f.campaign_ids, "campaign_id__in"),
        (f.audience_ids, "audience_id__in"),
        (f.ids, "pk__in"),
    ):
        if values:
            qs = qs.filter(**{lookup: values})
    in_collection = CollectionOffer.objects.filter(offer=OuterRef("pk"))
    tagged = OfferTag.objects.filter(offer=OuterRef("pk"))
    stored = OfferStore.objects.filter(offer=OuterRef("pk"))
    if f.collection_ids:
        qs = qs.filter(Exists(in_collection.filter(collection_id__in=f.collection_ids)))
    if f.tags:
        qs = qs.filter(Exists(tagged.filter(value__in=f.tags)))
    if f.stores:
        qs = qs.filter(Exists(stored.filter(value__in=f.stores)))
    if f.without_collection:
        qs = qs.filter(~Exists(in_collection))
    if f.without_tag:
        qs = qs.filter(~Exists(tagged))
    if f.without_store:
        qs = qs.filter(~Exists(stored))
    if f.extras:
        qs = qs.filter(extras_q(f.extras))
    if f.without_audience_id:
        qs = qs.filter(audience__isnull=True)
    if f.without_campaign_id:
        qs = qs.filter(campaign_id__isnull=True)
    if f.search:
        qs = qs.alias(s_name=AllTexts("name"), s_description=AllTexts("description")).filter(
            Q(s_name__icontains=f.search)
            | Q(s_description__icontains=f.search)
            | Q(internal_name__icontains=f.search)
            | Exists(tagged.filter(value__icontains=f.search))
            | Exists(stored.filter(value__icontains=f.search))
        )
    return qs


# --- Collections ----------------------------------------------------------------------------------


def collection_get(*, club: LoyaltyClub, collection_id: int | str) -> Collection:
    """The club's collection with this id (with its files), else 404 `Collection#<id> not found`."""
    pk = _pk(collection_id)
    collection = (
        Collection.objects.filter(club=club, pk=pk).prefetch_related("files").first() if pk is not None else None
    )
    if collection is None:
        raise ResourceNotFound("Collection", collection_id)
    collection.club = club
    return collection


def collections_list(*, club: LoyaltyClub) -> QuerySet[Collection]:
    """The club's collections by id, files prefetched."""
    return (
        Collection.objects.filter(club=club)
        .order_by("id")
        .prefetch_related(Prefetch("files", queryset=OfferFile.objects.order_by("position", "id")))
    )
