"""Image templates (published Offers Admin API): stored records, the preview, and the offer image drawn from
an offer's `image_template`.

An offer's `image_template` is a copy of a model, not a reference to a record. After an offer with one is
created or updated, `offers.render_offer_image` draws it (after the commit, in a worker) and stores the PNG
as the offer's uploaded original through `offers.images.image_upload`, which replaces the previous one and
makes the `base` and `thumbnail` sizes, exactly as for an upload.

Drawing uses Pillow's bundled scalable font at the rectangle's `font_size`: `font_family` and `font_url` are
kept and shown but no font is downloaded (a web font CSS URL is not a font file, and fetching fonts per
render would make output depend on a third party). `bold`/`bolder` thicken the strokes; styles other than
`normal` are drawn upright. The background is fetched through the webhooks egress guard (public addresses
only), with a size cap.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from PIL import Image, ImageColor, ImageDraw, ImageFont, UnidentifiedImageError

from kit.errors import InvalidParameters, ResourceNotFound
from kit.messages import error_leaf
from loyalty.models import LoyaltyClub
from offers.models import ImageTemplate, Offer
from offers.texts import text_for

logger = logging.getLogger("offers.image_templates")

MAX_BACKGROUND_BYTES = 10 * 1024 * 1024
BACKGROUND_TIMEOUT_SECONDS = 5
_MERGE_FIELD = re.compile(r"\{\{\s*(name|description|collection|stores)\s*\}\}")


class BackgroundUnavailable(Exception):
    """The background URL could not be fetched or is not an image."""


# --- Records --------------------------------------------------------------------------------------


def image_templates_list(*, club: LoyaltyClub, default: bool | None = None) -> QuerySet[ImageTemplate]:
    qs = ImageTemplate.objects.filter(club=club).order_by("id")
    if default is not None:
        qs = qs.filter(default=default)
    return qs


def image_template_get(*, club: LoyaltyClub, template_id: int) -> ImageTemplate:
    template = ImageTemplate.objects.filter(club=club, pk=template_id).first()
    if template is None:
        raise ResourceNotFound("ImageTemplate", template_id)
    return template


_FIELDS = ("name", "width", "height", "background_url", "rectangles", "default")


@transaction.atomic
def image_template_save(*, club: LoyaltyClub, attrs: dict[str, Any], template: ImageTemplate | None = None):
    """Create (template None) or partially update a record. Marking it default un-marks the club's previous
    default in the same transaction; the club row is locked first so that two concurrent "make me default"
    requests queue instead of one failing on the one-default constraint."""
    if attrs.get("default"):
        LoyaltyClub.objects.select_for_update().filter(pk=club.pk).first()
        others = ImageTemplate.objects.filter(club=club, default=True)
        if template is not None:
            others = others.exclude(pk=template.pk)
        others.update(default=False)
    template = template or ImageTemplate(club=club)
    for key in _FIELDS:
        if key in attrs:
            setattr(template, key, attrs[key])
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:  # only the one-default constraint can fail, and the lock above prevents it
        raise InvalidParameters({"default": [error_leaf("taken", value=True)]}) from None
    return template


@transaction.atomic
def image_template_delete(*, template: ImageTemplate) -> ImageTemplate:
    """Delete a record (offers hold copies of models, so none changes). Returns it with its id kept."""
    template_id = template.pk
    ImageTemplate.objects.filter(pk=template_id).delete()
    template.pk = template_id
    return template


# --- Drawing --------------------------------------------------------------------------------------


def _background(url: str, size: tuple[int, int]) -> Image.Image:
    from webhooks import egress

    try:
        with (
            egress.session() as session,
            session.get(url, timeout=BACKGROUND_TIMEOUT_SECONDS, stream=True, allow_redirects=False) as response,
        ):
            if response.status_code != 200:
                raise BackgroundUnavailable(f"HTTP {response.status_code}")
            data = response.raw.read(MAX_BACKGROUND_BYTES + 1, decode_content=True)
    except BackgroundUnavailable:
        raise
    except Exception as exc:  # refused address, timeout, DNS: the background cannot be had
        raise BackgroundUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
    if len(data) > MAX_BACKGROUND_BYTES:
        raise BackgroundUnavailable("larger than 10 MiB")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > 40_000_000:
                raise BackgroundUnavailable("too many pixels")
            image = opened.convert("RGBA")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError) as exc:
        raise BackgroundUnavailable("not an image") from exc
    # Cover the canvas, cropping what overflows (as CSS `background-size: cover`).
    scale = max(size[0] / image.width, size[1] / image.height)
    resized = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    left, top = (resized.width - size[0]) // 2, (resized.height - size[1]) // 2
    return resized.crop((left, top, left + size[0], top + size[1]))


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int, stroke: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and draw.textlength(candidate, font=font) + 2 * stroke > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def _rectangle(canvas: Image.Image, rect: dict[str, Any], text: str) -> None:
    box = Image.new("RGBA", (rect["width"], rect["height"]), (0, 0, 0, 0))
    draw = ImageDraw.Draw(box)
    font = ImageFont.load_default(size=rect["font_size"])
    stroke = 1 if rect.get("font_weight") in ("bold", "bolder") else 0
    color = ImageColor.getrgb(rect["color"])
    padding = rect["padding"]
    inner = max(1, rect["width"] - 2 * padding)
    ascent, descent = font.getmetrics()
    line_height = ascent + descent
    y = padding
    for line in _wrap(draw, text, font, inner, stroke):
        length = draw.textlength(line, font=font)
        align = rect.get("text_align", "left")
        x = {"center": padding + (inner - length) / 2, "right": padding + inner - length}.get(align, padding)
        draw.text((x, y), line, font=font, fill=color, stroke_width=stroke, stroke_fill=color)
        decoration = rect.get("text_decoration") or "none"
        if decoration != "none" and line:
            thickness = max(1, rect["font_size"] // 15)
            line_y = {"underline": y + ascent + thickness, "overline": y, "line-through": y + ascent * 0.6}[decoration]
            draw.line([(x, line_y), (x + length, line_y)], fill=color, width=thickness)
        y += line_height
    # Through a full-size layer, so a rectangle reaching past an edge is clipped instead of refused.
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    layer.paste(box, (rect["offset_left"], rect["offset_top"]))
    canvas.alpha_composite(layer)


def image_template_render(model: dict[str, Any], *, merge: dict[str, str] | None = None) -> bytes:
    """PNG bytes of an ImageTemplate model. Merge fields (`{{name}}`…) are replaced from `merge`; without
    it (a preview) they are drawn as written. Raises BackgroundUnavailable."""
    size = (model["width"], model["height"])
    background_url = model.get("background_url")
    canvas = _background(background_url, size) if background_url else Image.new("RGBA", size, (255, 255, 255, 255))
    for rect in model.get("rectangles") or []:
        content = rect.get("content") or ""
        if merge is not None:
            content = _MERGE_FIELD.sub(lambda m: merge.get(m.group(1), ""), content)
        _rectangle(canvas, rect, content)
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=True)
    return out.getvalue()


def offer_merge_fields(offer: Offer) -> dict[str, str]:
    """The values of the documented merge fields, in the club's default language."""
    languages = [offer.club.default_language]
    membership = offer.collection_memberships.select_related("collection").order_by("id").first()
    collection = membership.collection if membership is not None else None
    stores = list(offer.store_rows.order_by("id").values_list("value", flat=True))
    return {
        "name": text_for(offer.name, languages) or "",
        "description": text_for(offer.description, languages) or "",
        "collection": (text_for(collection.title, languages) or "") if collection is not None else "",
        "stores": ", ".join(stores),
    }


