"""The fixed catalogue of permits (SPEC §2.1) and the built-in policies that expand to permit sets."""

from __future__ import annotations

_MEMBER_OFFERS = "Offers:Api:MemberOffers:"
_GROUPS = "BL:Api:MembersGroups:"

PERMITS: dict[str, str] = {
    # Offers, member API
    f"{_MEMBER_OFFERS}GetMeta": "Read offers meta (tags, stores, collections) as the signed-in member",
    f"{_MEMBER_OFFERS}GetMetaByMemberId": "Read offers meta for a member given by id",
    f"{_MEMBER_OFFERS}GetMetaPreview": "Read offers meta as a guest",
    f"{_MEMBER_OFFERS}Get": "Read one offer as the signed-in member",
    f"{_MEMBER_OFFERS}GetByMemberId": "Read one offer for a member given by id",
    f"{_MEMBER_OFFERS}GetPreview": "Read one offer as a guest",
    f"{_MEMBER_OFFERS}ListVisible": "List the offers visible to the signed-in member",
    f"{_MEMBER_OFFERS}ListVisibleByMemberId": "List the offers visible to a member given by id",
    f"{_MEMBER_OFFERS}ListVisiblePreview": "List the offers visible to guests",
    f"{_MEMBER_OFFERS}Use": "Use an offer as the signed-in member",
    f"{_MEMBER_OFFERS}UseByMemberId": "Use an offer for a member given by id",
    f"{_MEMBER_OFFERS}Like": "Like or unlike an offer as the signed-in member",
    f"{_MEMBER_OFFERS}LikeByMemberId": "Like or unlike an offer for a member given by id",
    f"{_MEMBER_OFFERS}GrantByMemberId": "Grant an offer to a member given by id",
    # Offer scopes
    "Offers:Api:Scopes:Standard": "Work with offers of the standard scope",
    "Offers:Api:Scopes:Informational": "Work with offers of the informational scope",
    "Offers:Api:Scopes:Parking": "Work with offers of the parking scope",
    "Offers:Api:Scopes:CarbonOffset": "Work with offers of the carbon_offset scope",
    "Offers:Api:Scopes:Reward": "Work with offers of the reward scope",
    # Offer events
    "Offers:Api:Events:Clicked": "Report offers clicked by the signed-in member",
    "Offers:Api:Events:Seen": "Report offers seen by the signed-in member",
    # Offers management
    "Offers:Api:Offers:Get": "Read one offer (management)",
    "Offers:Api:Offers:List": "List offers (management)",
    "Offers:Api:Offers:Create": "Create offers",
    "Offers:Api:Offers:Update": "Update offers",
    "Offers:Api:Offers:Clone": "Clone offers",
    "Offers:Api:Offers:Archive": "Archive and unarchive offers",
    "Offers:Api:Offers:Grant": "Grant offers to an audience",
    "Offers:Api:Offers:Destroy": "Delete offers",
    "Offers:Api:Collections:List": "List offer collections",
    "Offers:Api:Collections:Get": "Read one offer collection",
    "Offers:Api:Collections:Create": "Create offer collections",
    "Offers:Api:Collections:Update": "Update offer collections",
    "Offers:Api:Collections:Destroy": "Delete offer collections",
    "Offers:Api:ImageTemplates:List": "List offer image templates",
    "Offers:Api:ImageTemplates:Get": "Read one offer image template",
    "Offers:Api:ImageTemplates:Preview": "Draw an image template as a PNG preview",
    "Offers:Api:ImageTemplates:Create": "Create offer image templates",
    "Offers:Api:ImageTemplates:Update": "Update offer image templates",
    "Offers:Api:ImageTemplates:Destroy": "Delete offer image templates",
    # Rewards
    "Rewards:Api:Program:GetInfo": "Read the rewards program configuration",
    "Rewards:Api:OAuth:Memberships:Create": "Join the rewards program as the signed-in member",
    "Rewards:Api:OAuth:Memberships:Delete": "Leave the rewards program as the signed-in member",
    "Rewards:Api:OAuth:Memberships:CheckStatus": "Read the signed-in member's rewards status",
    "Rewards:Api:Memberships:Create": "Join the rewards program for a member given by id",
    "Rewards:Api:Memberships:CheckStatus": "Read the rewards status of a member given by id",
    "Rewards:Api:GrantPoints": "Grant points to a member",
    "Rewards:Api:Corrections:Create": "Correct a member's points",
    "Rewards:Api:Transactions:Cancel": "Cancel a points transaction",
    "Rewards:Api:OAuth:Achievements:Create": "Report an achievement as the signed-in member",
    "Rewards:Api:Achievements:Create": "Report an achievement for a member given by id",
    "Rewards:Api:OAuth:Rewards:List": "List rewards available to the signed-in member",
    "Rewards:Api:OAuth:Rewards:ListPurchased": "List rewards purchased by the signed-in member",
    "Rewards:Api:OAuth:Rewards:Purchase": "Purchase a reward as the signed-in member",
    "Rewards:Api:OAuth:Rewards:Use": "Use a purchased reward as the signed-in member",
    "Rewards:Api:Admin:Config:Update": "Change the rewards program configuration",
    "Rewards:Api:Admin:Rewards:Manage": "Manage the rewards shop",
    "Rewards:Api:Admin:Achievements:Manage": "Manage achievement rules",
    # Members
    "BL:Api:Members:OAuth": "Sign members in (OAuth token, revoke, token info)",
    "BL:Api:Members:OAuth:Get": "Read the signed-in member",
    "BL:Api:Members:Get": "Read a member",
    "BL:Api:Members:Index": "List and search members",
    "BL:Api:Members:Create": "Create members",
    "BL:Api:Members:Update": "Update members",
    "BL:Api:Members:Destroy": "Delete members",
    f"{_GROUPS}Index": "List member groups",
    f"{_GROUPS}Get": "Read a member group",
    f"{_GROUPS}Create": "Create member groups",
    f"{_GROUPS}Update": "Update member groups",
    f"{_GROUPS}Destroy": "Delete member groups",
    f"{_GROUPS}Members:Add": "Add members to a group",
    f"{_GROUPS}Members:Remove": "Remove members from a group",
    f"{_GROUPS}Members:List": "List the members of a group",
    # Loyalty club
    "BL:Api:LoyaltyClubs:Get": "Read the loyalty club",
    "BL:Api:LoyaltyClubs:Update": "Update the loyalty club",
    # Token admin
    "Tokens:Api:Tokens:Index": "List API client tokens",
    "Tokens:Api:Tokens:Show": "Read an API client token",
    "Tokens:Api:Tokens:Create": "Issue API client tokens",
    "Tokens:Api:Tokens:Update": "Change API client tokens",
    "Tokens:Api:Tokens:Destroy": "Revoke API client tokens",
    "Permits:Api:Permits:Index": "List the permit catalogue",
    "Policies:Api:Policies:Index": "List the built-in policies",
    # Webhooks
    "Webhooks:Api:Endpoints:Manage": "Manage webhook endpoints",
    "Webhooks:Api:Deliveries:List": "Read webhook delivery logs",
}

