"""Serializers of the core API: loyalty club and API client tokens. Names are globally unique."""

from __future__ import annotations

import zoneinfo

from rest_framework import serializers

from kit.api.params import (
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    page_no_field,
    param_error,
    per_page_field,
)
from kit.formats import format_datetime
from loyalty.models import ClientToken, LoyaltyClub
from loyalty.permits import PERMITS, POLICIES

_TIMEZONES = frozenset(zoneinfo.available_timezones())


# --- Loyalty club ---------------------------------------------------------------------------------


class LoyaltyClubSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    timezone = serializers.CharField()
    default_language = serializers.CharField()
    offers_enabled = serializers.BooleanField()
    rewards_enabled = serializers.BooleanField()
    activated_seconds_time = serializers.IntegerField()
    usage_authorization_tokens_count = serializers.IntegerField(
        help_text="The club-wide usage authorization tokens are write-only; only their count is shown"
    )
    access_token_ttl_seconds = serializers.IntegerField()
    refresh_token_ttl_seconds = serializers.IntegerField()


class LoyaltyClubResponseSerializer(serializers.Serializer):
    loyalty_club = LoyaltyClubSerializer()


def club_to_json(club: LoyaltyClub) -> dict:
    return {
        "id": club.id,
        "slug": club.slug,
        "name": club.name,
        "timezone": club.timezone,
        "default_language": club.default_language,
        "offers_enabled": club.offers_enabled,
        "rewards_enabled": club.rewards_enabled,
        "activated_seconds_time": club.activated_seconds_time,
        "usage_authorization_tokens_count": len(club.usage_authorization_tokens or []),
        "access_token_ttl_seconds": club.access_token_ttl_seconds,
        "refresh_token_ttl_seconds": club.refresh_token_ttl_seconds,
    }


def validate_timezone_name(value: str) -> str:
    if value not in _TIMEZONES:
        raise param_error("invalid", format="IANA time zone name")
    return value


class LoyaltyClubAttributesInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, required=False)
    timezone = StrictCharField(max_length=64, required=False, validators=[validate_timezone_name])
    default_language = StrictCharField(max_length=10, required=False)
    offers_enabled = StrictBooleanField(required=False)
    rewards_enabled = StrictBooleanField(required=False)
    activated_seconds_time = StrictIntegerField(min_value=0, max_value=10**8, required=False)
    usage_authorization_tokens = serializers.ListField(
        child=StrictCharField(max_length=255), max_length=100, required=False
    )
    access_token_ttl_seconds = StrictIntegerField(min_value=1, max_value=10**9, required=False)
    refresh_token_ttl_seconds = StrictIntegerField(min_value=1, max_value=10**10, required=False)


class LoyaltyClubUpdateInputSerializer(serializers.Serializer):
    loyalty_club = LoyaltyClubAttributesInputSerializer()


# --- Client tokens --------------------------------------------------------------------------------


class ClientTokenSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    permits = serializers.ListField(child=serializers.CharField())
    policies = serializers.ListField(child=serializers.CharField())
    loyalty_club_ids = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    product = serializers.CharField(allow_null=True)
    revoked_at = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()
    updated_at = serializers.CharField()


class ClientTokenWithSecretSerializer(ClientTokenSerializer):
    token = serializers.CharField(help_text="The secret. Shown only in the response that created the token.")


class ClientTokenResponseSerializer(serializers.Serializer):
    token = ClientTokenSerializer()


class ClientTokenCreatedResponseSerializer(serializers.Serializer):
    token = ClientTokenWithSecretSerializer()


class PaginationInfoSerializer(serializers.Serializer):
    total_count = serializers.IntegerField()
    per_page = serializers.IntegerField()
    total_pages = serializers.IntegerField()
    current_page = serializers.IntegerField()
    next_page = serializers.IntegerField(allow_null=True)
    prev_page = serializers.IntegerField(allow_null=True)
    is_first_page = serializers.BooleanField()
    is_last_page = serializers.BooleanField()
    is_out_of_range = serializers.BooleanField()


class ClientTokenListResponseSerializer(serializers.Serializer):
    tokens = ClientTokenSerializer(many=True)
    pagination_info = PaginationInfoSerializer()


def client_token_to_json(token: ClientToken, *, secret: str | None = None) -> dict:
    data = {
        "id": token.id,
        "name": token.name,
        "permits": list(token.permits or []),
        "policies": list(token.policies or []),
        "loyalty_club_ids": token.loyalty_club_ids,
        "product": token.product,
        "revoked_at": format_datetime(token.revoked_at),
        "created_at": format_datetime(token.created_at),
        "updated_at": format_datetime(token.updated_at),
    }
    if secret is not None:
        data["token"] = secret
    return data


class ClientTokenAttributesInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    permits = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(PERMITS)), required=False, max_length=500
    )
    policies = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(POLICIES)), required=False, max_length=50
    )
    loyalty_club_ids = serializers.ListField(
        child=StrictIntegerField(min_value=1), required=False, allow_null=True, max_length=1000
    )
    product = StrictCharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    # Published TokenPayload attributes without a counterpart here: their "no restriction" / "not internal"
    # values are what every token here is, anything else is refused rather than ignored.
    customers = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    internal = StrictBooleanField(required=False)

    def validate_customers(self, value):
        if value:
            raise param_error("not_supported")
        return value

    def validate_internal(self, value):
        if value:
            raise param_error("not_supported")
        return value

    def validate(self, attrs):
        attrs.pop("customers", None)
        attrs.pop("internal", None)
        return attrs

    def validate_loyalty_club_ids(self, value):
        if value is None:
            return None
        existing = set(LoyaltyClub.objects.filter(id__in=value).values_list("id", flat=True))
        unknown = [v for v in value if v not in existing]
        if unknown:
            raise param_error("invalid", format="ids of existing loyalty clubs")
        return value


class ClientTokenCreateInputSerializer(serializers.Serializer):
    token = ClientTokenAttributesInputSerializer()


class ClientTokenUpdateAttributesInputSerializer(ClientTokenAttributesInputSerializer):
    name = StrictCharField(max_length=200, required=False)


class ClientTokenUpdateInputSerializer(serializers.Serializer):
    token = ClientTokenUpdateAttributesInputSerializer()


class ClientTokenListQuerySerializer(serializers.Serializer):
    per_page = per_page_field(maximum=20, default=20)
    page_no = page_no_field()
    loyalty_club_id = serializers.IntegerField(required=False, min_value=1)
    product = serializers.CharField(required=False, max_length=100)
    policy = serializers.CharField(required=False, max_length=100)
    permit = serializers.CharField(required=False, max_length=200)
    search = serializers.CharField(required=False, max_length=200)
    internal = serializers.BooleanField(required=False, allow_null=True, default=None)

    def get_fields(self):
        fields = super().get_fields()
        # `global` is a Python keyword, so it cannot be declared as a class attribute.
        fields["global"] = serializers.BooleanField(required=False, allow_null=True, default=None)
        return fields


class PermitSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()


class PermitListResponseSerializer(serializers.Serializer):
    permits = PermitSerializer(many=True)


class PolicySerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    permits = serializers.ListField(child=serializers.CharField())


class PolicyListResponseSerializer(serializers.Serializer):
    policies = PolicySerializer(many=True)


class EmptyResponseSerializer(serializers.Serializer):
    """`{}`"""
