"""Input parsing and output shapes of offers management (SPEC §5). Names are globally unique (`OffersAdmin…`).

Batch items are parsed one by one (`offer_payload_parse`) so that a bad item becomes an entry of the batch's
`errors` map instead of a 422 for the whole request; their messages are flattened to `field` /
`field.sub.key` → [messages] (SPEC §5.3). Responses are built by plain functions (`offer_admin_to_json`,
`collection_admin_to_json`); the output serializers below document them in the OpenAPI schema.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from kit.api.params import (
    QueryListField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    build_details,
    page_no_field,
    param_error,
    per_page_field,
)
from kit.formats import format_datetime
from loyalty.api.serializers import PaginationInfoSerializer
from offers.api.image_template_serializers import (
    ImageTemplateModelOutputSerializer,
    OfferImageTemplateSerializer,
    image_template_clean,
    model_json,
)
from offers.api.serializers import (
    DisplaySchemasSerializer,
    EventTimeField,
    OfferFileSerializer,
    OfferTypeField,
    QueryBooleanField,
    file_to_json,
)
from offers.display import DisplaySchemasField, display_schemas_resolve
from offers.models import Collection, FileKind, Offer, OfferStatus, Scope, SizeType, Timespan
from offers.selectors.catalog import SORT_ATTRIBUTES
from offers.texts import text_unsafe

MAX_ID = 2**63 - 1
MAX_LIMIT = 10**9
_LANGUAGE = re.compile(r"[A-Za-z0-9_-]{1,20}")
TEXT_FORMAT = "string or {language: string} object"


def _unsafe_error() -> serializers.ValidationError:
    return param_error("invalid", format="text without NUL or surrogate characters")


def _id_field(**kwargs) -> StrictIntegerField:
    return StrictIntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def _limit_field() -> StrictIntegerField:
    # Positive is a rule of SPEC §5.1 (offers.services.catalog); here only what the column can hold.
    return StrictIntegerField(required=False, allow_null=True, default=None, max_value=MAX_LIMIT)


class CaseInsensitiveChoiceField(serializers.ChoiceField):
    """A choice in any letter case, stored in the case of its choices (`lower` or `upper`)."""

    def __init__(self, *, choices, upper: bool = False, **kwargs):
        self.upper = upper
        super().__init__(choices=choices, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = data.upper() if self.upper else data.lower()
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": {"type": "string"}}],
        "nullable": True,
        "description": "A string, or a {language: text} map (SPEC §4.9)",
    }
)
class LocalizedTextField(serializers.Field):
    """A text: a string, or a `{language: string}` map."""

    def __init__(self, *, max_length: int = 10_000, **kwargs):
        self.max_length = max_length
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("default", None)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        texts = [data] if isinstance(data, str) else list(data.values()) if isinstance(data, dict) else None
        if texts is None or not all(isinstance(t, str) for t in texts):
            raise param_error("invalid", format=TEXT_FORMAT)
        if isinstance(data, dict) and not all(_LANGUAGE.fullmatch(k) for k in data):
            raise param_error("invalid", format=TEXT_FORMAT)
        if text_unsafe(data):
            raise _unsafe_error()
        if any(len(t) > self.max_length for t in texts):
            raise param_error("too_long", max_length=self.max_length)
        return data

    def to_representation(self, value):  # pragma: no cover - input only
        return value


def _time() -> EventTimeField:
    return EventTimeField(required=False, allow_null=True, default=None)


def _text(**kwargs) -> StrictCharField:
    return StrictCharField(required=False, allow_null=True, allow_blank=True, default=None, **kwargs)


@extend_schema_field({"type": "object", "additionalProperties": True})
class OffersAdminExtrasField(serializers.JSONField):
    """Free-form object; null means `{}`."""

    def to_internal_value(self, data):
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise param_error("must_be_an_object")
        if text_unsafe(data):
            raise _unsafe_error()
        return data


class OffersAdminDisplaySchemasField(DisplaySchemasField):
    """The member API's display schema rules (SPEC §4.8), plus text PostgreSQL can store."""

    def to_internal_value(self, data):
        if text_unsafe(data):
            raise _unsafe_error()
        return super().to_internal_value(data)


def _http_url(value: str) -> None:
    try:
        URLValidator(schemes=["http", "https"])(value)
    except DjangoValidationError:
        raise param_error("invalid", format="http(s) URL") from None


