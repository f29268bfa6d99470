"""The published members API's shapes (Placewise MPC docs, `10_members_api/0_members.md`), next to SPEC §3.2's.

SPEC wraps a member in `{"member": …}` on the way in and out; the published API sends the member's attributes
at the top level (`{"properties": {...}, "consents": {...}, "password": "…", "send_sms_welcome_message": …}`),
answers with the Member model at the top level, and reports invalid attributes as
`{"<property>": [{"property", "error"}]}`. A body is read in the published form when it has no `member` key and
carries one of the published top-level attributes; everything else keeps SPEC's form, so both kinds of client
get the answer they were written for (docs/decisions.md, "Published member bodies").
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response

from kit.api.params import StrictCharField, param_error, parse_body
from kit.errors import InvalidParameters, ResourceNotFound
from kit.messages import error_leaf
from loyalty import normalizers, selectors
from loyalty.api import member_serializers as s
from loyalty.api.base import LoyaltyAPIView
from loyalty.consents import MAX_CONSENTS
from loyalty.models import Member

# --- Input ----------------------------------------------------------------------------------------


class PublishedBooleanField(serializers.BooleanField):
    """A JSON boolean, or the strings `"true"` / `"false"` a PHP client's form values become; nothing else
    (SPEC's rule that `1` is not `true` still holds)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if isinstance(data, str) and data.strip().lower() in ("true", "false"):
            return data.strip().lower() == "true"
        self.fail("invalid")


@extend_schema_field({"description": "Not supported here: any value is refused with 422 `not_supported`"})
class RefusedField(serializers.Field):
    """A documented attribute this service does not implement: refused (422 `not_supported`) rather than
    silently ignored, so the client learns its request did not do what it asked."""

    def to_internal_value(self, data):
        raise param_error("not_supported")

    def to_representation(self, value):
        return value


class PublishedPropertiesInputSerializer(s.MemberPropertiesInputSerializer):
    gender = StrictCharField(required=False, allow_null=True, allow_blank=True)


class PublishedConsentInputSerializer(serializers.Serializer):
    status = PublishedBooleanField()
    updated_at = s.ClubDateTimeField(required=False, allow_null=True)


_CONSENT_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}", re.ASCII)


class ConsentsInputField(serializers.DictField):
    """`{"<slug>": {"status": bool, "updated_at"?: time} | null}`; null forgets the member's answer."""

    def __init__(self, **kwargs):
        super().__init__(child=PublishedConsentInputSerializer(allow_null=True), **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, list) and not data:
            # PHP's json_encode writes an empty associative array as `[]`: no consents.
            data = {}
        if isinstance(data, dict):
            if len(data) > MAX_CONSENTS:
                raise param_error("size_too_large", number=MAX_CONSENTS)
            bad = {
                key: [param_error("invalid", format=_CONSENT_SLUG.pattern).detail[0]]
                for key in data
                if not _CONSENT_SLUG.fullmatch(str(key))
            }
            if bad:
                raise serializers.ValidationError(bad)
        return super().to_internal_value(data)


class PublishedMemberCreateInputSerializer(serializers.Serializer):
    """POST /members in the published form."""

    properties = PublishedPropertiesInputSerializer()
    consents = ConsentsInputField(required=False)
    password = s.PasswordField(required=False, allow_null=True)
    # Welcome messages depend on the club's messaging setup (the docs: "may not be sent"); no club here has
    # messaging, so both values are honoured by sending nothing.
    send_sms_welcome_message = PublishedBooleanField(required=False)
    send_email_welcome_message = PublishedBooleanField(required=False)
    sms_enabled = RefusedField(required=False)
    email_enabled = RefusedField(required=False)
    push_enabled = RefusedField(required=False)
    registration_password = RefusedField(required=False)


class PublishedMemberUpdateInputSerializer(serializers.Serializer):
    """PUT /members/{id} (and /members/me) in the published form: partial, like SPEC's."""

    properties = PublishedPropertiesInputSerializer(required=False)
    consents = ConsentsInputField(required=False)
    password = s.PasswordField(required=False, allow_null=True)
    # Only the attributes sent are ever checked here, which is what `validate_partially: true` asks for; with
    # `false` the rest is checked too, and the stored rest always passes (the rules never change per club).
    validate_partially = PublishedBooleanField(required=False)
    sms_enabled = RefusedField(required=False)
    email_enabled = RefusedField(required=False)
    push_enabled = RefusedField(required=False)
    event_occurred_at = RefusedField(required=False)


