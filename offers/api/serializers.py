"""Input parsing and output shapes of the member offer API (SPEC §4). Names are globally unique.

Responses are built by plain functions from selector rows (`offer_to_json`, `usage_to_json`): the list is a
hot path. The output serializers below only document those shapes in the OpenAPI schema.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from kit.api.params import (
    QueryListField,
    StrictCharField,
    StrictIntegerField,
    page_no_field,
    param_error,
    per_page_field,
)
from kit.formats import format_datetime
from loyalty.api.serializers import PaginationInfoSerializer
from offers.display import display_schemas_resolve
from offers.models import OfferType, Scope
from offers.selectors.listing import order_attributes
from offers.texts import text_for

# --- Query and body parsing -----------------------------------------------------------------------


class QueryBooleanField(serializers.BooleanField):
    """Query-string booleans: exactly `true` / `false` / `1` / `0` (SPEC §1.6)."""

    def to_internal_value(self, data):
        value = str(data).strip().lower() if isinstance(data, str | int) and not isinstance(data, bool) else None
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        self.fail("invalid")


class OfferScopeField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=Scope.values, required=False, default=Scope.STANDARD, **kwargs)


class OfferScopeQuerySerializer(serializers.Serializer):
    scope = OfferScopeField()


class OfferTypeField(serializers.ChoiceField):
    """An offer type in any letter case; returned upper-case."""

    def __init__(self, **kwargs):
        super().__init__(choices=OfferType.values, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data.upper() if isinstance(data, str) else data)


def parse_order_by(raw: str, *, allowed: list[str]) -> list[tuple[str, bool]]:
    """`attribute [ASC|DESC], …` (SPEC §4.4) → [(attribute, descending)]; 422 `inclusion` for anything else."""
    terms: list[tuple[str, bool]] = []
    for term in raw.split(","):
        words = term.split()
        if not words and len(raw.split(",")) == 1:
            break  # a blank order_by means the default
        if not words or len(words) > 2 or words[0].lower() not in allowed:
            raise param_error("inclusion", **{"in": allowed})
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise param_error("inclusion", **{"in": allowed})
        terms.append((words[0].lower(), direction == "DESC"))
    return terms or [("name", False)]


def _id_field() -> serializers.IntegerField:
    """A database id: positive and within a 64-bit integer (larger values must not reach SQL)."""
    return serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class MemberOfferListQuerySerializer(serializers.Serializer):
    scope = OfferScopeField()
    per_page = per_page_field(maximum=100, default=100)
    page_no = page_no_field()
    include_pagination_info = QueryBooleanField(required=False, default=False)
    order_by = serializers.CharField(required=False, allow_blank=True, default="name", max_length=1000)
    collection_ids = QueryListField(child=_id_field(), required=False, max_length=1000)
    tags = QueryListField(child=serializers.CharField(max_length=255), required=False, max_length=1000)
    stores = QueryListField(child=serializers.CharField(max_length=255), required=False, max_length=1000)
    ids = QueryListField(child=_id_field(), required=False, max_length=1000)
    type = OfferTypeField(required=False)
    campaign_id = QueryListField(
        child=serializers.IntegerField(min_value=-(2**63), max_value=2**63 - 1), required=False, max_length=1000
    )
    search = serializers.CharField(required=False, allow_blank=True, max_length=255)
    usable = QueryBooleanField(required=False, default=False)
    liked = QueryBooleanField(required=False, default=False)

    validation_is_pure = True  # validate() reads the input and the context only (see kit.api.params)

    def validate(self, attrs):
        collection_ids = attrs.get("collection_ids") or []
        allowed = order_attributes(guest=self.context.get("guest", False), single_collection=len(collection_ids) == 1)
        try:
            attrs["order_by"] = parse_order_by(attrs.get("order_by") or "", allowed=allowed)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"order_by": exc.detail}) from None
        return attrs


class MemberOfferUseInputSerializer(serializers.Serializer):
    authorization_token = StrictCharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)


def _positive_seconds(value: int) -> None:
    if value <= 0:
        raise param_error("greater_than", number=0)


class MemberOfferGrantInputSerializer(serializers.Serializer):
    usable_for_seconds = StrictIntegerField(
        required=False, allow_null=True, max_value=10**10, validators=[_positive_seconds]
    )


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+$"}]})
class OfferIdField(serializers.Field):
    """An offer id as a JSON integer or a string of digits."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            raise param_error("not_an_integer")
        if isinstance(data, int) or (isinstance(data, str) and data.strip().isdigit()):
            value = int(data)
            if 0 < value < 2**63:
                return value
        raise param_error("not_an_integer")

    def to_representation(self, value):  # pragma: no cover - input only
        return value


