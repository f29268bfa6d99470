"""Offer and collection images: an uploaded original and the sizes made from it with Pillow.

`image_upload` stores an original (replacing the owner's earlier upload and its sizes) and queues
`offers.make_image_sizes` after the commit; `image_sizes_make` writes the `base` and `thumbnail` sizes
(never larger than the original) with their width and height. Sizes point at their original (`source`), one
per size type (a unique constraint), so regenerating replaces them.
"""

from __future__ import annotations

import io
import logging
import os
import uuid
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image, ImageOps, UnidentifiedImageError

from offers.models import Collection, FileKind, Offer, OfferFile, SizeType

logger = logging.getLogger("offers.images")

# Longest side, in pixels, of each generated size.
SIZES: dict[str, int] = {SizeType.BASE: 1080, SizeType.THUMBNAIL: 300}
# Formats written as they came; anything else becomes PNG (lossless, keeps transparency).
_KEEP_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000


class ImageInvalid(ValueError):
    """The upload is not an image Pillow can read, or is too large."""


def image_inspect(upload) -> tuple[int, int]:
    """(width, height) of an uploaded image; ImageInvalid when it cannot be read or is too large."""
    if getattr(upload, "size", 0) and upload.size > MAX_UPLOAD_BYTES:
        raise ImageInvalid(f"The image is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB.")
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageInvalid(f"The image has more than {MAX_PIXELS // 1_000_000} million pixels.")
            image.verify()
    except ImageInvalid:
        raise
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError) as exc:
        raise ImageInvalid("The file is not an image that can be read.") from exc
    finally:
        upload.seek(0)
    return width, height


@transaction.atomic
def image_upload(*, upload, offer: Offer | None = None, collection: Collection | None = None) -> OfferFile:
    """Store `upload` as the owner's uploaded original (after its URL files), replacing an earlier upload
    with its sizes, and queue the sizes after the commit. Locks nothing (the owner's file rows only)."""
    from offers.tasks import make_image_sizes

    width, height = image_inspect(upload)
    owner: dict[str, Any] = {"offer": offer} if offer is not None else {"collection": collection}
    kind = FileKind.OFFER_DEFAULT if offer is not None else FileKind.COLLECTION_COVER_DEFAULT
    OfferFile.objects.filter(**owner, url="", source__isnull=True).exclude(file="").delete()
    last = OfferFile.objects.filter(**owner).order_by("-position").values_list("position", flat=True).first()
    name = os.path.basename(getattr(upload, "name", "") or "image")
    original = OfferFile(
        **owner,
        kind=kind,
        size_type=SizeType.ORIGINAL,
        width=width,
        height=height,
        position=0 if last is None else last + 1,
    )
    original.file.save(f"{uuid.uuid4().hex[:12]}-{name}", upload, save=False)
    original.save()
    file_id = original.pk
    transaction.on_commit(lambda: make_image_sizes.delay(file_id))
    return original


def _encode(image: Image.Image, fmt: str) -> tuple[bytes, str]:
    out = io.BytesIO()
    if fmt not in _KEEP_FORMATS:
        fmt = "PNG"
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    options = {"quality": 85, "optimize": True} if fmt in ("JPEG", "WEBP") else {"optimize": True}
    image.save(out, format=fmt, **options)
    return out.getvalue(), _KEEP_FORMATS[fmt]


def image_sizes_make(*, file_id: int) -> list[OfferFile]:
    """Make (or make again) the sizes of an uploaded original; [] when it is gone or not an upload.
    The image work runs outside any transaction; the rows are swapped in one short transaction that locks
    the original's row, so two runs at once leave exactly one row per size."""
    original = OfferFile.objects.filter(pk=file_id, source__isnull=True).exclude(file="").first()
    if original is None:
        return []
    try:
        with original.file.open("rb") as handle, Image.open(handle) as opened:
            fmt = opened.format or "PNG"
            image = ImageOps.exif_transpose(opened)
            image.load()
    except (FileNotFoundError, UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        logger.warning("offer file %s: cannot read the original: %s", file_id, exc)
        return []
    stem = os.path.splitext(os.path.basename(original.file.name))[0]
    made: list[tuple[str, str, int, int]] = []
    for size_type, longest in SIZES.items():
        sized = image.copy()
        sized.thumbnail((longest, longest), Image.Resampling.LANCZOS)  # keeps the ratio, never enlarges
        data, extension = _encode(sized, fmt)
        name = default_storage.save(f"offers/{stem}-{size_type}{extension}", ContentFile(data))
        made.append((size_type, name, sized.width, sized.height))
    with transaction.atomic():
        source = OfferFile.objects.select_for_update().filter(pk=file_id).first()
        if source is None:  # deleted while we worked
            return []
        OfferFile.objects.filter(source=source).delete()
        rows = [
            OfferFile(
                offer_id=source.offer_id,
                collection_id=source.collection_id,
                kind=source.kind,
                size_type=size_type,
                file=name,
                width=width,
                height=height,
                position=source.position,
                source=source,
            )
            for size_type, name, width, height in made
        ]
        return OfferFile.objects.bulk_create(rows)
