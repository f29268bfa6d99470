"""Writes of the offer catalogue (SPEC §5.1): create, update, publish, clone, archive, delete.

The management API and the Django admin both call these (collections: `offers.services.collections`, files:
`offers.services.files`, grants to an audience: `offers.services.grants`). Attribute rules of SPEC §5.1 live in
`offer_attributes_errors` (the API reports them per batch item, the admin per form field); shapes and types
are the input serializers' business. `offer_create` / `offer_update` set exactly the attributes they are
given — the API's full-replace PUT sends every attribute, defaults included (`OFFER_DEFAULTS`), the admin
sends what its form edits. Tags, stores, collection memberships and URL files live in their own tables
(the member API filters on them) and are rewritten in the same transaction as the offer row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from kit.errors import InvalidParameters
from kit.messages import error_leaf, message_for
from loyalty.models import LoyaltyClub, MemberGroup
from offers.display import display_schemas_clean
from offers.models import (
    Collection,
    CollectionOffer,
    Offer,
    OfferStatus,
    OfferStore,
    OfferTag,
    OfferType,
    Scope,
)
from offers.services.files import files_copy, files_sync
from offers.texts import languages_signature, name_order_key

UNIQUE_VALUES = "list must contain unique values"

# What an attribute is when a full-replace PUT leaves it out (SPEC §5.1 "Defaults on create").
OFFER_DEFAULTS: dict[str, Any] = {
    "scope": Scope.STANDARD,
    "type": OfferType.REGULAR,
    "status": OfferStatus.DRAFT,
    "name": None,
    "description": None,
    "internal_name": None,
    "internal_description": None,
    "external_url": None,
    "read_more": None,
    "activation_texts": None,
    "usable_since": None,
    "usable_until": None,
    "visible_since": None,
    "visible_until": None,
    "collection_ids": [],
    "tags": [],
    "stores": [],
    "audience_id": None,
    "campaign_id": None,
    "files": [],
    "extras": {},
    "display_schemas": None,
    "maximum_uses_per_user": None,
    "maximum_grants_per_user": None,
    "periodic_usage": None,
    "stock": None,
    "usage_authorization_token": None,
    "usage_authorization_token_required": False,
}

# Attributes stored as plain columns of the offer row (the rest have their own tables or shapes).
_COLUMNS = (
    "scope",
    "type",
    "status",
    "name",
    "description",
    "external_url",
    "read_more",
    "activation_texts",
    "usable_since",
    "usable_until",
    "visible_since",
    "visible_until",
    "audience_id",
    "campaign_id",
    "maximum_uses_per_user",
    "maximum_grants_per_user",
    "stock",
    "usage_authorization_token",
    "usage_authorization_token_required",
    "image_template",
)


class OfferAttributesInvalid(InvalidParameters):
    """Attributes breaking a rule of SPEC §5.1; `errors` maps a field to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(
            {field: [error_leaf("invalid", message=m) for m in messages] for field, messages in errors.items()}
        )


# --- Rules (SPEC §5.1) ----------------------------------------------------------------------------


def duplicates(values: Iterable[Any]) -> bool:
    values = list(values)
    return len(set(values)) != len(values)