SCOPE_PERMITS: dict[str, str] = {
    "standard": "Offers:Api:Scopes:Standard",
    "informational": "Offers:Api:Scopes:Informational",
    "parking": "Offers:Api:Scopes:Parking",
    "carbon_offset": "Offers:Api:Scopes:CarbonOffset",
    "reward": "Offers:Api:Scopes:Reward",
}


def _with_prefix(*prefixes: str) -> frozenset[str]:
    return frozenset(name for name in PERMITS if name.startswith(prefixes))


_MEMBER_APP = frozenset(
    {
        f"{_MEMBER_OFFERS}GetMeta",
        f"{_MEMBER_OFFERS}GetMetaPreview",
        f"{_MEMBER_OFFERS}Get",
        f"{_MEMBER_OFFERS}GetPreview",
        f"{_MEMBER_OFFERS}ListVisible",
        f"{_MEMBER_OFFERS}ListVisiblePreview",
        f"{_MEMBER_OFFERS}Use",
        f"{_MEMBER_OFFERS}Like",
        "Offers:Api:Events:Clicked",
        "Offers:Api:Events:Seen",
        "BL:Api:Members:OAuth",
        "BL:Api:Members:OAuth:Get",
        "BL:Api:LoyaltyClubs:Get",
        "Rewards:Api:Program:GetInfo",
    }
    | set(SCOPE_PERMITS.values())
    | _with_prefix("Rewards:Api:OAuth:")
)

POLICIES: dict[str, tuple[str, frozenset[str]]] = {
    "FullAccess": ("Every permit", frozenset(PERMITS)),
    "OffersRegularAccess": (
        "Offers: member API in every context, scopes, events and management",
        _with_prefix("Offers:"),
    ),
    "RewardsRegularAccess": (
        "Rewards program, ledger and shop, member and staff endpoints",
        _with_prefix("Rewards:"),
    ),
    "MembersRegularAccess": (
        "Members, member OAuth and member groups",
        _with_prefix("BL:Api:Members:", "BL:Api:MembersGroups:"),
    ),
    "MemberAppAccess": (
        "What a mobile app needs: the /me/ and guest offer permits, scopes, events, member OAuth, rewards /me/",
        _MEMBER_APP,
    ),
}


def expand(permits: list[str] | tuple[str, ...], policies: list[str] | tuple[str, ...]) -> frozenset[str]:
    """Effective permits: direct permits plus the permits of every named policy."""
    result = set(permits)
    for name in policies:
        result |= POLICIES[name][1]
    return frozenset(result)