class OffersAdminFileInputSerializer(serializers.Serializer):
    url = StrictCharField(max_length=2000, validators=[_http_url])
    width = StrictIntegerField(required=False, allow_null=True, default=None, min_value=0, max_value=100_000)
    height = StrictIntegerField(required=False, allow_null=True, default=None, min_value=0, max_value=100_000)
    kind = serializers.ChoiceField(choices=FileKind.values, required=False, default=None, allow_null=True)
    size_type = serializers.ChoiceField(choices=SizeType.values, required=False, default=SizeType.ORIGINAL)


class OffersAdminReadMoreInputSerializer(serializers.Serializer):
    button_title = LocalizedTextField()
    url = LocalizedTextField(max_length=2000)
    title = LocalizedTextField()
    text = LocalizedTextField()


class OffersAdminActivationTextsInputSerializer(serializers.Serializer):
    modal = LocalizedTextField()
    button = LocalizedTextField()
    description = LocalizedTextField()


class OffersAdminPeriodicUsageInputSerializer(serializers.Serializer):
    timespan = CaseInsensitiveChoiceField(choices=Timespan.values)
    limit = StrictIntegerField(max_value=MAX_LIMIT)


class OffersAdminOfferInputSerializer(serializers.Serializer):
    """One offer of a batch. Every attribute is optional and takes its default when left out: on create as
    on update (PUT replaces the whole offer, SPEC §5.3). Read-only attributes are ignored."""

    scope = CaseInsensitiveChoiceField(choices=Scope.values, required=False, default=Scope.STANDARD)
    type = OfferTypeField(required=False, default="REGULAR")
    status = serializers.ChoiceField(choices=OfferStatus.values, required=False, default=OfferStatus.DRAFT)
    name = LocalizedTextField(max_length=1000)
    description = LocalizedTextField()
    internal_name = _text(max_length=255)
    internal_description = _text(max_length=10_000)
    external_url = _text(max_length=2000)
    read_more = OffersAdminReadMoreInputSerializer(required=False, allow_null=True, default=None)
    activation_texts = OffersAdminActivationTextsInputSerializer(required=False, allow_null=True, default=None)
    usable_since = _time()
    usable_until = _time()
    visible_since = _time()
    visible_until = _time()
    collection_ids = serializers.ListField(child=_id_field(), required=False, default=list, max_length=100)
    tags = serializers.ListField(child=StrictCharField(max_length=255), required=False, default=list, max_length=100)
    stores = serializers.ListField(child=StrictCharField(max_length=255), required=False, default=list, max_length=100)
    audience_id = _id_field(required=False, allow_null=True, default=None)
    campaign_id = StrictIntegerField(
        required=False, allow_null=True, default=None, min_value=-MAX_ID - 1, max_value=MAX_ID
    )
    files = OffersAdminFileInputSerializer(many=True, required=False, default=list, max_length=20)
    extras = OffersAdminExtrasField(required=False, allow_null=True, default=dict)
    display_schemas = OffersAdminDisplaySchemasField(required=False, default=None)
    maximum_uses_per_user = _limit_field()
    maximum_grants_per_user = _limit_field()
    periodic_usage = OffersAdminPeriodicUsageInputSerializer(required=False, allow_null=True, default=None)
    stock = _limit_field()
    usage_authorization_token = _text(max_length=255, trim_whitespace=False)
    usage_authorization_token_required = StrictBooleanField(required=False, default=False)
    image_template = OfferImageTemplateSerializer(required=False, allow_null=True, default=None)


class OffersAdminOfferUpdateInputSerializer(OffersAdminOfferInputSerializer):
    id = _id_field()


def flatten_messages(tree: Any, prefix: str = "") -> dict[str, list[str]]:
    """A 422 details tree as SPEC §5.3's field → messages map; nested keys are joined with dots."""
    if isinstance(tree, list):
        return {prefix or "base": [leaf["message"] for leaf in tree]}
    out: dict[str, list[str]] = {}
    for key, sub in tree.items():
        out.update(flatten_messages(sub, f"{prefix}.{key}" if prefix else str(key)))
    return out