def offer_attributes_errors(*, club: LoyaltyClub, attrs: dict[str, Any], offer: Offer | None = None) -> dict:
    """The rules of SPEC §5.1 for these attributes (only the keys present are checked), as field → messages.
    `offer` is the offer being updated (its `uses_count` and `type` matter), None on create. Two queries at
    most (collections, audience)."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    current = {
        key: attrs.get(key, getattr(offer, key, None) if offer is not None else None)
        for key in ("usable_since", "usable_until", "visible_since", "visible_until")
    }
    for since, until in (("usable_since", "usable_until"), ("visible_since", "visible_until")):
        if current[since] is not None and current[until] is not None and current[until] <= current[since]:
            add(until, f"must be after {since}")
    for field in ("maximum_uses_per_user", "maximum_grants_per_user", "stock"):
        if attrs.get(field) is not None and attrs[field] <= 0:
            add(field, message_for("greater_than", {"number": 0}))
    periodic = attrs.get("periodic_usage")
    if periodic is not None and periodic.get("limit") is not None and periodic["limit"] <= 0:
        add("periodic_usage.limit", message_for("greater_than", {"number": 0}))
    if offer is not None and offer.uses_count > 0:
        if "type" in attrs and attrs["type"] != offer.type:
            add("type", "cannot be changed once the offer has been used")
        if attrs.get("stock") is not None and 0 < attrs["stock"] < offer.uses_count:
            add("stock", message_for("greater_or_equal_to", {"number": offer.uses_count}) + " (the uses so far)")
    for field in ("collection_ids", "tags", "stores"):
        if attrs.get(field) and duplicates(attrs[field]):
            add(field, UNIQUE_VALUES)
    if attrs.get("files") and duplicates((f["url"], f.get("size_type")) for f in attrs["files"]):
        add("files", UNIQUE_VALUES)
    collection_ids = attrs.get("collection_ids") or []
    if collection_ids and "collection_ids" not in errors:
        known = set(Collection.objects.filter(club=club, pk__in=collection_ids).values_list("pk", flat=True))
        unknown = [str(pk) for pk in collection_ids if pk not in known]
        if unknown:
            add("collection_ids", f"contains unknown collections: {', '.join(unknown)}")
    audience_id = attrs.get("audience_id")
    if audience_id is not None and not MemberGroup.objects.filter(club=club, pk=audience_id).exists():
        add("audience_id", "is not a known members group")
    return errors


# --- Offers ---------------------------------------------------------------------------------------


def _apply(offer: Offer, attrs: dict[str, Any]) -> list[str]:
    """Set the row's columns from the attributes present; returns the columns set (for `update_fields`)."""
    fields = []
    for key in _COLUMNS:
        if key in attrs:
            setattr(offer, key, attrs[key])
            fields.append(key)
    for key in ("internal_name", "internal_description"):
        if key in attrs:
            setattr(offer, key, attrs[key] or "")
            fields.append(key)
    if "extras" in attrs:
        offer.extras = attrs["extras"] if attrs["extras"] is not None else {}
        fields.append("extras")
    if "display_schemas" in attrs:
        offer.display_schemas = display_schemas_clean(attrs["display_schemas"])
        fields.append("display_schemas")
    if "periodic_usage" in attrs:
        periodic = attrs["periodic_usage"]
        offer.periodic_timespan = periodic["timespan"] if periodic else None
        offer.periodic_limit = periodic["limit"] if periodic else None
        fields += ["periodic_timespan", "periodic_limit"]
    return fields


def _values_sync(model, offer: Offer, values: list[str]) -> None:
    """Rewrite the offer's tag or store rows when they differ (row ids keep the given order)."""
    current = list(model.objects.filter(offer=offer).order_by("id").values_list("value", flat=True))
    if current == values:
        return
    model.objects.filter(offer=offer).delete()
    model.objects.bulk_create([model(offer=offer, club_id=offer.club_id, value=value) for value in values])


def _collections_sync(offer: Offer, collection_ids: list[int]) -> None:
    current = set(CollectionOffer.objects.filter(offer=offer).values_list("collection_id", flat=True))
    wanted = set(collection_ids)
    CollectionOffer.objects.filter(offer=offer, collection_id__in=current - wanted).delete()
    CollectionOffer.objects.bulk_create(
        [CollectionOffer(offer=offer, collection_id=pk) for pk in sorted(wanted - current)]
    )


def _relations_sync(offer: Offer, attrs: dict[str, Any]) -> None:
    if "tags" in attrs:
        _values_sync(OfferTag, offer, attrs["tags"] or [])
    if "stores" in attrs:
        _values_sync(OfferStore, offer, attrs["stores"] or [])
    if "collection_ids" in attrs:
        _collections_sync(offer, attrs["collection_ids"] or [])
    if "files" in attrs:
        files_sync(offer=offer, files=attrs["files"] or [])


def _name_key_write(offer: Offer, club: LoyaltyClub) -> None:
    """The stored sort key of one offer just written, also set on the instance."""
    offers_name_keys_refresh(club=club, offer_ids=[offer.pk])
    offer.name_sort, offer.name_sort_language = (
        Offer.objects.filter(pk=offer.pk).values_list("name_sort", "name_sort_language").get()
    )


@transaction.atomic
def offers_name_keys_refresh(*, club: LoyaltyClub, offer_ids: list[int] | None = None) -> int:
    """Write `Offer.name_sort` / `name_sort_language` of these offers of the club (all of them with None) for
    the club's default language, computed by the database from `name_order_key` (the expression the lists
    sort on, so the stored key cannot differ from it). `offer_create` and `offer_update` call it with every
    write; call it for the whole club after the default language changed or after rows were written
    without the service (bulk loads). Locks the rows it updates. Returns their number."""
    languages = [club.default_language]
    qs = Offer.objects.filter(club=club)
    if offer_ids is not None:
        qs = qs.filter(pk__in=offer_ids)
    return qs.update(name_sort=name_order_key(languages), name_sort_language=languages_signature(languages))


@transaction.atomic
def offer_create(*, club: LoyaltyClub, attrs: dict[str, Any]) -> Offer:
    """Create an offer with these attributes (missing ones take the defaults of SPEC §5.1). Raises
    `OfferAttributesInvalid` when a rule fails. Locks nothing (new rows)."""
    attrs = {**OFFER_DEFAULTS, **attrs}
    errors = offer_attributes_errors(club=club, attrs=attrs)
    if errors:
        raise OfferAttributesInvalid(errors)
    offer = Offer(club=club)
    _apply(offer, attrs)
    offer.save()
    _name_key_write(offer, club)
    _relations_sync(offer, attrs)
    return offer