def offer_image_render(*, offer_id: int) -> bool:
    """Draw the offer's image from its `image_template` and store it as the offer's uploaded original.
    False when the offer is gone, has no template, or its template changed while drawing (the render queued
    by that change stores its own). An unreachable background is drawn as white (logged): the offer's other
    attributes were accepted, and the next update renders again.

    The drawing (and the background's download) happens outside any transaction: offer uses lock the
    offer's row, and must not wait for an image. Only the store takes that lock, briefly, so two renders of
    one offer leave exactly one original."""
    from offers.images import image_upload

    offer = Offer.objects.select_related("club").filter(pk=offer_id).first()
    if offer is None or not isinstance(offer.image_template, dict):
        return False
    model = offer.image_template
    merge = offer_merge_fields(offer)
    try:
        data = image_template_render(model, merge=merge)
    except BackgroundUnavailable as exc:
        logger.warning("offer %s: image template background unavailable (%s); drawn without it", offer_id, exc)
        data = image_template_render({**model, "background_url": None}, merge=merge)
    with transaction.atomic():
        current = Offer.objects.select_for_update().filter(pk=offer_id).values_list("image_template", flat=True)
        if list(current) != [model]:
            return False
        image_upload(upload=ContentFile(data, name=f"offer-{offer_id}-template.png"), offer=offer)
    return True


def on_offer_saved(sender, instance: Offer, created: bool, update_fields=None, **kwargs) -> None:
    """post_save of Offer: queue the drawing after the commit when the saved offer has a template and the
    save wrote it (a create, a full save, or one whose `update_fields` name it)."""
    if not isinstance(instance.image_template, dict):
        return
    if update_fields is not None and "image_template" not in update_fields:
        return
    from offers.tasks import render_offer_image

    offer_id = instance.pk
    # robust: the offer is committed; a broker outage must not turn its save into an error.
    transaction.on_commit(lambda: render_offer_image.delay(offer_id), robust=True)
