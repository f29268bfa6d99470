"""A club with two members who both have something to lose: Ada (the caller, with a Bearer token) and Bob
(the victim, with distinctive personal data, points, a purchase, a use, a like, a grant, a group and a live
token). `footprint(member_id)` is everything a request could change about one member."""

from __future__ import annotations

import pytest

from loyalty.models import Member, MemberGroupMembership, MemberOAuthToken
from loyalty.services.oauth import oauth_tokens_issue
from offers import services as offers
from offers.models import Offer, OfferEvent, OfferGrant, OfferLike, OfferUsage
from rewards import services as rewards
from rewards.models import Membership, Reward, RewardPurchase, Transaction
from tests.factories import LoyaltyClubFactory, MemberFactory
from tests.fuzz.world import World, build_world, world_for_module

BOB_EMAIL = "bob.private@example.com"
BOB_MSISDN = "4790000123"
BOB_LAST_NAME = "Secretbob"
BOB_MARKERS = (BOB_EMAIL, BOB_MSISDN, BOB_LAST_NAME)


@pytest.fixture(scope="module")
def _module_world(django_db_setup, django_db_blocker):
    with world_for_module(django_db_blocker, _build) as world:
        yield world


@pytest.fixture
def world(_module_world, db) -> World:
    """Built once per module; each test's writes are rolled back (see `world_for_module`)."""
    return _module_world


def _build() -> World:
    world = build_world(ban_other=False)
    bob = Member.objects.get(pk=world.other_member_id)
    Member.objects.filter(pk=bob.pk).update(email=BOB_EMAIL, msisdn=BOB_MSISDN, last_name=BOB_LAST_NAME)
    bob.refresh_from_db()
    rewards.membership_join(member=bob)
    rewards.points_grant(member=bob, points=4242)
    rewards.reward_purchase(member=bob, reward=Reward.objects.get(pk=world.ids["reward_id"][0]))
    offer = Offer.objects.get(pk=world.ids["offer_id"][0])
    offers.offer_use(offer=offer, member=bob)
    offers.offer_like(offer=offer, member=bob)
    offers.offer_grant(offer=Offer.objects.get(pk=world.ids["offer_id"][1]), member=bob)
    oauth_tokens_issue(member=bob)
    world.other_bearer = oauth_tokens_issue(member=bob).access_token
    return world


@pytest.fixture
def stranger_bearer(db) -> tuple[str, int]:
    """(Bearer token, id) of a member of another club."""
    stranger = MemberFactory(club=LoyaltyClubFactory(slug="other-mall"), email="eve@example.com")
    return oauth_tokens_issue(member=stranger).access_token, stranger.id


def footprint(member_id: int) -> dict:
    """Every row a request could write for this member (with `updated_at`, any write to the member row)."""
    membership = Membership.objects.filter(member_id=member_id)
    return {
        "member": Member.objects.filter(pk=member_id).values().first(),
        "membership": list(membership.values("id", "balance", "lifetime_points")),
        "transactions": list(
            Transaction.objects.filter(membership__member_id=member_id).values_list("id", "cancelled_at")
        ),
        "purchases": list(
            RewardPurchase.objects.filter(membership__member_id=member_id).values_list(
                "id", "uses_count", "cancelled_at"
            )
        ),
        "usages": list(OfferUsage.objects.filter(member_id=member_id).values_list("id", flat=True)),
        "grants": list(OfferGrant.objects.filter(member_id=member_id).values_list("id", "uses_count")),
        "likes": list(OfferLike.objects.filter(member_id=member_id).values_list("offer_id", flat=True)),
        "events": OfferEvent.objects.filter(member_id=member_id).count(),
        "groups": list(MemberGroupMembership.objects.filter(member_id=member_id).values_list("group_id", flat=True)),
        "tokens": list(MemberOAuthToken.objects.filter(member_id=member_id).values_list("id", "revoked_at")),
    }