@transaction.atomic
def offer_update(*, offer: Offer, attrs: dict[str, Any]) -> Offer:
    """Set the given attributes of the offer (the API's PUT gives all of them). Locks the offer row first, so
    the rules that depend on its uses (type fixed once used, stock not below the uses) hold against
    concurrent uses, which take the same row. Raises `OfferAttributesInvalid`."""
    locked = Offer.objects.select_for_update().get(pk=offer.pk)
    errors = offer_attributes_errors(club=offer.club, attrs=attrs, offer=locked)
    if errors:
        raise OfferAttributesInvalid(errors)
    fields = _apply(locked, attrs)
    locked.save(update_fields=[*fields, "updated_at"])
    if "name" in fields or locked.name_sort_language is None:
        _name_key_write(locked, offer.club)
    _relations_sync(locked, attrs)
    return locked


@transaction.atomic
def offer_status_set(*, offers: list[Offer], status: str) -> int:
    """Publish or unpublish offers (admin actions). One UPDATE; the rows are locked by it."""
    return Offer.objects.filter(pk__in=[o.pk for o in offers]).update(status=status, updated_at=timezone.now())


@transaction.atomic
def offers_clone(*, offers: list[Offer]) -> list[Offer]:
    """Copy each offer (duplicates copy twice), in order: every attribute, tags, stores, collections and
    files, as a draft with zero counters and no grants or uses. Locks nothing (reads and new rows)."""
    clones = []
    now = timezone.now()
    for original in offers:
        clone = Offer.objects.get(pk=original.pk)
        clone.pk = None
        clone.status = OfferStatus.DRAFT
        clone.uses_count = clone.grants_count = 0
        clone.archived_at = None
        clone.created_at = now
        clone.save(force_insert=True)
        for model in (OfferTag, OfferStore):
            values = model.objects.filter(offer_id=original.pk).order_by("id").values_list("value", flat=True)
            model.objects.bulk_create([model(offer=clone, club_id=clone.club_id, value=value) for value in values])
        CollectionOffer.objects.bulk_create(
            [
                CollectionOffer(offer=clone, collection_id=pk)
                for pk in CollectionOffer.objects.filter(offer_id=original.pk).values_list("collection_id", flat=True)
            ]
        )
        files_copy(source_offer_id=original.pk, clone=clone)
        clones.append(clone)
    return clones


@transaction.atomic
def offers_archive(*, offers: list[Offer], now: datetime | None = None) -> None:
    """Archive offers: members no longer see or use them. Already archived ones keep their date."""
    now = now or timezone.now()
    Offer.objects.filter(pk__in=[o.pk for o in offers], archived_at__isnull=True).update(
        archived_at=now, updated_at=now
    )


@transaction.atomic
def offers_unarchive(*, offers: list[Offer]) -> None:
    Offer.objects.filter(pk__in=[o.pk for o in offers], archived_at__isnull=False).update(
        archived_at=None, updated_at=timezone.now()
    )


@transaction.atomic
def offers_delete(*, offers: list[Offer], now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Delete offers that were never used; archive the used ones instead (their usages are history).
    Returns (deleted ids, archived ids). Locks the offer rows (by id) so a concurrent first use cannot slip in
    between the check and the delete; the deleted ids leave the collections' `offers_order` too."""
    now = now or timezone.now()
    ids = sorted({o.pk for o in offers})
    locked = list(
        Offer.objects.select_for_update().filter(pk__in=ids).order_by("pk").values("pk", "club_id", "uses_count")
    )
    used = [row["pk"] for row in locked if row["uses_count"] > 0]
    unused = [row["pk"] for row in locked if row["uses_count"] == 0]
    if used:
        Offer.objects.filter(pk__in=used, archived_at__isnull=True).update(archived_at=now, updated_at=now)
    if unused:
        club_ids = {row["club_id"] for row in locked}
        _orders_forget(club_ids=club_ids, offer_ids=set(unused))
        Offer.objects.filter(pk__in=unused).delete()
    return unused, used


def _orders_forget(*, club_ids: set[int], offer_ids: set[int]) -> None:
    for collection in Collection.objects.select_for_update().filter(club_id__in=club_ids).order_by("pk"):
        order = collection.offers_order if isinstance(collection.offers_order, list) else []
        kept = [pk for pk in order if pk not in offer_ids]
        if kept != order:
            Collection.objects.filter(pk=collection.pk).update(offers_order=kept, updated_at=timezone.now())