@extend_schema_field(OpenApiTypes.DATETIME)
class EventTimeField(serializers.Field):
    """ISO 8601; a naive time is read in the club's timezone (SPEC §1.6). Returned in UTC: PostgreSQL refuses
    offsets beyond ±15:59 that ISO 8601 and Python allow. A well-formed impossible date (`2030-02-30`) and an
    instant outside the UTC years 1–9999 (`0001-01-01T00:00:00+14:00`) are invalid times, not errors."""

    def to_internal_value(self, data):
        try:
            parsed = parse_datetime(data) if isinstance(data, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise param_error("invalid_iso_8601_time")
        try:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed, self.context["tz"])
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise param_error("invalid_iso_8601_time") from None

    def to_representation(self, value):  # pragma: no cover - input only
        return format_datetime(value)


class OfferEventInputSerializer(serializers.Serializer):
    offer_id = OfferIdField()
    created_at = EventTimeField(required=False, allow_null=True)
    context = serializers.DictField(required=False, allow_null=True)


class OfferEventsInputSerializer(serializers.Serializer):
    events = OfferEventInputSerializer(many=True, max_length=500)


# --- Output -------------------------------------------------------------------------------------------


def file_to_json(row: dict[str, Any]) -> dict[str, Any]:
    url = row["url"] or (f"{settings.PUBLIC_BASE_URL}{settings.MEDIA_URL}{row['file']}" if row["file"] else None)
    return {
        "url": url,
        "width": row["width"],
        "height": row["height"],
        "kind": row["kind"],
        "size_type": row["size_type"],
    }


def usage_to_json(
    *,
    usable: bool,
    max_uses: int | None,
    uses_left: int | None,
    last_used_at: datetime | None,
    period_uses: int,
    periodic_timespan: str | None,
    periodic_limit: int | None,
    activated_seconds_time: int,
) -> dict[str, Any]:
    period = None
    if periodic_timespan:
        period = {
            "timespan": periodic_timespan.upper(),
            "max_uses": periodic_limit,
            "uses_left": max(periodic_limit - period_uses, 0),
        }
    active_until = last_used_at + timedelta(seconds=activated_seconds_time) if last_used_at else None
    return {
        "usable": bool(usable),
        "max_uses": max_uses,
        "uses_left": uses_left,
        "active_until": format_datetime(active_until),
        "period": period,
    }


def _texts(value: Any, keys: tuple[str, ...], languages: list[str]) -> dict[str, Any]:
    value = value if isinstance(value, dict) else {}
    return {key: text_for(value.get(key), languages) for key in keys}


# Most offers keep the default display schemas: one shared answer for them (read only, like every rendered
# content: offers/api/content.py keeps thousands of these per worker).
_DEFAULT_DISPLAY_SCHEMAS = display_schemas_resolve(None)


def _display_schemas(stored: Any) -> dict[str, Any]:
    if not stored or not isinstance(stored, dict):
        return _DEFAULT_DISPLAY_SCHEMAS
    return display_schemas_resolve(stored)


