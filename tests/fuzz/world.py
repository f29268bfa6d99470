"""A small, realistic club for fuzzing and crash tests: every kind of object a path parameter can name.

`build_world()` returns the secrets and ids; fuzzers substitute the ids into path parameters so generated
requests reach the handlers instead of stopping at 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from loyalty.services.groups import group_create, group_members_add
from loyalty.services.members import member_set_password
from loyalty.services.oauth import oauth_tokens_issue
from loyalty.services.tokens import client_token_issue
from offers import services as offers
from offers.models import OfferType, Scope
from rewards import services as rewards
from rewards.models import Achievement, Reward
from tests.factories import LoyaltyClubFactory, MemberFactory
from tests.offers.factories import CollectionFactory, OfferFactory
from webhooks.services import webhook_endpoint_create


@dataclass
class World:
    slug: str
    full_token: str
    bearer: str
    member_id: int
    other_member_id: int
    ids: dict[str, list[int]] = field(default_factory=dict)
    other_bearer: str | None = None


def build_world(*, slug: str = "infinity-mall", ban_other: bool = True) -> World:
    club = LoyaltyClubFactory(slug=slug, name="Infinity Mall")
    member = MemberFactory(club=club, email="ada@example.com", msisdn="4740769126")
    member_set_password(member=member, password="correct horse battery")
    # Bob is banned (by default) and not in the rewards program: id-path writes on him meet 467 and 480.
    banned_until = timezone.now() + timedelta(days=30) if ban_other else None
    other = MemberFactory(club=club, email="bob@example.com", banned_until=banned_until)
    token = client_token_issue(
        name="fuzz", permits=[], policies=["FullAccess"], loyalty_club_ids=[club.id], product=None
    )
    bearer = oauth_tokens_issue(member=member).access_token

    collection = CollectionFactory(club=club)
    regular = OfferFactory(club=club, tags=["food"], stores=["Kiosk"], collections=[collection], stock=1000)
    exclusive = OfferFactory(club=club, type=OfferType.EXCLUSIVE, maximum_uses_per_user=3)
    offers.offer_grant(offer=exclusive, member=member)
    reward_scope = OfferFactory(club=club, scope=Scope.REWARD)

    rewards.membership_join(member=member)
    earned = rewards.points_grant(member=member, points=500)
    rule = Achievement.objects.create(club=club, type="app_opened", name="App opened", points=10)
    reward = Reward.objects.create(club=club, name="Toaster", price=20, status=Reward.PUBLISHED, stock=50)
    rewards.reward_purchase(member=member, reward=reward)

    group = group_create(club=club, name="VIP")
    group_members_add(group=group, member_ids=[member.id])
    webhook = webhook_endpoint_create(club=club, url="https://hooks.example.com/x", events=["offer.used"])

    return World(
        slug=club.slug,
        full_token=token.secret,
        bearer=bearer,
        member_id=member.id,
        other_member_id=other.id,
        ids={
            "member_id": [member.id, other.id],
            "offer_id": [regular.id, exclusive.id, reward_scope.id],
            "reward_id": [reward.id],
            "transaction_id": [earned.id],
            "achievement_id": [rule.id],
            "group_id": [group.id],
            "webhook_id": [webhook.id],
            "token_id": [token.token.id],
            "collection_id": [collection.id],
        },
    )


@contextmanager
def world_for_module(django_db_blocker, build: Callable[[], World]) -> Iterator[World]:
    """Build a world once for a whole test module, the way `TestCase.setUpTestData` does: inside an atomic
    block that is rolled back when the module ends. Each test's own `db` transaction nests in it as a
    savepoint, so every test starts from the same world whatever the previous one wrote."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield build()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
