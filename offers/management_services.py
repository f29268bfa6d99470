"""Writes of offers management (SPEC §5): offers, collections, clone / archive / delete, grants to an audience.

The management API and the Django admin both call these. Attribute rules of SPEC §5.1 live in
`offer_attributes_errors` (the API reports them per batch item, the admin per form field); shapes and types
are the input serializers' business. `offer_create` / `offer_update` set exactly the attributes they are
given — the API's full-replace PUT sends every attribute, defaults included (`OFFER_DEFAULTS`), the admin
sends what its form edits. Tags, stores, collection memberships and URL files live in their own tables
(the member API filters on them) and are rewritten in the same transaction as the offer row.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from kit.db.races import lock_for_delete
from kit.errors import InvalidParameters
from kit.messages import message_for
from loyalty.models import LoyaltyClub, Member, MemberGroup, MemberGroupMembership
from offers.display import display_schemas_clean
from offers.exceptions import NotGrantable
from offers.models import (
    GRANT_TYPES,
    AudienceGrant,
    Collection,
    CollectionOffer,
    FileKind,
    Offer,
    OfferFile,
    OfferGrant,
    OfferMemberState,
    OfferStatus,
    OfferStore,
    OfferTag,
    OfferType,
    Scope,
    SizeType,
)

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
        super().__init__({field: [_leaf(message) for message in messages] for field, messages in errors.items()})


def _leaf(message: str) -> dict[str, Any]:
    return {"value": None, "error": "invalid", "options": {}, "message": message}


# --- Rules (SPEC §5.1) ----------------------------------------------------------------------------


def _duplicates(values: Iterable[Any]) -> bool:
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
        if attrs.get(field) and _duplicates(attrs[field]):
            add(field, UNIQUE_VALUES)
    if attrs.get("files") and _duplicates((f["url"], f.get("size_type")) for f in attrs["files"]):
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
    model.objects.bulk_create([model(offer=offer, value=value) for value in values])


def _collections_sync(offer: Offer, collection_ids: list[int]) -> None:
    current = set(CollectionOffer.objects.filter(offer=offer).values_list("collection_id", flat=True))
    wanted = set(collection_ids)
    CollectionOffer.objects.filter(offer=offer, collection_id__in=current - wanted).delete()
    CollectionOffer.objects.bulk_create(
        [CollectionOffer(offer=offer, collection_id=pk) for pk in sorted(wanted - current)]
    )


def file_public_url(file: OfferFile) -> str | None:
    """The URL clients see for a file row (the member API's rule): its `url`, else the uploaded file's."""
    if file.url:
        return file.url
    return f"{settings.PUBLIC_BASE_URL}{settings.MEDIA_URL}{file.file.name}" if file.file else None


def files_sync(*, files: list[dict[str, Any]], offer: Offer | None = None, collection: Collection | None = None):
    """Make the owner's files the given list (`{url, width, height, kind, size_type}`), in that order.

    An item whose URL is the public URL of a file the owner already has (an uploaded image, echoed back by a
    client that read it) keeps that row; sizes made from a kept original stay with it. Other rows go (their
    stored files are left in storage: copies of the offer may share them), new URLs become rows."""
    owner = {"offer": offer} if offer is not None else {"collection": collection}
    default_kind = FileKind.OFFER_DEFAULT if offer is not None else FileKind.COLLECTION_COVER_DEFAULT
    existing = list(OfferFile.objects.filter(**owner))
    by_url = {(file_public_url(f), f.size_type): f for f in existing}
    keep: dict[int, int] = {}  # row id → position
    new_rows = []
    for position, item in enumerate(files):
        size_type = item.get("size_type") or SizeType.ORIGINAL
        row = by_url.get((item["url"], size_type))
        if row is not None and row.id not in keep:
            keep[row.id] = position
            continue
        new_rows.append(
            OfferFile(
                **owner,
                url=item["url"],
                width=item.get("width"),
                height=item.get("height"),
                kind=item.get("kind") or default_kind,
                size_type=size_type,
                position=position,
            )
        )
    kept_sources = set(keep)
    for row in existing:
        if row.source_id in kept_sources and row.id not in keep:
            keep[row.id] = keep[row.source_id]
    OfferFile.objects.filter(**owner).exclude(pk__in=list(keep)).delete()
    for row in existing:
        if row.id in keep and row.position != keep[row.id]:
            OfferFile.objects.filter(pk=row.id).update(position=keep[row.id])
    OfferFile.objects.bulk_create(new_rows)


def _relations_sync(offer: Offer, attrs: dict[str, Any]) -> None:
    if "tags" in attrs:
        _values_sync(OfferTag, offer, attrs["tags"] or [])
    if "stores" in attrs:
        _values_sync(OfferStore, offer, attrs["stores"] or [])
    if "collection_ids" in attrs:
        _collections_sync(offer, attrs["collection_ids"] or [])
    if "files" in attrs:
        files_sync(offer=offer, files=attrs["files"] or [])


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
            model.objects.bulk_create([model(offer=clone, value=value) for value in values])
        CollectionOffer.objects.bulk_create(
            [
                CollectionOffer(offer=clone, collection_id=pk)
                for pk in CollectionOffer.objects.filter(offer_id=original.pk).values_list("collection_id", flat=True)
            ]
        )
        _files_copy(source_offer_id=original.pk, clone=clone)
        clones.append(clone)
    return clones


def _files_copy(*, source_offer_id: int, clone: Offer) -> None:
    """Copy the file rows; uploaded files are shared (storage is never deleted with a row)."""
    files = list(OfferFile.objects.filter(offer_id=source_offer_id).order_by("source_id", "id"))
    new_ids: dict[int, int] = {}
    for file in sorted(files, key=lambda f: (f.source_id is not None, f.id)):  # originals before their sizes
        old_id = file.id
        file.pk = None
        file.offer = clone
        file.source_id = new_ids.get(file.source_id) if file.source_id else None
        file.save(force_insert=True)
        new_ids[old_id] = file.pk


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


# --- Collections ----------------------------------------------------------------------------------


def collection_attributes_errors(*, club: LoyaltyClub, attrs: dict[str, Any]) -> dict[str, list[dict]]:
    """Rules for collection attributes, as a 422 details tree: `offers_order` lists distinct offers of
    the club. One query at most."""
    order = attrs.get("offers_order")
    if not order:
        return {}
    if _duplicates(order):
        return {"offers_order": [{"value": order, "error": "invalid", "options": {}, "message": UNIQUE_VALUES}]}
    known = set(Offer.objects.filter(club=club, pk__in=order).values_list("pk", flat=True))
    unknown = [pk for pk in order if pk not in known]
    if unknown:
        message = f"contains unknown offers: {', '.join(str(pk) for pk in unknown)}"
        return {"offers_order": [{"value": unknown, "error": "invalid", "options": {}, "message": message}]}
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


# --- Grants to an audience (SPEC §5.2, §8) --------------------------------------------------------


def audience_grant_inline_limit() -> int:
    """Groups up to this many members are granted during the request; larger ones by a Celery task."""
    return settings.OFFERS_AUDIENCE_GRANT_INLINE_LIMIT


def audience_grant_chunk_size() -> int:
    """Members per chunk (one short transaction each)."""
    return settings.OFFERS_AUDIENCE_GRANT_CHUNK_SIZE


def audience_grants_check(*, offers: list[Offer]) -> None:
    """Only offers that need a grant and are not archived can be granted: 422 `Not grantable`."""
    for offer in offers:
        if offer.type not in GRANT_TYPES or offer.archived_at is not None:
            raise NotGrantable()


def audience_grants_start(*, club: LoyaltyClub, items: list[tuple[Offer, MemberGroup, int | None]]) -> int:
    """Grant each offer to every member of its group; each member at most once per (call, offer).

    Records one `AudienceGrant` per item (one transaction), runs those whose group has at most
    `audience_grant_inline_limit()` members right away, and queues the others as Celery tasks after the
    commit. Returns the grants made inline plus the members queued (the group sizes at the time of the
    call); the outcome of a queued grant is on its `AudienceGrant` row."""
    from offers.tasks import run_audience_grant

    audience_grants_check(offers=[offer for offer, _, _ in items])
    limit = audience_grant_inline_limit()
    sizes = _group_sizes([group.pk for _, group, _ in items])
    with transaction.atomic():
        calls = [
            AudienceGrant.objects.create(
                club=club,
                offer=offer,
                group=group,
                usable_for_seconds=usable_for_seconds,
                members_count=sizes.get(group.pk, 0),
            )
            for offer, group, usable_for_seconds in items
        ]
        queued = [call for call in calls if call.members_count > limit]
        for call in queued:
            call_id = call.pk
            transaction.on_commit(lambda call_id=call_id: run_audience_grant.delay(call_id))
    granted = sum(call.members_count for call in queued)
    for call in calls:
        if call.members_count <= limit:
            granted += audience_grant_run(audience_grant_id=call.pk).granted_count
    return granted


def _group_sizes(group_ids: list[int]) -> dict[int, int]:
    from django.db.models import Count

    rows = (
        MemberGroupMembership.objects.filter(group_id__in=group_ids)
        .values("group_id")
        .annotate(n=Count("id"))
        .values_list("group_id", "n")
    )
    return dict(rows)


def audience_grant_run(
    *, audience_grant_id: int, chunk_size: int | None = None, time_budget: float | None = None
) -> AudienceGrant | None:
    """Work through the call's remaining members chunk by chunk until done, or until `time_budget` seconds
    have passed (then the caller continues later: the cursor is saved with every chunk). Safe to run twice
    or concurrently: chunks of one call serialise on its row, and no member is granted twice by one call."""
    started = time.monotonic()
    chunk_size = chunk_size or audience_grant_chunk_size()
    while not audience_grant_run_chunk(audience_grant_id=audience_grant_id, chunk_size=chunk_size):
        if time_budget is not None and time.monotonic() - started >= time_budget:
            break
    return AudienceGrant.objects.filter(pk=audience_grant_id).first()


@transaction.atomic
def audience_grant_run_chunk(
    *, audience_grant_id: int, chunk_size: int | None = None, now: datetime | None = None
) -> bool:
    """Grant the offer to the next `chunk_size` members of the group (by member id, after the cursor), in one
    transaction; True when the call is finished. Locks the `AudienceGrant` row first (a duplicate delivery
    waits, then continues after the cursor this chunk saved), then each member's grant state and the offer
    row inside `offer_grant`.

    Members the offer refuses (see `offer_grant_members`) are skipped and counted. A member this call
    already granted (a chunk run again after its cursor was lost) is skipped without counting; the unique
    (call, member) constraint on grants is the last guard. Stops early, finished, when the offer has been
    archived meanwhile."""
    call = AudienceGrant.objects.select_for_update().filter(pk=audience_grant_id).first()
    if call is None or call.status == AudienceGrant.Status.DONE:
        return True
    now = now or timezone.now()
    chunk_size = chunk_size or audience_grant_chunk_size()
    offer = Offer.objects.select_related("club").get(pk=call.offer_id)
    member_ids = list(
        MemberGroupMembership.objects.filter(group_id=call.group_id, member_id__gt=call.cursor)
        .order_by("member_id")
        .values_list("member_id", flat=True)[:chunk_size]
    )
    if not member_ids or offer.archived_at is not None:
        AudienceGrant.objects.filter(pk=call.pk).update(status=AudienceGrant.Status.DONE, finished_at=now)
        return True
    done = set(
        OfferGrant.objects.filter(audience_grant=call, member_id__in=member_ids).values_list("member_id", flat=True)
    )
    members = list(
        Member.objects.filter(pk__in=[pk for pk in member_ids if pk not in done], club_id=call.club_id)
        .order_by("pk")
        .only("id", "banned_until")
    )
    granted, skipped = offer_grant_members(
        offer=offer,
        members=members,
        usable_for_seconds=call.usable_for_seconds,
        source=OfferGrant.Source.AUDIENCE,
        audience_grant=call,
    )
    AudienceGrant.objects.filter(pk=call.pk).update(
        cursor=member_ids[-1],
        status=AudienceGrant.Status.RUNNING,
        granted_count=F("granted_count") + len(granted),
        skipped_count=F("skipped_count") + skipped,
    )
    return False


def _states_lock_many(*, offer_id: int, member_ids: list[int]) -> dict[int, tuple[int, int]]:
    """`offers.services._state_lock` for many members at once: create-or-lock their `OfferMemberState` rows
    for the offer in one statement, in member id order (so two chunks never deadlock), and return
    {member_id: (state id, grants_count)}."""
    table = OfferMemberState._meta.db_table
    values = ", ".join(["(%s, %s, 0, 0, NULL)"] * len(member_ids))
    params = [value for member_id in member_ids for value in (offer_id, member_id)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (offer_id, member_id, uses_count, grants_count, last_used_at) VALUES {values} "
            "ON CONFLICT (offer_id, member_id) DO UPDATE SET offer_id = EXCLUDED.offer_id "
            "RETURNING id, member_id, grants_count",
            params,
        )
        return {member_id: (state_id, grants) for state_id, member_id, grants in cursor.fetchall()}


def offer_grant_members(
    *,
    offer: Offer,
    members: list[Member],
    usable_for_seconds: int | None = None,
    source: str = OfferGrant.Source.AUDIENCE,
    audience_grant: AudienceGrant | None = None,
    now: datetime | None = None,
) -> tuple[list[OfferGrant], int]:
    """`offers.services.offer_grant` for many members of the offer's club in a handful of statements (an
    audience of 100 000 is 100 chunks, not 800 000 queries). The same rules and the same locks, in the same
    order: each member's state row (all of them, by member id), the clock read under those locks, then the
    checks — a banned member, one outside the offer's audience and one at `maximum_grants_per_user` are
    skipped — then the offer row, whose stock (uses_count < stock, as for one grant) admits all the rest or
    none. The caller has checked that the offer is grantable. Emits `offer.granted` for each grant, like
    `offer_grant`. Returns (grants, members skipped). Call it inside a transaction."""
    if not members:
        return [], 0
    states = _states_lock_many(offer_id=offer.pk, member_ids=sorted(m.pk for m in members))
    now = now or timezone.now()
    in_audience = None
    if offer.audience_id is not None:
        in_audience = set(
            MemberGroupMembership.objects.filter(
                group_id=offer.audience_id, member_id__in=[m.pk for m in members]
            ).values_list("member_id", flat=True)
        )
    limit = offer.maximum_grants_per_user
    eligible = [
        member
        for member in sorted(members, key=lambda m: m.pk)
        if not (member.banned_until is not None and now < member.banned_until)
        and (in_audience is None or member.pk in in_audience)
        and (limit is None or states[member.pk][1] < limit)
    ]
    skipped = len(members) - len(eligible)
    if not eligible:
        return [], skipped
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Offer._meta.db_table} SET grants_count = grants_count + %s "
            "WHERE id = %s AND (stock IS NULL OR uses_count < stock)",
            [len(eligible), offer.pk],
        )
        if cursor.rowcount == 0:  # Global limit exceeded, for every one of them
            return [], len(members)
    usable_until = now + timedelta(seconds=usable_for_seconds) if usable_for_seconds else None
    grants = OfferGrant.objects.bulk_create(
        [
            OfferGrant(
                offer=offer,
                member=member,
                granted_at=now,
                usable_until=usable_until,
                source=source,
                audience_grant=audience_grant,
            )
            for member in eligible
        ],
        batch_size=1000,
    )
    OfferMemberState.objects.filter(pk__in=[states[m.pk][0] for m in eligible]).update(
        grants_count=F("grants_count") + 1
    )
    _emit_granted(offer=offer, grants=grants, now=now, usable_until=usable_until)
    return grants, skipped


def _emit_granted(*, offer: Offer, grants: list[OfferGrant], now: datetime, usable_until: datetime | None) -> None:
    """`offer.granted` for each grant, as `offer_grant` emits it. `event_emit` writes nothing (and answers
    None) when no endpoint of the club listens, which holds for the whole batch: one query then."""
    from kit.formats import format_datetime
    from webhooks import services as webhook_services

    for grant in grants:
        event = webhook_services.event_emit(
            club_id=offer.club_id,
            type="offer.granted",
            member_id=grant.member_id,
            data={
                "grant_id": grant.pk,
                "offer_id": offer.pk,
                "member_id": grant.member_id,
                "granted_at": format_datetime(now),
                "usable_until": format_datetime(usable_until),
            },
        )
        if event is None:
            return
