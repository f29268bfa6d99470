"""Rewards program endpoints (SPEC §6–7). Each view: parse, fetch through selectors, call one service, render."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from kit.api.params import parse_body, parse_query
from kit.api.schema import BannedResponseSerializer, ErrorResponseSerializer
from kit.errors import InvalidParameters
from kit.pagination import paginate
from loyalty.api.base import LoyaltyAPIView
from rewards import selectors, services
from rewards.api import serializers as s
from rewards.levels_program import parse_levels_program
from rewards.models import Reward
from rewards.presenters import (
    achievement_to_json,
    program_info_to_json,
    purchased_reward_to_json,
    reward_admin_to_json,
    reward_to_json,
    transaction_to_json,
)


class RewardsAPIView(LoyaltyAPIView):
    feature = "rewards"
    schema_tags = ["Rewards program"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.member is not None:
            request.member.club = request.club  # the same row; saves services a query


def _nested(key: str, exc: InvalidParameters) -> InvalidParameters:
    return InvalidParameters({key: exc.details.get("body", exc.details)})


class _Wrapper(serializers.Serializer):
    def __init__(self, *args, key: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[key] = serializers.DictField()


def parse_wrapped(serializer_class, data, *, key: str, partial: bool = False, context: dict | None = None) -> dict:
    """`{key: {...}}` bodies: 422 `presence` / `must_be_an_object` for the wrapper, then the attributes with
    their errors nested under `key` (partial updates validate only what is sent)."""
    parse_body(_Wrapper, data, key=key)
    try:
        return parse_body(serializer_class, data[key], partial=partial, context=context or {})
    except InvalidParameters as exc:
        raise _nested(key, exc) from None


# --- Program configuration and achievement rules -------------------------------------------------------


class ProgramInfoView(RewardsAPIView):
    permit = {"GET": "Rewards:Api:Program:GetInfo", "PUT": "Rewards:Api:Admin:Config:Update"}

    @extend_schema(responses=s.RewardsProgramInfoResponseSerializer, summary="Show the rewards program")
    def get(self, request, lc):
        config = services.program_config_get(club=request.club)
        return Response(program_info_to_json(config, selectors.achievements_list(club=request.club)))

    @extend_schema(
        request=s.RewardsProgramInfoUpdateInputSerializer,
        responses=s.RewardsProgramInfoResponseSerializer,
        summary="Update the rewards program configuration (partial)",
    )
    def put(self, request, lc):
        data = parse_body(s.RewardsProgramInfoUpdateInputSerializer, request.data)
        if data.get("levels_program") is not None:
            data["levels_program"] = parse_levels_program(data["levels_program"])
        config = services.program_config_update(club=request.club, **data)
        return Response(program_info_to_json(config, selectors.achievements_list(club=request.club)))


class AchievementRuleListView(RewardsAPIView):
    permit = "Rewards:Api:Admin:Achievements:Manage"
    creates = True

    @extend_schema(responses=s.RewardsAchievementListResponseSerializer, summary="List achievement rules")
    def get(self, request, lc):
        rules = selectors.achievements_list(club=request.club)
        return Response({"achievements": [achievement_to_json(rule) for rule in rules]})

    @extend_schema(
        request=s.RewardsAchievementInputSerializer,
        responses={201: s.RewardsAchievementResponseSerializer},
        summary="Create an achievement rule (one per type)",
    )
    def post(self, request, lc):
        attrs = parse_wrapped(s.RewardsAchievementAttributesInputSerializer, request.data, key="achievement")
        rule = services.achievement_create(club=request.club, **attrs)
        return Response({"achievement": achievement_to_json(rule)}, status=201)


class AchievementRuleDetailView(RewardsAPIView):
    permit = "Rewards:Api:Admin:Achievements:Manage"

    @extend_schema(
        request=s.RewardsAchievementInputSerializer,
        responses=s.RewardsAchievementResponseSerializer,
        summary="Update an achievement rule (partial)",
    )
    def put(self, request, lc, achievement_id):
        rule = selectors.achievement_get(club=request.club, achievement_id=achievement_id)
        attrs = parse_wrapped(
            s.RewardsAchievementAttributesInputSerializer, request.data, key="achievement", partial=True
        )
        rule = services.achievement_update(rule=rule, **attrs)
        return Response({"achievement": achievement_to_json(rule)})

    @extend_schema(responses=s.RewardsEmptyResponseSerializer, summary="Delete an achievement rule")
    def delete(self, request, lc, achievement_id):
        services.achievement_delete(rule=selectors.achievement_get(club=request.club, achievement_id=achievement_id))
        return Response({})


# --- Membership ----------------------------------------------------------------------------------------


class JoinView(RewardsAPIView):
    permit = {"me": "Rewards:Api:OAuth:Memberships:Create", "id": "Rewards:Api:Memberships:Create"}

    @extend_schema(
        request=None,
        responses={200: s.RewardsEmptyResponseSerializer, 467: BannedResponseSerializer},
        summary="Join the rewards program",
    )
    def post(self, request, lc, ctx, member_id=None):
        services.membership_join(member=request.member)
        return Response({})


class LeaveView(RewardsAPIView):
    permit = "Rewards:Api:OAuth:Memberships:Delete"

    @extend_schema(
        responses=s.RewardsEmptyResponseSerializer,
        summary="Leave the rewards program (deletes all points and transactions)",
    )
    def delete(self, request, lc, ctx):
        services.membership_leave(member=request.member)
        return Response({})


class StatusView(RewardsAPIView):
    permit = {"me": "Rewards:Api:OAuth:Memberships:CheckStatus", "id": "Rewards:Api:Memberships:CheckStatus"}

    @extend_schema(
        parameters=[s.RewardsStatusQuerySerializer],
        responses=s.RewardsStatusResponseSerializer,
        summary="Show the member's rewards status and transactions",
    )
    def get(self, request, lc, ctx, member_id=None):
        query = parse_query(s.RewardsStatusQuerySerializer, request.query_params)
        page = query["page"] if "page" in request.query_params else query["page_no"]
        status = selectors.membership_status(
            club=request.club, member=request.member, page_no=page, per_page=query["per_page"], now=timezone.now()
        )
        return Response(status)


class AchievementsSummaryView(RewardsAPIView):
    permit = "Rewards:Api:OAuth:Memberships:CheckStatus"

    @extend_schema(
        parameters=[s.RewardsSummaryQuerySerializer],
        responses=s.RewardsSummaryResponseSerializer,
        summary="Summarise the member's achievements by type and by month",
    )
    def get(self, request, lc, ctx):
        query = parse_query(s.RewardsSummaryQuerySerializer, request.query_params)
        membership = selectors.membership_get(member=request.member)
        summary = selectors.achievements_summary(
            club=request.club, membership=membership, months_no=query["months_no"], now=timezone.now()
        )
        return Response(summary)


class AchievementReportView(RewardsAPIView):
    permit = {"me": "Rewards:Api:OAuth:Achievements:Create", "id": "Rewards:Api:Achievements:Create"}

    @extend_schema(
        request=s.RewardsAchievementReportInputSerializer,
        responses={200: s.RewardsTransactionResponseSerializer, 467: BannedResponseSerializer},
        summary="Report an achievement (earns the rule's points)",
    )
    def post(self, request, lc, ctx, member_id=None):
        body = parse_body(s.RewardsAchievementReportInputSerializer, request.data)
        tx = services.achievement_report(member=request.member, type=body["type"])
        return Response({"transaction": transaction_to_json(tx)})


# --- Staff / back-end (/v1) ----------------------------------------------------------------------------


class GrantPointsView(RewardsAPIView):
    permit = "Rewards:Api:GrantPoints"
    member_id_is_context = True

    @extend_schema(
        request=s.RewardsGrantPointsInputSerializer,
        responses={200: s.RewardsTransactionResponseSerializer, 467: BannedResponseSerializer},
        summary="Grant points to a member",
    )
    def post(self, request, lc, member_id):
        body = parse_body(s.RewardsGrantPointsInputSerializer, request.data)
        tx = services.points_grant(member=request.member, **body)
        return Response({"transaction": transaction_to_json(tx)})


class CorrectionView(RewardsAPIView):
    permit = "Rewards:Api:Corrections:Create"
    member_id_is_context = True

    @extend_schema(
        request=s.RewardsCorrectionInputSerializer,
        responses=s.RewardsTransactionResponseSerializer,
        summary="Correct a member's points (positive or negative)",
    )
    def post(self, request, lc, member_id):
        body = parse_body(s.RewardsCorrectionInputSerializer, request.data)
        tx = services.points_correct(member=request.member, points=body["points"], comment=body.get("comment"))
        return Response({"transaction": transaction_to_json(tx)})


class CancelTransactionView(RewardsAPIView):
    permit = "Rewards:Api:Transactions:Cancel"
    member_id_is_context = True

    @extend_schema(
        responses={200: s.RewardsTransactionResponseSerializer, 405: ErrorResponseSerializer},
        summary="Cancel a transaction",
    )
    def delete(self, request, lc, member_id, transaction_id):
        cancellation = services.transaction_cancel(member=request.member, transaction_id=transaction_id)
        return Response({"transaction": transaction_to_json(cancellation)})


# --- Rewards shop (member) -----------------------------------------------------------------------------


class RewardListView(RewardsAPIView):
    permit = "Rewards:Api:OAuth:Rewards:List"

    @extend_schema(responses=s.RewardsRewardListResponseSerializer, summary="List the rewards on offer")
    def get(self, request, lc, ctx):
        selectors.membership_get(member=request.member)
        rewards = selectors.rewards_available(club=request.club, now=timezone.now())
        return Response({"rewards": [reward_to_json(reward) for reward in rewards]})


class RewardPurchasedListView(RewardsAPIView):
    permit = "Rewards:Api:OAuth:Rewards:ListPurchased"

    @extend_schema(responses=s.RewardsPurchasedListResponseSerializer, summary="List the member's purchased rewards")
    def get(self, request, lc, ctx):
        membership = selectors.membership_get(member=request.member)
        membership.member = request.member
        entries = selectors.rewards_purchased(membership=membership, now=timezone.now())
        return Response({"rewards": [purchased_reward_to_json(reward, usage) for reward, usage in entries]})


class RewardPurchaseView(RewardsAPIView):
    permit = "Rewards:Api:OAuth:Rewards:Purchase"

    @extend_schema(
        request=None,
        responses={200: s.RewardsEmptyResponseSerializer, 467: BannedResponseSerializer},
        summary="Purchase a reward",
    )
    def post(self, request, lc, ctx, reward_id):
        reward = selectors.reward_get_purchasable(club=request.club, reward_id=reward_id)
        services.reward_purchase(member=request.member, reward=reward)
        return Response({})


class RewardUseView(RewardsAPIView):
    permit = "Rewards:Api:OAuth:Rewards:Use"

    @extend_schema(
        request=None,
        responses={200: s.RewardsUseResponseSerializer, 467: BannedResponseSerializer},
        summary="Use a purchased reward",
    )
    def post(self, request, lc, ctx, reward_id):
        reward = selectors.reward_get(club=request.club, reward_id=reward_id)
        return Response({"usage": services.reward_use(member=request.member, reward=reward)})


# --- Rewards shop (management) -------------------------------------------------------------------------


def _reward_attrs(attrs: dict) -> dict:
    if "files" in attrs:
        attrs["files"] = [dict(f) for f in attrs["files"]]
    return attrs


class RewardAdminListView(RewardsAPIView):
    permit = "Rewards:Api:Admin:Rewards:Manage"
    creates = True

    @extend_schema(
        parameters=[s.RewardsAdminRewardListQuerySerializer],
        responses=s.RewardsAdminRewardListResponseSerializer,
        summary="List the club's rewards (management)",
    )
    def get(self, request, lc):
        query = parse_query(s.RewardsAdminRewardListQuerySerializer, request.query_params)
        rewards, info = paginate(
            Reward.objects.filter(club=request.club).order_by("id"),
            page_no=query["page_no"],
            per_page=query["per_page"],
        )
        return Response({"rewards": [reward_admin_to_json(r) for r in rewards], "pagination_info": info})

    @extend_schema(
        request=s.RewardsRewardInputSerializer,
        responses={201: s.RewardsAdminRewardResponseSerializer},
        summary="Create a reward",
    )
    def post(self, request, lc):
        attrs = parse_wrapped(
            s.RewardsRewardAttributesInputSerializer, request.data, key="reward", context={"club": request.club}
        )
        reward = services.reward_create(club=request.club, **_reward_attrs(attrs))
        return Response({"reward": reward_admin_to_json(reward)}, status=201)


class RewardAdminDetailView(RewardsAPIView):
    permit = "Rewards:Api:Admin:Rewards:Manage"

    @extend_schema(responses=s.RewardsAdminRewardResponseSerializer, summary="Show a reward (management)")
    def get(self, request, lc, reward_id):
        return Response({"reward": reward_admin_to_json(selectors.reward_get(club=request.club, reward_id=reward_id))})

    @extend_schema(
        request=s.RewardsRewardInputSerializer,
        responses=s.RewardsAdminRewardResponseSerializer,
        summary="Update a reward (partial)",
    )
    def put(self, request, lc, reward_id):
        reward = selectors.reward_get(club=request.club, reward_id=reward_id)
        attrs = parse_wrapped(
            s.RewardsRewardAttributesInputSerializer,
            request.data,
            key="reward",
            partial=True,
            context={"club": request.club},
        )
        reward = services.reward_update(reward=reward, **_reward_attrs(attrs))
        return Response({"reward": reward_admin_to_json(reward)})

    @extend_schema(
        responses=s.RewardsEmptyResponseSerializer,
        summary="Delete a reward (archived instead when it has been purchased)",
    )
    def delete(self, request, lc, reward_id):
        services.reward_delete(reward=selectors.reward_get(club=request.club, reward_id=reward_id))
        return Response({})
