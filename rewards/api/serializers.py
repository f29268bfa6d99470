"""Serializers of the rewards API (SPEC §6–7). Input serializers validate shapes; output serializers document
the responses (bodies are built by `rewards.presenters`). Names are globally unique."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from kit.api.params import (
    StrictCharField,
    StrictIntegerField,
    page_no_field,
    param_error,
    per_page_field,
)
from loyalty.api.serializers import PaginationInfoSerializer
from rewards.models import MAX_POINTS, Achievement, Reward


class RewardsClubDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset; a naive time is read in the club's time zone (SPEC §1.6). The club comes from
    the serializer context."""

    def default_timezone(self):
        club = self.context.get("club")
        return club.tzinfo if club is not None else super().default_timezone()

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid", format="ISO 8601")
        return super().to_internal_value(value)


@extend_schema_field(
    {
        "type": "string",
        "pattern": "^(" + "|".join(Achievement.TYPES) + ")$",
        "description": "One of: " + ", ".join(Achievement.TYPES),
    }
)
class AchievementTypeField(serializers.ChoiceField):
    """An achievement type. The schema states it as a pattern: an enum would be hoisted into a component
    named after the field, `type`, which other apps' enums already use."""

    def __init__(self, **kwargs):
        super().__init__(choices=Achievement.TYPES, **kwargs)


def _points_field(**kwargs) -> StrictIntegerField:
    return StrictIntegerField(min_value=1, max_value=MAX_POINTS, **kwargs)


# --- Program configuration ---------------------------------------------------------------------------
# The LevelsProgram body is parsed by rewards.levels_program, which the admin uses too.


class RewardsProgramInfoUpdateInputSerializer(serializers.Serializer):
    levels_program = serializers.JSONField(
        required=False, allow_null=True, help_text="LevelsProgram (regular or virtual_level) or null"
    )
    reward_activation_time = StrictIntegerField(min_value=0, max_value=10**8, required=False)
    points_validity_days = StrictIntegerField(min_value=1, max_value=100_000, required=False, allow_null=True)


class RewardsLevelSerializer(serializers.Serializer):
    name = serializers.CharField()
    points_threshold = serializers.IntegerField()


class RewardsFrequencySerializer(serializers.Serializer):
    timespan = serializers.ChoiceField(choices=Achievement.TIMESPANS)
    limit = StrictIntegerField(min_value=1, max_value=10**6)


class RewardsAchievementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = AchievementTypeField()
    name = serializers.CharField()
    points = serializers.IntegerField()
    limit = serializers.IntegerField(allow_null=True)
    frequency = RewardsFrequencySerializer(allow_null=True)


class RewardsProgramInfoResponseSerializer(serializers.Serializer):
    achievements = RewardsAchievementSerializer(many=True)
    levels_program = serializers.JSONField(allow_null=True, help_text="LevelsProgram or null")
    reward_activation_time = serializers.IntegerField()
    points_validity_days = serializers.IntegerField(allow_null=True)


# --- Achievement rules -------------------------------------------------------------------------------


class RewardsAchievementAttributesInputSerializer(serializers.Serializer):
    type = AchievementTypeField()
    name = StrictCharField(max_length=200)
    points = _points_field()
    limit = StrictIntegerField(min_value=1, max_value=10**6, required=False, allow_null=True)
    frequency = RewardsFrequencySerializer(required=False, allow_null=True)


class RewardsAchievementInputSerializer(serializers.Serializer):
    achievement = RewardsAchievementAttributesInputSerializer()


class RewardsAchievementResponseSerializer(serializers.Serializer):
    achievement = RewardsAchievementSerializer()


class RewardsAchievementListResponseSerializer(serializers.Serializer):
    achievements = RewardsAchievementSerializer(many=True)


class RewardsEmptyResponseSerializer(serializers.Serializer):
    pass


# --- Ledger --------------------------------------------------------------------------------------------


class RewardsTransactionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField(
        help_text="achievement | grant | correction | reward_purchase | expiration | cancellation"
    )
    date = serializers.DateTimeField()
    amount = serializers.IntegerField(help_text="Signed points")
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="When the points of a point-adding row expire; null if never or not a lot"
    )
    expired_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    details = serializers.DictField(help_text="Type-specific details (SPEC §6.5)")


class RewardsTransactionResponseSerializer(serializers.Serializer):
    transaction = RewardsTransactionSerializer()


class RewardsExpiringPointsSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="Calendar day in the club's time zone")
    points = serializers.IntegerField()


class RewardsStatusResponseSerializer(serializers.Serializer):
    membership = serializers.BooleanField()
    membership_started_at = serializers.DateTimeField(required=False)
    balance = serializers.IntegerField(required=False)
    lifetime_points = serializers.IntegerField(required=False)
    level = serializers.CharField(required=False, allow_null=True)
    expiring_points = RewardsExpiringPointsSerializer(many=True, required=False)
    transactions = RewardsTransactionSerializer(many=True, required=False)
    pagination_info = PaginationInfoSerializer(required=False)


class RewardsStatusQuerySerializer(serializers.Serializer):
    per_page = per_page_field(maximum=1000, default=1000)
    page = page_no_field()
    page_no = page_no_field()


