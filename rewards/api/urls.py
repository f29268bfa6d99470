from django.urls import path

from kit.api.routing import member_context_paths
from rewards.api import views

_ME = ("me",)
_ME_AND_ID = ("me", "id")
_MEMBER = "members/<int:member_id>/rewards-program"

# Club-scoped, mounted under /v3/<lc>/.
v3_patterns: list = [
    path("rewards-program/info", views.ProgramInfoView.as_view(), name="rewards-info"),
    path("rewards-program/achievements", views.AchievementRuleListView.as_view(), name="rewards-achievement-rules"),
    path(
        "rewards-program/achievements/<int:achievement_id>",
        views.AchievementRuleDetailView.as_view(),
        name="rewards-achievement-rule",
    ),
    path("rewards-program/rewards/admin", views.RewardAdminListView.as_view(), name="rewards-admin-rewards"),
    path(
        "rewards-program/rewards/admin/<int:reward_id>",
        views.RewardAdminDetailView.as_view(),
        name="rewards-admin-reward",
    ),
    *member_context_paths("rewards-program/join", views.JoinView, name="rewards-join", contexts=_ME_AND_ID),
    *member_context_paths("rewards-program/leave", views.LeaveView, name="rewards-leave", contexts=_ME),
    *member_context_paths("rewards-program/status", views.StatusView, name="rewards-status", contexts=_ME_AND_ID),
    *member_context_paths(
        "rewards-program/status/achievements_summary",
        views.AchievementsSummaryView,
        name="rewards-achievements-summary",
        contexts=_ME,
    ),
    *member_context_paths(
        "rewards-program/achievements", views.AchievementReportView, name="rewards-achievements", contexts=_ME_AND_ID
    ),
    *member_context_paths("rewards-program/rewards", views.RewardListView, name="rewards-rewards", contexts=_ME),
    *member_context_paths(
        "rewards-program/rewards/purchased", views.RewardPurchasedListView, name="rewards-purchased", contexts=_ME
    ),
    *member_context_paths(
        "rewards-program/rewards/<int:reward_id>/purchase",
        views.RewardPurchaseView,
        name="rewards-purchase",
        contexts=_ME,
    ),
    *member_context_paths(
        "rewards-program/rewards/<int:reward_id>/use", views.RewardUseView, name="rewards-use", contexts=_ME
    ),
]

# Staff / back-end endpoints, mounted under /v1/<lc>/ (SPEC §6.4).
v1_patterns: list = [
    path(f"{_MEMBER}/grant_points", views.GrantPointsView.as_view(), name="rewards-grant-points"),
    path(f"{_MEMBER}/corrections", views.CorrectionView.as_view(), name="rewards-corrections"),
    path(
        f"{_MEMBER}/transactions/<int:transaction_id>/cancel",
        views.CancelTransactionView.as_view(),
        name="rewards-cancel",
    ),
]
