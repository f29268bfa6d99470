"""Serializers of the members, member OAuth and member groups API (SPEC §2.2, §3.2, §3.3).

Input serializers check shapes and types only; the member rules (formats of email and msisdn, password
length, uniqueness) live in `loyalty.services.members`, which the admin uses too. Names are globally unique.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from kit.api.params import (
    StrictCharField,
    StrictIntegerField,
    page_no_field,
    param_error,
    per_page_field,
)
from kit.formats import format_datetime
from loyalty.api.serializers import PaginationInfoSerializer
from loyalty.models import Member, MemberGroup
from loyalty.services.groups import GROUP_MEMBERS_PER_CALL
from loyalty.services.oauth import IssuedPair

# --- Fields ---------------------------------------------------------------------------------------


class ClubDateTimeField(serializers.DateTimeField):
    """An ISO 8601 string; a naive time is read in the club's timezone (SPEC §1.6). The club comes from the
    serializer context (`context={"club": club}`)."""

    def default_timezone(self):
        club = self.context.get("club")
        return club.tzinfo if club is not None else super().default_timezone()

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid", format="ISO 8601")
        return super().to_internal_value(value)


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


class StrictDateField(serializers.DateField):
    """Exactly `YYYY-MM-DD`, and a real calendar day."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            self.fail("invalid", format="YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail("invalid", format="YYYY-MM-DD")


class PasswordField(StrictCharField):
    """A password string, untrimmed (spaces are part of it). Length rules are the members service's."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("max_length", 4096)
        super().__init__(**kwargs)


# --- Member output --------------------------------------------------------------------------------


class MemberPropertiesSerializer(serializers.Serializer):
    email = serializers.CharField(allow_null=True)
    msisdn = serializers.CharField(allow_null=True, help_text="E.164 digits, no + (4740769126)")
    first_name = serializers.CharField(allow_null=True)
    last_name = serializers.CharField(allow_null=True)
    birthday = serializers.CharField(allow_null=True, help_text="YYYY-MM-DD")
    language = serializers.CharField(allow_null=True)


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    properties = MemberPropertiesSerializer()
    banned_until = serializers.CharField(allow_null=True)
    has_password = serializers.BooleanField()
    created_at = serializers.CharField()
    updated_at = serializers.CharField()


class MemberResponseSerializer(serializers.Serializer):
    member = MemberSerializer()


class MemberListResponseSerializer(serializers.Serializer):
    members = MemberSerializer(many=True)
    pagination_info = PaginationInfoSerializer()


def member_to_json(member: Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "properties": {
            "email": member.email,
            "msisdn": member.msisdn,
            "first_name": member.first_name,
            "last_name": member.last_name,
            "birthday": member.birthday.isoformat() if member.birthday else None,
            "language": member.language,
        },
        "banned_until": format_datetime(member.banned_until),
        "has_password": member.has_password,
        "created_at": format_datetime(member.created_at),
        "updated_at": format_datetime(member.updated_at),
    }


# --- Member input ---------------------------------------------------------------------------------


class MemberPropertiesInputSerializer(serializers.Serializer):
    email = StrictCharField(required=False, allow_null=True, allow_blank=True)
    msisdn = StrictCharField(required=False, allow_null=True, allow_blank=True)
    first_name = StrictCharField(required=False, allow_null=True, allow_blank=True)
    last_name = StrictCharField(required=False, allow_null=True, allow_blank=True)
    birthday = StrictDateField(required=False, allow_null=True)
    language = StrictCharField(required=False, allow_null=True, allow_blank=True)


class MemberCreateAttributesInputSerializer(serializers.Serializer):
    properties = MemberPropertiesInputSerializer()
    password = PasswordField(required=False, allow_null=True)
    banned_until = ClubDateTimeField(required=False, allow_null=True)


class MemberCreateInputSerializer(serializers.Serializer):
    member = MemberCreateAttributesInputSerializer()


class MemberUpdateAttributesInputSerializer(serializers.Serializer):
    """Partial: only the keys sent change. `password: null` removes the password, `banned_until: null` unbans."""

    properties = MemberPropertiesInputSerializer(required=False)
    password = PasswordField(required=False, allow_null=True)
    banned_until = ClubDateTimeField(required=False, allow_null=True)


class MemberUpdateInputSerializer(serializers.Serializer):
    member = MemberUpdateAttributesInputSerializer()


class MemberSelfUpdateAttributesInputSerializer(serializers.Serializer):
    """What a member may change about itself: properties and password. Like every body, unknown keys are
    ignored: `banned_until` and the read-only attributes are not fields here, so they can never be assigned
    (echoing a GET body back cannot lift a ban)."""

    properties = MemberPropertiesInputSerializer(required=False)
    password = PasswordField(required=False)


class MemberSelfUpdateInputSerializer(serializers.Serializer):
    member = MemberSelfUpdateAttributesInputSerializer()


def member_changes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Validated member attributes as keyword arguments of `members.member_create` / `member_update`."""
    changes = dict(attrs.get("properties", {}))
    for key in ("password", "banned_until"):
        if key in attrs:
            changes[key] = attrs[key]
    return changes