def offer_content_to_json(row: dict[str, Any], *, languages: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the member view of an offer (SPEC §4.2) shows of its content, from a row of
    `offers.selectors.content.content_rows`, in the languages asked for: the keys before the member's
    `liked` and `usage`, and the keys after them (`offer_to_json` puts them in that order). The same for
    every member, so offers/api/content.py keeps it per content revision: nothing may change it afterwards."""
    files = [file_to_json(f) for f in row["files"]]
    head = {
        "id": row["id"],
        "name": text_for(row["name"], languages),
        "type": row["type"],
        "description": text_for(row["description"], languages),
        "external_url": row["external_url"],
        "usable_since": format_datetime(row["usable_since"]),
        "usable_until": format_datetime(row["usable_until"]),
        "collection_ids": row["collection_ids"],
        "tags": row["tags"],
        "stores": row["stores"],
        "files": files,
        "images": files,
    }
    tail = {
        "usage_authorization_token_required": row["usage_authorization_token_required"],
        "extras": row["extras"] if isinstance(row["extras"], dict) else {},
        "display": {
            "schemas": _display_schemas(row["display_schemas"]),
            "read_more": _texts(row["read_more"], ("button_title", "url", "title", "text"), languages),
            "activation_texts": _texts(row["activation_texts"], ("modal", "button", "description"), languages),
        },
    }
    return head, tail


def offer_to_json(
    row: dict[str, Any], content: tuple[dict[str, Any], dict[str, Any]], *, activated_seconds_time: int
) -> dict[str, Any]:
    """The member view of an offer (SPEC §4.2): its content (`offer_content_to_json`) around the member's
    figures, from a row of `offers.selectors.listing` (`offers_page`, `offer_row_get`)."""
    head, tail = content
    return {
        **head,
        "liked": bool(row["u_liked"]),
        "usage": usage_to_json(
            usable=row["u_usable"],
            max_uses=row["u_max_uses"],
            uses_left=row["u_uses_left"],
            last_used_at=row["u_last_used_at"],
            period_uses=row["u_period_uses"] or 0,
            periodic_timespan=row["periodic_timespan"],
            periodic_limit=row["periodic_limit"],
            activated_seconds_time=activated_seconds_time,
        ),
        **tail,
    }


def collection_to_json(row: dict[str, Any], *, languages: list[str]) -> dict[str, Any]:
    short_description = text_for(row["short_description"], languages)
    return {
        "id": row["id"],
        "title": text_for(row["title"], languages),
        "short_title": short_description,
        "description": text_for(row["description"], languages),
        "short_description": short_description,
        "offers_order": row["offers_order"] if isinstance(row["offers_order"], list) else [],
        "files": [file_to_json(f) for f in row["files"]],
    }


# --- Output serializers (OpenAPI only) --------------------------------------------------------------


class OfferFileSerializer(serializers.Serializer):
    url = serializers.CharField(allow_null=True)
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField()
    size_type = serializers.ChoiceField(choices=["original", "base", "thumbnail"])


class MemberOfferUsagePeriodSerializer(serializers.Serializer):
    timespan = serializers.ChoiceField(choices=["MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR"])
    max_uses = serializers.IntegerField()
    uses_left = serializers.IntegerField(allow_null=True)


class MemberOfferUsageSerializer(serializers.Serializer):
    usable = serializers.BooleanField()
    max_uses = serializers.IntegerField(allow_null=True)
    uses_left = serializers.IntegerField(allow_null=True)
    active_until = serializers.DateTimeField(allow_null=True)
    period = MemberOfferUsagePeriodSerializer(allow_null=True)


class DisplayFieldSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["reference", "inline", "empty"])
    value = serializers.CharField(allow_null=True)


class DisplaySchemaSerializer(serializers.Serializer):
    header = DisplayFieldSerializer()
    body = DisplayFieldSerializer()
    caption = DisplayFieldSerializer()


class DisplaySchemasSerializer(serializers.Serializer):
    list = DisplaySchemaSerializer()
    details = DisplaySchemaSerializer()


class DisplayReadMoreSerializer(serializers.Serializer):
    button_title = serializers.CharField(allow_null=True)
    url = serializers.CharField(allow_null=True)
    title = serializers.CharField(allow_null=True)
    text = serializers.CharField(allow_null=True)


class DisplayActivationTextsSerializer(serializers.Serializer):
    modal = serializers.CharField(allow_null=True)
    button = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)


class MemberOfferDisplaySerializer(serializers.Serializer):
    schemas = DisplaySchemasSerializer()
    read_more = DisplayReadMoreSerializer()
    activation_texts = DisplayActivationTextsSerializer()


class MemberOfferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_null=True)
    type = serializers.ChoiceField(choices=OfferType.values)
    description = serializers.CharField(allow_null=True)
    external_url = serializers.CharField(allow_null=True)
    usable_since = serializers.DateTimeField(allow_null=True)
    usable_until = serializers.DateTimeField(allow_null=True)
    collection_ids = serializers.ListField(child=serializers.IntegerField())
    tags = serializers.ListField(child=serializers.CharField())
    stores = serializers.ListField(child=serializers.CharField())
    files = OfferFileSerializer(many=True)
    images = OfferFileSerializer(many=True)
    liked = serializers.BooleanField()
    usage = MemberOfferUsageSerializer()
    usage_authorization_token_required = serializers.BooleanField()
    extras = serializers.DictField()
    display = MemberOfferDisplaySerializer()


class MemberOfferResponseSerializer(serializers.Serializer):
    offer = MemberOfferSerializer()


class MemberOfferListResponseSerializer(serializers.Serializer):
    offers = MemberOfferSerializer(many=True)
    pagination_info = PaginationInfoSerializer(required=False)


class MemberOfferUseResponseSerializer(serializers.Serializer):
    usage = MemberOfferUsageSerializer()


class OfferCollectionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField(allow_null=True)
    short_title = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    short_description = serializers.CharField(allow_null=True)
    offers_order = serializers.ListField(child=serializers.IntegerField())
    files = OfferFileSerializer(many=True)


class MemberOffersMetaResponseSerializer(serializers.Serializer):
    tags = serializers.ListField(child=serializers.CharField())
    stores = serializers.ListField(child=serializers.CharField())
    collections = OfferCollectionSerializer(many=True)
    activated_seconds_time = serializers.IntegerField()