class PublishedMemberSelfUpdateInputSerializer(PublishedMemberUpdateInputSerializer):
    password = s.PasswordField(required=False)


PUBLISHED_KEYS = frozenset(
    set(PublishedMemberCreateInputSerializer._declared_fields)
    | set(PublishedMemberUpdateInputSerializer._declared_fields)
)


def is_published_form(data: Any, *, properties_alone: bool = True) -> bool:
    """A body in the published form: an object without `member` that carries a published attribute.
    With `properties_alone=False` (member creation), `{"properties": …}` and nothing else stays SPEC's
    422 "member is missing": the answer SPEC's clients were promised for it (docs/decisions.md)."""
    if not isinstance(data, dict) or "member" in data:
        return False
    keys = PUBLISHED_KEYS & data.keys()
    return bool(keys if properties_alone else keys - {"properties"})


def published_changes(attrs: dict) -> dict[str, Any]:
    """Validated published attributes as keyword arguments of `members.member_create` / `member_update`."""
    changes = dict(attrs.get("properties", {}))
    for key in ("password", "consents"):
        if key in attrs:
            changes[key] = attrs[key]
    return changes


# --- Output ---------------------------------------------------------------------------------------


class PublishedConsentSerializer(serializers.Serializer):
    status = serializers.BooleanField()
    updated_at = serializers.CharField(allow_null=True)


class PublishedMemberPropertiesSerializer(s.MemberPropertiesSerializer):
    gender = serializers.CharField(allow_null=True)


class PublishedMemberSerializer(s.MemberSerializer):
    properties = PublishedMemberPropertiesSerializer()
    consents = serializers.DictField(child=PublishedConsentSerializer())


def published_member_to_json(member: Member) -> dict[str, Any]:
    """The published Member model: SPEC's member JSON plus `properties.gender` and `consents`."""
    body = s.member_to_json(member)
    body["properties"]["gender"] = member.gender
    body["consents"] = member.consents if isinstance(member.consents, dict) else {}
    return body


# The published validation error keys for the contract's (docs, "Validation on members").
_PUBLISHED_ERROR_KEYS = {
    "presence": "not_contain_required_property",
    "blank": "not_contain_required_property",
    "invalid_email": "invalid_email",
    "invalid_msisdn": "invalid_msisdn",
    "too_long": "maximum_string_length",
    "size_too_small": "minimum_string_length",
    "size_too_large": "maximum_string_length",
    "inclusion": "value_not_match",
    "not_a_boolean": "type_not_match",
    "must_be_an_object": "type_not_match",
    "invalid_iso_8601_time": "invalid_date_time_format",
}
# Identity properties are reported at the top level, as the docs' example does for `email`.
_TOP_LEVEL_PROPERTIES = ("email", "msisdn")


def _published_leaf(path: str, leaf: dict) -> dict:
    key = leaf.get("error")
    if key == "taken":
        published = f"duplicated_{path.rsplit('.', 1)[-1]}_in_community"
    elif key == "invalid" and (leaf.get("options") or {}).get("format") == "YYYY-MM-DD":
        published = "invalid_date_format"
    elif key == "invalid":
        published = "type_not_match"
    else:
        published = _PUBLISHED_ERROR_KEYS.get(key, key)
    # `property`/`error` are the published pair; value, options and message are kept for humans.
    return {
        "property": path,
        "error": published,
        "value": leaf.get("value"),
        "options": leaf.get("options", {}),
        "message": leaf.get("message"),
    }


def _flatten(prefix: str, tree: Any) -> list[tuple[str, dict]]:
    if isinstance(tree, list):
        return [(prefix, leaf) for leaf in tree if isinstance(leaf, dict)]
    if isinstance(tree, dict):
        return [pair for key, sub in tree.items() for pair in _flatten(f"{prefix}.{key}" if prefix else str(key), sub)]
    return []