def offer_payload_parse(item: Any, *, tz, update: bool = False) -> tuple[dict | None, dict[str, list[str]]]:
    """One batch item → (attributes with every default filled in, {}) or (None, field → messages)."""
    if not isinstance(item, dict):
        return None, {"base": ["must be an object"]}
    serializer_class = OffersAdminOfferUpdateInputSerializer if update else OffersAdminOfferInputSerializer
    serializer = serializer_class(data=item, context={"tz": tz})
    if not serializer.is_valid():
        return None, flatten_messages(build_details(serializer, serializer.errors, item))
    attrs = dict(serializer.validated_data)
    for key in ("read_more", "activation_texts", "periodic_usage"):
        if attrs.get(key) is not None:
            attrs[key] = dict(attrs[key])
    attrs["files"] = [dict(f) for f in attrs["files"]]
    if attrs.get("image_template") is not None:
        attrs["image_template"] = image_template_clean(attrs["image_template"])
    return attrs, {}


# --- Envelopes and queries ------------------------------------------------------------------------


class OffersAdminBatchInputSerializer(serializers.Serializer):
    """Parsing only: the items are parsed one by one (`offer_payload_parse`)."""

    text_gate = False  # each item's text is checked with it, and refused in the batch's per-item errors
    offers = serializers.ListField(child=serializers.JSONField(allow_null=True), max_length=100)


class OffersAdminCreateInputSerializer(serializers.Serializer):
    """Documentation of `POST offers`."""

    offers = OffersAdminOfferInputSerializer(many=True, max_length=100)


class OffersAdminUpdateInputSerializer(serializers.Serializer):
    """Documentation of `PUT offers`."""

    offers = OffersAdminOfferUpdateInputSerializer(many=True, max_length=100)


class OffersAdminIdsInputSerializer(serializers.Serializer):
    ids = serializers.ListField(child=_id_field(), max_length=100)


def _positive_seconds(value: int) -> None:
    if value is not None and value <= 0:
        raise param_error("greater_than", number=0)


class OffersAdminGrantItemInputSerializer(serializers.Serializer):
    id = _id_field()
    audience_id = _id_field()
    usable_for_seconds = StrictIntegerField(
        required=False, allow_null=True, default=None, max_value=10**10, validators=[_positive_seconds]
    )


class OffersAdminGrantInputSerializer(serializers.Serializer):
    offers = OffersAdminGrantItemInputSerializer(many=True, max_length=100)

    def validate_offers(self, items):
        seen: set[int] = set()
        errors: dict[int, dict] = {}
        for index, item in enumerate(items):
            if item["id"] in seen:
                errors[index] = {"id": [param_error("taken").detail[0]]}
            seen.add(item["id"])
        if errors:
            raise serializers.ValidationError([errors.get(i, {}) for i in range(len(items))])
        return items


class OffersAdminListQuerySerializer(serializers.Serializer):
    per_page = per_page_field(maximum=100, default=100)
    page_no = page_no_field()
    sort_by = serializers.ChoiceField(choices=SORT_ATTRIBUTES, required=False, default="name")
    sort_direction = CaseInsensitiveChoiceField(choices=["asc", "desc"], required=False, default="asc")
    scope = QueryListField(child=CaseInsensitiveChoiceField(choices=Scope.values), required=False, max_length=10)
    types = QueryListField(child=OfferTypeField(), required=False, max_length=10)
    status = QueryListField(child=serializers.ChoiceField(choices=OfferStatus.values), required=False, max_length=10)
    collection_ids = QueryListField(child=_id_field(), required=False, max_length=1000)
    tags = QueryListField(child=serializers.CharField(max_length=255), required=False, max_length=1000)
    stores = QueryListField(child=serializers.CharField(max_length=255), required=False, max_length=1000)
    campaign_id = QueryListField(
        child=serializers.IntegerField(min_value=-MAX_ID - 1, max_value=MAX_ID), required=False, max_length=1000
    )
    audience_id = QueryListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False)
    search = serializers.CharField(required=False, allow_blank=True, max_length=255)
    ids = QueryListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False)
    without_collection = QueryBooleanField(required=False, default=False)
    without_tag = QueryBooleanField(required=False, default=False)
    without_audience_id = QueryBooleanField(required=False, default=False)
    without_campaign_id = QueryBooleanField(required=False, default=False)
    without_store = QueryBooleanField(required=False, default=False)
    without_shop = QueryBooleanField(required=False, default=False, help_text="The published name of `without_store`")
    include_total = QueryBooleanField(
        required=False, default=True, help_text="Published; `pagination_info` is always returned, so always true"
    )
    with_archived = QueryBooleanField(required=False, default=False)
    only_archived = QueryBooleanField(required=False, default=False)


