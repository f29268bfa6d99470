"""Writes of offer collections (SPEC §5.3), for the management API and the admin."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from kit.db.races import lock_for_delete
from kit.errors import InvalidParameters
from kit.messages import error_leaf
from loyalty.models import LoyaltyClub
from offers.models import Collection, Offer
from offers.services.catalog import UNIQUE_VALUES, duplicates
from offers.services.files import files_sync


def collection_attributes_errors(*, club: LoyaltyClub, attrs: dict[str, Any]) -> dict[str, list[dict]]:
    """Rules for collection attributes, as a 422 details tree: `offers_order` lists distinct offers of
    the club. One query at most."""
    order = attrs.get("offers_order")
    if not order:
        return {}
    if duplicates(order):
        return {"offers_order": [error_leaf("invalid", order, message=UNIQUE_VALUES)]}
    known = set(Offer.objects.filter(club=club, pk__in=order).values_list("pk", flat=True))
    unknown = [pk for pk in order if pk not in known]
    if unknown:
        message = f"contains unknown offers: {', '.join(str(pk) for pk in unknown)}"
        return {"offers_order": [error_leaf("invalid", unknown, message=message)]}
    return {}


def _collection_apply(collection: Collection, attrs: dict[str, Any]) -> None:
    for key in ("title", "description", "short_description"):
        if key in attrs:
            setattr(collection, key, attrs[key])
    if "offers_order" in attrs:
        collection.offers_order = list(attrs["offers_order"] or [])


@transaction.atomic
def collection_create(*, club: LoyaltyClub, attrs: dict[str, Any]) -> Collection:
    """Create a collection. Raises InvalidParameters (422 tree) when `offers_order` breaks a rule."""
    errors = collection_attributes_errors(club=club, attrs=attrs)
    if errors:
        raise InvalidParameters(errors)
    collection = Collection(club=club)
    _collection_apply(collection, attrs)
    collection.save()
    if "files" in attrs:
        files_sync(collection=collection, files=attrs["files"] or [])
    return collection


@transaction.atomic
def collection_update(*, collection: Collection, attrs: dict[str, Any]) -> Collection:
    """Set the given attributes (partial). Locks the collection row."""
    locked = Collection.objects.select_for_update().get(pk=collection.pk)
    errors = collection_attributes_errors(club=collection.club, attrs=attrs)
    if errors:
        raise InvalidParameters(errors)
    _collection_apply(locked, attrs)
    locked.save(update_fields=["title", "description", "short_description", "offers_order", "updated_at"])
    if "files" in attrs:
        files_sync(collection=locked, files=attrs["files"] or [])
    return locked


@transaction.atomic
def collection_delete(*, collection: Collection) -> None:
    """Delete the collection; its offers stay (they only leave it). Locks it, then its links (kit.db.races)."""
    lock_for_delete(Collection, collection.pk)
    Collection.objects.filter(pk=collection.pk).delete()