def published_errors(details: dict) -> dict[str, Any]:
    """SPEC's 422 details tree (with or without its `member` wrapper) in the published shape:
    `{"email": [{"property": "email", "error": "duplicated_email_in_community"}],
      "properties": [{"error": {"first_name": [{"property": "first_name", "error": …}]}}], "password": […]}`."""
    tree = details.get("member", details) if isinstance(details, dict) else {}
    if not isinstance(tree, dict):
        tree = {"member": tree}
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        if key == "properties" and isinstance(sub, dict):
            nested: dict[str, list] = {}
            for name, leaves in sub.items():
                entries = [_published_leaf(path, leaf) for path, leaf in _flatten(name, leaves)]
                if name in _TOP_LEVEL_PROPERTIES:
                    out.setdefault(name, []).extend(entries)
                else:
                    nested.setdefault(name, []).extend(entries)
            if nested:
                out["properties"] = [{"error": nested}]
            continue
        for path, leaf in _flatten(key, sub):
            out.setdefault(key, []).append(_published_leaf(path, leaf))
    return out


class PublishedErrorSerializer(serializers.Serializer):
    property = serializers.CharField()
    error = serializers.CharField()
    value = serializers.JSONField(allow_null=True)
    options = serializers.DictField()
    message = serializers.CharField()


PUBLISHED_422 = OpenApiResponse(
    inline_serializer(
        "PublishedMemberValidationErrors",
        {
            "email": PublishedErrorSerializer(many=True, required=False),
            "msisdn": PublishedErrorSerializer(many=True, required=False),
            "properties": serializers.ListField(child=serializers.DictField(), required=False),
            "password": PublishedErrorSerializer(many=True, required=False),
            "consents": PublishedErrorSerializer(many=True, required=False),
        },
    ),
    description="Published form: invalid attributes as `{<attribute>: [{property, error, …}]}` (email and "
    "msisdn at the top level, other properties under `properties[0].error`). SPEC form: the Invalid "
    "parameters tree.",
)


def either(name: str, spec, published_form) -> PolymorphicProxySerializer:
    """`oneOf` SPEC's serializer and the published one, for the OpenAPI schema."""
    return PolymorphicProxySerializer(
        component_name=name, serializers=[spec, published_form], resource_type_field_name=None
    )


def published_write(request, serializer_class, write, *, status: int = 200) -> Response:
    """Parse a published-form body, run `write(changes)` → Member, answer the published Member (or the
    published validation errors, 422). The same services as SPEC's form: same rules, same events."""
    try:
        attrs = parse_body(serializer_class, request.data, context={"club": request.club})
        member = write(published_changes(attrs))
    except InvalidParameters as exc:
        return Response(published_errors(exc.details), status=422)
    return Response(published_member_to_json(member), status=status)


def refuse_property_filters(query) -> None:
    """The published `properties[<name>]=…` member filters are a per-club opt-in there ("must be enabled for
    querying in the Loyalty Club configuration") and none is enabled here: 422, not an unfiltered list."""
    refused = {key: [error_leaf("not_supported", query.get(key))] for key in query if key.startswith("properties")}
    if refused:
        raise InvalidParameters(refused)


# --- Lookups by email and msisdn ------------------------------------------------------------------


class MemberByIdentifierView(LoyaltyAPIView):
    """GET /members/by_email/{email} and /members/by_msisdn/{msisdn} (published; SPEC has only ids)."""

    permit = "BL:Api:Members:Get"
    identifier_type = "email"
    schema_tags = ["Members"]

    def _member(self, request, identifier: str) -> Member:
        normalize = normalizers.email_normalize if self.identifier_type == "email" else normalizers.msisdn_normalize
        try:
            normalize(identifier)
        except ValueError:
            key = "invalid_email" if self.identifier_type == "email" else "invalid_msisdn"
            raise InvalidParameters({self.identifier_type: [error_leaf(key, identifier)]}) from None
        member = selectors.member_find_by_identifier(
            club=request.club, identifier_type=self.identifier_type, identifier=identifier
        )
        if member is None:
            raise ResourceNotFound("Member", identifier)
        return member


class MemberByEmailView(MemberByIdentifierView):
    identifier_type = "email"

    @extend_schema(
        responses={200: PublishedMemberSerializer},
        summary="Show a member found by email (case-insensitive); the published Member at the top level",
    )
    def get(self, request, lc, email):
        return Response(published_member_to_json(self._member(request, email)))


class MemberByMsisdnView(MemberByIdentifierView):
    identifier_type = "msisdn"

    @extend_schema(
        responses={200: PublishedMemberSerializer},
        summary="Show a member found by msisdn (normalised first); the published Member at the top level",
    )
    def get(self, request, lc, msisdn):
        return Response(published_member_to_json(self._member(request, msisdn)))
