from django.urls import path

from loyalty.api import member_views, published, views

# Global (not club-scoped), mounted under /v1/.
v1_patterns = [
    path("tokens", views.ClientTokenListView.as_view(), name="tokens"),
    path("tokens/permits", views.PermitListView.as_view(), name="token-permits"),
    path("tokens/policies", views.PolicyListView.as_view(), name="token-policies"),
    path("tokens/<int:token_id>", views.ClientTokenDetailView.as_view(), name="token-detail"),
    # The published `:id_or_token`: the secret itself names the token too (after permits/policies).
    path("tokens/<str:token_id>", views.ClientTokenDetailView.as_view(), name="token-detail-by-secret"),
]

# Club-scoped, mounted under /v3/<lc>/.
v3_patterns: list = []

# Members, member OAuth and member groups (SPEC §2.2, §3.2, §3.3).
v3_patterns += [
    path("members", member_views.MemberListView.as_view(), name="members"),
    path("members/me", member_views.MemberMeView.as_view(), name="member-me"),
    path("members/oauth/token", member_views.MemberOAuthTokenView.as_view(), name="member-oauth-token"),
    path("members/oauth/token/info", member_views.MemberOAuthTokenInfoView.as_view(), name="member-oauth-token-info"),
    path("members/oauth/revoke", member_views.MemberOAuthRevokeView.as_view(), name="member-oauth-revoke"),
    path("members/by_email/<str:email>", published.MemberByEmailView.as_view(), name="member-by-email"),
    path("members/by_msisdn/<str:msisdn>", published.MemberByMsisdnView.as_view(), name="member-by-msisdn"),
    path("members/<int:member_id>", member_views.MemberDetailView.as_view(), name="member-detail"),
    path("members/<int:member_id>/groups", member_views.MemberGroupsView.as_view(), name="member-groups"),
    path("members_groups", member_views.MembersGroupListView.as_view(), name="members-groups"),
    path("members_groups/<int:group_id>", member_views.MembersGroupDetailView.as_view(), name="members-group-detail"),
    path(
        "members_groups/<int:group_id>/members",
        member_views.MembersGroupMembersView.as_view(),
        name="members-group-members",
    ),
]