# --- Collections ----------------------------------------------------------------------------------


class OffersAdminCollectionInputSerializer(serializers.Serializer):
    title = LocalizedTextField(max_length=1000)
    description = LocalizedTextField()
    short_description = LocalizedTextField()
    offers_order = serializers.ListField(child=_id_field(), required=False, default=list, max_length=10_000)
    files = OffersAdminFileInputSerializer(many=True, required=False, default=list, max_length=20)


class OffersAdminCollectionWrappedInputSerializer(serializers.Serializer):
    collection = OffersAdminCollectionInputSerializer()


class OffersAdminCollectionListQuerySerializer(serializers.Serializer):
    per_page = per_page_field(maximum=100, default=100)
    page_no = page_no_field()


def collection_attrs(validated: dict, *, partial: bool) -> dict:
    """Validated collection input as service attributes (partial: only what was sent)."""
    attrs = dict(validated)
    if "files" in attrs:
        attrs["files"] = [dict(f) for f in attrs["files"]]
    return attrs


# --- Output ---------------------------------------------------------------------------------------


def _file_row(file) -> dict[str, Any]:
    return file_to_json(
        {
            "url": file.url,
            "file": file.file.name if file.file else "",
            "width": file.width,
            "height": file.height,
            "kind": file.kind,
            "size_type": file.size_type,
        }
    )


def _texts_object(value: Any, keys: tuple[str, ...]) -> dict | None:
    if not isinstance(value, dict):
        return None
    return {key: value.get(key) for key in keys}


def offer_admin_to_json(offer: Offer) -> dict[str, Any]:
    """The admin offer (SPEC §5.1) from an offer with its relations prefetched
    (`offers.selectors.catalog.offers_with_relations`)."""
    periodic = {"timespan": offer.periodic_timespan, "limit": offer.periodic_limit} if offer.periodic_timespan else None
    return {
        "id": offer.id,
        "scope": offer.scope,
        "type": offer.type,
        "status": offer.status,
        "name": offer.name,
        "description": offer.description,
        "internal_name": offer.internal_name or None,
        "internal_description": offer.internal_description or None,
        "external_url": offer.external_url,
        "read_more": _texts_object(offer.read_more, ("button_title", "url", "title", "text")),
        "activation_texts": _texts_object(offer.activation_texts, ("modal", "button", "description")),
        "usable_since": format_datetime(offer.usable_since),
        "usable_until": format_datetime(offer.usable_until),
        "visible_since": format_datetime(offer.visible_since),
        "visible_until": format_datetime(offer.visible_until),
        "collection_ids": [m.collection_id for m in offer.collection_memberships.all()],
        "tags": [t.value for t in offer.tag_rows.all()],
        "stores": [s.value for s in offer.store_rows.all()],
        "audience_id": offer.audience_id,
        "campaign_id": offer.campaign_id,
        "files": [_file_row(f) for f in offer.files.all()],
        "extras": offer.extras if isinstance(offer.extras, dict) else {},
        "display_schemas": display_schemas_resolve(offer.display_schemas),
        "maximum_uses_per_user": offer.maximum_uses_per_user,
        "maximum_grants_per_user": offer.maximum_grants_per_user,
        "periodic_usage": periodic,
        "stock": offer.stock,
        "usage_authorization_token": offer.usage_authorization_token,
        "usage_authorization_token_required": offer.usage_authorization_token_required,
        "uses_count": offer.uses_count,
        "grants_count": offer.grants_count,
        "created_at": format_datetime(offer.created_at),
        "updated_at": format_datetime(offer.updated_at),
        "archived_at": format_datetime(offer.archived_at),
        # Only when set: the docs mark it optional, and SPEC's offer has no such key.
        **({"image_template": model_json(offer.image_template)} if offer.image_template is not None else {}),
    }


def collection_admin_to_json(collection: Collection) -> dict[str, Any]:
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "short_description": collection.short_description,
        "offers_order": collection.offers_order if isinstance(collection.offers_order, list) else [],
        "files": [_file_row(f) for f in collection.files.all()],
        "created_at": format_datetime(collection.created_at),
        "updated_at": format_datetime(collection.updated_at),
    }


