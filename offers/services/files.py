"""The files of offers and collections (SPEC §5.1 `files`): URL rows, uploaded images and their sizes."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from offers.models import Collection, FileKind, Offer, OfferFile, SizeType


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


def files_copy(*, source_offer_id: int, clone: Offer) -> None:
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
