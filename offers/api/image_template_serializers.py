"""The ImageTemplate model, record and payload of the published Offers Admin API (image templates).

Numbers may come as JSON numbers or as digit strings (the docs type the payload's `width` and `height` as
strings, and PHP clients send every scalar as one); booleans as JSON booleans or "true"/"false".
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from rest_framework import serializers

from kit.api.params import StrictCharField, StrictIntegerField, page_no_field, param_error, per_page_field
from kit.formats import format_datetime
from loyalty.api.serializers import PaginationInfoSerializer
from offers.models import ImageTemplate

MAX_SIDE = 2000
MAX_RECTANGLES = 4  # "Rendering process draws rectangles (up to 4)"
_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def _hex_color(value: str) -> None:
    if not _HEX_COLOR.match(value):
        raise param_error("invalid", format="hex color (#RRGGBB)")


def _http_url(value: str) -> None:
    try:
        URLValidator(schemes=["http", "https"])(value)
    except DjangoValidationError:
        raise param_error("invalid", format="http(s) URL") from None


def _int(*, min_value: int, max_value: int, required: bool = True, **kwargs) -> StrictIntegerField:
    return StrictIntegerField(min_value=min_value, max_value=max_value, required=required, **kwargs)


class ImageTemplateRectangleSerializer(serializers.Serializer):
    number = _int(min_value=0, max_value=1000, required=False, allow_null=True)
    name = StrictCharField(max_length=255)
    width = _int(min_value=1, max_value=MAX_SIDE)
    height = _int(min_value=1, max_value=MAX_SIDE)
    padding = _int(min_value=0, max_value=MAX_SIDE)
    offset_left = _int(min_value=-MAX_SIDE, max_value=MAX_SIDE)
    offset_top = _int(min_value=-MAX_SIDE, max_value=MAX_SIDE)
    text_align = serializers.ChoiceField(choices=["left", "center", "right"])
    text_decoration = serializers.ChoiceField(
        choices=["none", "underline", "overline", "line-through"], required=False, default="none"
    )
    color = StrictCharField(max_length=9, validators=[_hex_color])
    font_size = _int(min_value=1, max_value=500)
    font_family = StrictCharField(max_length=255)
    font_url = StrictCharField(max_length=2000, validators=[_http_url])
    font_style = serializers.ChoiceField(choices=["normal", "italic", "oblique"], required=False, default="normal")
    font_weight = serializers.ChoiceField(
        choices=["normal", "bold", "bolder", "lighter"], required=False, default="normal"
    )
    content = StrictCharField(max_length=1000, required=False, allow_blank=True, allow_null=True, default=None)


class ImageTemplateModelSerializer(serializers.Serializer):
    """The ImageTemplate model: what a preview draws and what an offer's `image_template` holds."""

    width = _int(min_value=1, max_value=MAX_SIDE)
    height = _int(min_value=1, max_value=MAX_SIDE)
    background_url = StrictCharField(
        max_length=2000, required=False, allow_null=True, default=None, validators=[_http_url]
    )
    rectangles = ImageTemplateRectangleSerializer(many=True, max_length=MAX_RECTANGLES)


class OfferImageTemplateSerializer(ImageTemplateModelSerializer):
    """An offer's `image_template`: the docs' offer example carries only `rectangles`, so the size may be left
    out and takes that of the docs' model example (600 × 800)."""

    width = _int(min_value=1, max_value=MAX_SIDE, required=False, default=600)
    height = _int(min_value=1, max_value=MAX_SIDE, required=False, default=800)
    rectangles = ImageTemplateRectangleSerializer(many=True, max_length=MAX_RECTANGLES, required=False, default=list)


class ImageTemplatePayloadSerializer(ImageTemplateModelSerializer):
    """Create and update of records (the update is partial: the docs' update example leaves the size out)."""

    name = StrictCharField(max_length=255)
    default = serializers.BooleanField(required=False, default=False)


class ImageTemplateWrappedInputSerializer(serializers.Serializer):
    image_template = ImageTemplatePayloadSerializer()


class ImageTemplatePreviewInputSerializer(serializers.Serializer):
    image_template = ImageTemplateModelSerializer()


class ImageTemplateListQuerySerializer(serializers.Serializer):
    per_page = per_page_field(maximum=1000, default=1000)
    page_no = page_no_field()
    default = serializers.BooleanField(required=False, allow_null=True, default=None)


def model_json(value: dict | None) -> dict | None:
    """A stored ImageTemplate model as the API shows it (None stays None)."""
    if not isinstance(value, dict):
        return None
    return {
        "width": value.get("width"),
        "height": value.get("height"),
        "background_url": value.get("background_url"),
        "rectangles": list(value.get("rectangles") or []),
    }


def image_template_clean(model: dict) -> dict[str, Any]:
    """Validated model → plain JSON-ready dict (the order of keys as documented)."""
    return {
        "width": model["width"],
        "height": model["height"],
        "background_url": model.get("background_url"),
        "rectangles": [dict(r) for r in model.get("rectangles") or []],
    }


def image_template_to_json(template: ImageTemplate) -> dict[str, Any]:
    return {
        "id": template.id,
        "name": template.name,
        "width": template.width,
        "height": template.height,
        "background_url": template.background_url,
        "default": template.default,
        "rectangles": template.rectangles if isinstance(template.rectangles, list) else [],
        "created_at": format_datetime(template.created_at),
        "updated_at": format_datetime(template.updated_at),
    }


# --- Output (documentation) -----------------------------------------------------------------------


class ImageTemplateRectangleOutputSerializer(ImageTemplateRectangleSerializer):
    pass


class ImageTemplateModelOutputSerializer(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    background_url = serializers.CharField(allow_null=True)
    rectangles = ImageTemplateRectangleOutputSerializer(many=True)


class ImageTemplateRecordSerializer(ImageTemplateModelOutputSerializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    default = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ImageTemplateResponseSerializer(serializers.Serializer):
    image_template = ImageTemplateRecordSerializer()


class ImageTemplateListResponseSerializer(serializers.Serializer):
    image_templates = ImageTemplateRecordSerializer(many=True)
    pagination_info = PaginationInfoSerializer()