# --- Output serializers (OpenAPI only) --------------------------------------------------------------


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": {"type": "string"}}],
        "nullable": True,
    }
)
class OffersAdminTextField(serializers.JSONField):
    pass


class OffersAdminReadMoreSerializer(serializers.Serializer):
    button_title = OffersAdminTextField()
    url = OffersAdminTextField()
    title = OffersAdminTextField()
    text = OffersAdminTextField()


class OffersAdminActivationTextsSerializer(serializers.Serializer):
    modal = OffersAdminTextField()
    button = OffersAdminTextField()
    description = OffersAdminTextField()


class OffersAdminPeriodicUsageSerializer(serializers.Serializer):
    timespan = serializers.ChoiceField(choices=Timespan.values)
    limit = serializers.IntegerField()


class OffersAdminOfferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    scope = serializers.ChoiceField(choices=Scope.values)
    type = serializers.ChoiceField(choices=["REGULAR", "EXCLUSIVE", "BIRTHDAY", "WELCOME"])
    status = serializers.ChoiceField(choices=OfferStatus.values)
    name = OffersAdminTextField()
    description = OffersAdminTextField()
    internal_name = serializers.CharField(allow_null=True)
    internal_description = serializers.CharField(allow_null=True)
    external_url = serializers.CharField(allow_null=True)
    read_more = OffersAdminReadMoreSerializer(allow_null=True)
    activation_texts = OffersAdminActivationTextsSerializer(allow_null=True)
    usable_since = serializers.DateTimeField(allow_null=True)
    usable_until = serializers.DateTimeField(allow_null=True)
    visible_since = serializers.DateTimeField(allow_null=True)
    visible_until = serializers.DateTimeField(allow_null=True)
    collection_ids = serializers.ListField(child=serializers.IntegerField())
    tags = serializers.ListField(child=serializers.CharField())
    stores = serializers.ListField(child=serializers.CharField())
    audience_id = serializers.IntegerField(allow_null=True)
    campaign_id = serializers.IntegerField(allow_null=True)
    files = OfferFileSerializer(many=True)
    extras = serializers.DictField()
    display_schemas = DisplaySchemasSerializer()
    maximum_uses_per_user = serializers.IntegerField(allow_null=True)
    maximum_grants_per_user = serializers.IntegerField(allow_null=True)
    periodic_usage = OffersAdminPeriodicUsageSerializer(allow_null=True)
    stock = serializers.IntegerField(allow_null=True)
    usage_authorization_token = serializers.CharField(allow_null=True)
    usage_authorization_token_required = serializers.BooleanField()
    uses_count = serializers.IntegerField()
    grants_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    archived_at = serializers.DateTimeField(allow_null=True)
    image_template = ImageTemplateModelOutputSerializer(required=False)


class OffersAdminOfferResponseSerializer(serializers.Serializer):
    offer = OffersAdminOfferSerializer()


class OffersAdminOfferListResponseSerializer(serializers.Serializer):
    offers = OffersAdminOfferSerializer(many=True)
    pagination_info = PaginationInfoSerializer()


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "description": "Failing item's index (string) → field → messages",
    }
)
class OffersAdminBatchErrorsField(serializers.JSONField):
    pass


class OffersAdminCreateResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    ids = serializers.ListField(child=serializers.IntegerField())
    errors = OffersAdminBatchErrorsField()


class OffersAdminUpdateResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    errors = OffersAdminBatchErrorsField()


class OffersAdminIdsResponseSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField())


class OffersAdminGrantResponseSerializer(serializers.Serializer):
    granted = serializers.IntegerField()


class OffersAdminCollectionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = OffersAdminTextField()
    description = OffersAdminTextField()
    short_description = OffersAdminTextField()
    offers_order = serializers.ListField(child=serializers.IntegerField())
    files = OfferFileSerializer(many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OffersAdminCollectionResponseSerializer(serializers.Serializer):
    collection = OffersAdminCollectionSerializer()


class OffersAdminCollectionListResponseSerializer(serializers.Serializer):
    collections = OffersAdminCollectionSerializer(many=True)
    pagination_info = PaginationInfoSerializer()