class RewardsSummaryQuerySerializer(serializers.Serializer):
    months_no = serializers.IntegerField(min_value=0, max_value=999, default=12, required=False)


class RewardsSummaryByTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    times_achieved = serializers.IntegerField()
    total_amount_earned = serializers.IntegerField()


class RewardsSummaryByMonthSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    month = serializers.IntegerField()
    achievements_made = serializers.IntegerField()
    total_amount_earned = serializers.IntegerField()


class RewardsSummaryResponseSerializer(serializers.Serializer):
    achievements_by_type = RewardsSummaryByTypeSerializer(many=True)
    achievements_by_month = RewardsSummaryByMonthSerializer(many=True)


class RewardsAchievementReportInputSerializer(serializers.Serializer):
    type = AchievementTypeField()


class RewardsGrantPointsInputSerializer(serializers.Serializer):
    points = _points_field()
    grant_type = StrictCharField(max_length=100, required=False)
    grant_properties = serializers.DictField(required=False)


class RewardsCorrectionInputSerializer(serializers.Serializer):
    points = StrictIntegerField(min_value=-MAX_POINTS, max_value=MAX_POINTS)
    comment = StrictCharField(max_length=1000, required=False, allow_blank=True)

    def validate_points(self, value):
        if value == 0:
            raise param_error("invalid", format="non-zero integer")
        return value


# --- Rewards shop ------------------------------------------------------------------------------------


class RewardsFileSerializer(serializers.Serializer):
    url = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField()
    size_type = serializers.CharField()


class RewardsRewardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    price = serializers.IntegerField()
    required_member_level = serializers.CharField(allow_null=True)
    remaining_stock = serializers.IntegerField(allow_null=True, help_text="null = unlimited")
    available_until = serializers.DateTimeField(allow_null=True)
    files = RewardsFileSerializer(many=True)


class RewardsRewardListResponseSerializer(serializers.Serializer):
    rewards = RewardsRewardSerializer(many=True)


class RewardsUsageSerializer(serializers.Serializer):
    left = serializers.IntegerField(allow_null=True, help_text="Uses left; null = unlimited")
    active_until = serializers.DateTimeField(allow_null=True)
    usable_until = serializers.DateTimeField(allow_null=True)
    usable = serializers.BooleanField()


class RewardsPurchasedRewardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    required_member_level = serializers.CharField(allow_null=True)
    available_until = serializers.DateTimeField(allow_null=True)
    files = RewardsFileSerializer(many=True)
    usage = RewardsUsageSerializer()


class RewardsPurchasedListResponseSerializer(serializers.Serializer):
    rewards = RewardsPurchasedRewardSerializer(many=True)


class RewardsUseResponseSerializer(serializers.Serializer):
    usage = RewardsUsageSerializer()


class RewardsAdminRewardSerializer(RewardsRewardSerializer):
    status = serializers.ChoiceField(choices=[Reward.DRAFT, Reward.PUBLISHED])
    stock = serializers.IntegerField(allow_null=True)
    uses_per_purchase = serializers.IntegerField(allow_null=True)
    usable_for_seconds = serializers.IntegerField(allow_null=True)
    archived_at = serializers.DateTimeField(allow_null=True)


class RewardsAdminRewardResponseSerializer(serializers.Serializer):
    reward = RewardsAdminRewardSerializer()


class RewardsAdminRewardListResponseSerializer(serializers.Serializer):
    rewards = RewardsAdminRewardSerializer(many=True)
    pagination_info = PaginationInfoSerializer()


class RewardsAdminRewardListQuerySerializer(serializers.Serializer):
    per_page = per_page_field(maximum=100, default=100)
    page_no = page_no_field()


class RewardsFileInputSerializer(serializers.Serializer):
    url = StrictCharField(max_length=2000)
    width = StrictIntegerField(min_value=0, max_value=100_000, required=False, allow_null=True, default=None)
    height = StrictIntegerField(min_value=0, max_value=100_000, required=False, allow_null=True, default=None)
    kind = StrictCharField(max_length=50, required=False, default="reward_default")
    size_type = StrictCharField(max_length=50, required=False, default="original")

    def to_internal_value(self, data):
        # A partial update (PUT) skips field defaults, yet a stored file must carry every key of the contract.
        value = super().to_internal_value(data)
        return {"width": None, "height": None, "kind": "reward_default", "size_type": "original", **value}


class RewardsRewardAttributesInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    description = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=10_000)
    price = _points_field()
    required_member_level = StrictCharField(max_length=200, required=False, allow_null=True)
    status = serializers.ChoiceField(choices=[Reward.DRAFT, Reward.PUBLISHED], required=False)
    stock = StrictIntegerField(min_value=0, max_value=10**9, required=False, allow_null=True)
    uses_per_purchase = StrictIntegerField(min_value=1, max_value=10**6, required=False, allow_null=True)
    usable_for_seconds = StrictIntegerField(min_value=1, max_value=10**10, required=False, allow_null=True)
    available_until = RewardsClubDateTimeField(required=False, allow_null=True)
    archived_at = RewardsClubDateTimeField(required=False, allow_null=True)
    files = RewardsFileInputSerializer(many=True, required=False, max_length=50)


class RewardsRewardInputSerializer(serializers.Serializer):
    reward = RewardsRewardAttributesInputSerializer()