class MemberListQuerySerializer(serializers.Serializer):
    per_page = per_page_field(maximum=1000, default=100)
    page_no = page_no_field()
    search = serializers.CharField(required=False, allow_blank=True, max_length=200)


# --- Member OAuth ---------------------------------------------------------------------------------


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}]})
class MemberIdentifierField(serializers.Field):
    """A member id (integer or digits), an email or an msisdn: a string or an integer."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            raise param_error("invalid", format="string or integer")
        if isinstance(data, str) and len(data) > 254:
            raise param_error("too_long", max_length=254)
        if isinstance(data, str) and "\x00" in data:  # PostgreSQL refuses NUL in text: never let it reach a query
            raise param_error("invalid", format="string or integer")
        return data

    def to_representation(self, value):
        return value


class MemberOAuthTokenInputSerializer(serializers.Serializer):
    grant_type = serializers.ChoiceField(choices=["password", "refresh_token"])
    identifier_type = serializers.ChoiceField(choices=["id", "email", "msisdn"], required=False)
    identifier = MemberIdentifierField(required=False)
    password = PasswordField(required=False)
    refresh_token = StrictCharField(required=False, max_length=512)

    REQUIRED_BY_GRANT = {
        "password": ("identifier_type", "identifier", "password"),
        "refresh_token": ("refresh_token",),
    }

    def validate(self, attrs):
        missing = {
            name: param_error("presence").detail
            for name in self.REQUIRED_BY_GRANT[attrs["grant_type"]]
            if name not in attrs
        }
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


class MemberOAuthTokenResponseSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField(help_text="Always `bearer`")
    expires_in = serializers.IntegerField(help_text="Seconds the access token lives")
    refresh_token = serializers.CharField()
    created_at = serializers.IntegerField(help_text="Unix time")
    resource_owner_id = serializers.IntegerField(help_text="The member id")


def oauth_pair_to_json(issued: IssuedPair) -> dict[str, Any]:
    row = issued.row
    return {
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": int((row.access_expires_at - row.created_at).total_seconds()),
        "refresh_token": issued.refresh_token,
        "created_at": int(row.created_at.timestamp()),
        "resource_owner_id": row.member_id,
    }


class MemberOAuthRevokeInputSerializer(serializers.Serializer):
    token = StrictCharField(max_length=512)


class MemberOAuthApplicationSerializer(serializers.Serializer):
    uid = serializers.CharField(allow_null=True)


class MemberOAuthTokenInfoResponseSerializer(serializers.Serializer):
    resource_owner_id = serializers.IntegerField()
    scopes = serializers.ListField(child=serializers.CharField())
    expires_in_seconds = serializers.IntegerField()
    application = MemberOAuthApplicationSerializer()
    created_at = serializers.IntegerField(help_text="Unix time")


# --- Member groups --------------------------------------------------------------------------------


class MembersGroupSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    members_count = serializers.IntegerField()


class MembersGroupResponseSerializer(serializers.Serializer):
    members_group = MembersGroupSerializer()


class MembersGroupListResponseSerializer(serializers.Serializer):
    members_groups = MembersGroupSerializer(many=True)
    pagination_info = PaginationInfoSerializer()


class MemberGroupsResponseSerializer(serializers.Serializer):
    members_groups = MembersGroupSerializer(many=True)


def group_to_json(group: MemberGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "members_count": group.members_count,
    }


class MembersGroupCreateInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    description = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=10_000)


class MembersGroupCreateWrappedInputSerializer(serializers.Serializer):
    members_group = MembersGroupCreateInputSerializer()


class MembersGroupUpdateInputSerializer(MembersGroupCreateInputSerializer):
    name = StrictCharField(max_length=200, required=False)


class MembersGroupUpdateWrappedInputSerializer(serializers.Serializer):
    members_group = MembersGroupUpdateInputSerializer()


class MembersGroupListQuerySerializer(serializers.Serializer):
    per_page = per_page_field(maximum=100, default=100)
    page_no = page_no_field()
    search = serializers.CharField(required=False, allow_blank=True, max_length=200)


class MembersGroupMemberIdsInputSerializer(serializers.Serializer):
    member_ids = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=GROUP_MEMBERS_PER_CALL,
    )


class MembersGroupMembersChangeResponseSerializer(serializers.Serializer):
    not_found = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ids given that are not members of this loyalty club"
    )


class MembersGroupMemberIdsQuerySerializer(serializers.Serializer):
    per_page = per_page_field(maximum=1000, default=1000)
    page_no = page_no_field()


class MembersGroupMemberIdsResponseSerializer(serializers.Serializer):
    member_ids = serializers.ListField(child=serializers.IntegerField())
    pagination_info = PaginationInfoSerializer()
