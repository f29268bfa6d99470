"""Deletes racing the writes that use what they delete (issue 20, item 5), over the real HTTP stack with
real threads on PostgreSQL: every request gets its contract answer — the delete 200, each write 200 or the
404 of what it named — never a 500; the deleted row is gone with everything tied to it, and the invariants
hold (checked after every `postgres` test). Five rounds per pair: one round alone rarely loses the race.
"""

from __future__ import annotations

from collections import Counter

import pytest

from loyalty.models import Member, MemberGroup
from loyalty.services.groups import group_create, group_members_add
from loyalty.services.oauth import oauth_tokens_issue
from offers.models import Collection, OfferType
from rewards import services as rewards
from rewards.models import Reward, RewardPurchase
from tests.concurrency import run_in_parallel
from tests.conftest import make_client
from tests.factories import MemberFactory
from tests.offers.factories import CollectionFactory, OfferFactory
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_endpoint_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 5


def _answers(responses, *, allowed: set[tuple[int, str]]) -> Counter:
    """Counter of (status, error or "ok"); fails on any answer outside `allowed` (5xx included)."""
    counted: Counter = Counter()
    for response in responses:
        assert not isinstance(response, Exception), repr(response)
        body = response.json() if response.content else {}
        counted[(response.status_code, body.get("error", "ok"))] += 1
    assert set(counted) <= allowed, counted
    return counted


def _race(delete, writers):
    """The delete first in the list, released together with the writers; (delete's answer, writers')."""
    responses = run_in_parallel([delete, *writers])
    return responses[0], responses[1:]


def _post(secret, path, body=None, bearer=None):
    return lambda: make_client(secret, bearer=bearer).post(path, body or {}, format="json")


def _delete(secret, path, body=None):
    return lambda: make_client(secret).delete(path, body or {}, format="json")


def _member(club, *, points=0):
    member = MemberFactory(club=club)
    if points:
        rewards.membership_join(member=member)
        rewards.points_grant(member=member, points=points)
    return member


def _member_writers(full_token, club, member, kind: str, count: int):
    base = f"/v1/{club.slug}/members/{member.id}/rewards-program"
    v3 = f"/v3/{club.slug}/members/{member.id}"
    if kind == "grant_points":
        return [_post(full_token, f"{base}/grant_points", {"points": 2}) for _ in range(count)]
    if kind == "join":
        return [_post(full_token, f"/v3/{club.slug}/members/{member.id}/rewards-program/join") for _ in range(count)]
    if kind == "purchase":  # a /me/ operation: the member's Bearer token goes with the member (460)
        reward = Reward.objects.create(club=club, name="Mug", price=1, status=Reward.PUBLISHED)
        path = f"/v3/{club.slug}/members/me/rewards-program/rewards/{reward.id}/purchase"
        bearer = oauth_tokens_issue(member=member).access_token
        return [_post(full_token, path, bearer=bearer) for _ in range(count)]
    if kind == "offer use":
        offers = [OfferFactory(club=club) for _ in range(count)]
        return [_post(full_token, f"{v3}/offers/{offer.id}/use") for offer in offers]
    if kind == "offer grant":
        offers = [OfferFactory(club=club, type=OfferType.EXCLUSIVE) for _ in range(count)]
        return [_post(full_token, f"{v3}/offers/{offer.id}/grant") for offer in offers]
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "count"),
    [("grant_points", 16), ("offer use", 8), ("offer grant", 8), ("purchase", 8), ("join", 8)],
)
def test_member_delete_vs_writes_on_the_member(full_token, club, kind, count):
    for _ in range(ROUNDS):
        member = _member(club, points=100 if kind != "join" else 0)
        writers = _member_writers(full_token, club, member, kind, count)

        deleted, written = _race(_delete(full_token, f"/v3/{club.slug}/members/{member.id}"), writers)

        gone = (460, "Invalid member access token") if kind == "purchase" else (404, f"Member#{member.id} not found")
        assert _answers([deleted], allowed={(200, "ok")})
        _answers(written, allowed={(200, "ok"), gone})
        assert not Member.objects.filter(pk=member.pk).exists()


def test_reward_delete_vs_purchases(full_token, club):
    for _ in range(ROUNDS):
        reward = Reward.objects.create(club=club, name="Mug", price=1, status=Reward.PUBLISHED)
        bearers = [oauth_tokens_issue(member=_member(club, points=10)).access_token for _ in range(8)]
        path = f"/v3/{club.slug}/members/me/rewards-program/rewards/{reward.id}/purchase"
        writers = [_post(full_token, path, bearer=bearer) for bearer in bearers]

        deleted, written = _race(
            _delete(full_token, f"/v3/{club.slug}/rewards-program/rewards/admin/{reward.id}"), writers
        )

        assert _answers([deleted], allowed={(200, "ok")})
        bought = _answers(written, allowed={(200, "ok"), (404, f"Reward#{reward.id} not found")})[(200, "ok")]
        # Bought before the delete: archived, its purchases kept; bought by nobody: gone.
        purchases = RewardPurchase.objects.filter(reward_id=reward.id).count()
        assert purchases == bought
        remaining = Reward.objects.filter(pk=reward.pk).first()
        assert (remaining is None) == (bought == 0)
        assert remaining is None or remaining.archived_at is not None


def test_group_delete_vs_member_adds_and_audience_grants(full_token, club):
    for _ in range(ROUNDS):
        group = group_create(club=club, name="VIP")
        members = [_member(club) for _ in range(6)]
        group_members_add(group=group, member_ids=[m.id for m in members[:3]])
        offers = [OfferFactory(club=club, type=OfferType.EXCLUSIVE, audience=group) for _ in range(4)]
        path = f"/v3/{club.slug}/members_groups/{group.id}/members"
        writers = [_post(full_token, path, {"member_ids": [m.id]}) for m in members[3:]]
        writers += [
            _post(full_token, f"/v3/{club.slug}/offers/grant", {"offers": [{"id": o.id, "audience_id": group.id}]})
            for o in offers
        ]

        deleted, written = _race(_delete(full_token, f"/v3/{club.slug}/members_groups/{group.id}"), writers)

        assert _answers([deleted], allowed={(200, "ok")})
        _answers(written, allowed={(200, "ok"), (404, f"MembersGroup#{group.id} not found")})
        assert not MemberGroup.objects.filter(pk=group.pk).exists()


def test_collection_delete_vs_offer_updates_linking_it(full_token, club):
    for _ in range(ROUNDS):
        collection = CollectionFactory(club=club)
        offers = [OfferFactory(club=club) for _ in range(8)]
        writers = [
            lambda o=o, c=collection: make_client(full_token).put(
                f"/v3/{club.slug}/offers", {"offers": [{"id": o.id, "collection_ids": [c.id]}]}, format="json"
            )
            for o in offers
        ]

        deleted, written = _race(_delete(full_token, f"/v3/{club.slug}/offers/collections/{collection.id}"), writers)

        assert _answers([deleted], allowed={(200, "ok")})
        _answers(written, allowed={(200, "ok")})  # a batch: a vanished collection is the item's error
        assert not Collection.objects.filter(pk=collection.pk).exists()


def test_webhook_delete_vs_offer_uses_that_notify_it(full_token, club):
    for _ in range(ROUNDS):
        endpoint = webhook_endpoint_create(club=club, url="https://10.0.0.1/hook", events=["offer.used"])
        offer = OfferFactory(club=club)
        users = [_member(club) for _ in range(8)]
        writers = [_post(full_token, f"/v3/{club.slug}/members/{u.id}/offers/{offer.id}/use") for u in users]

        deleted, written = _race(_delete(full_token, f"/v3/{club.slug}/webhooks/{endpoint.id}"), writers)

        assert _answers([deleted], allowed={(200, "ok")})
        assert _answers(written, allowed={(200, "ok")}) == Counter({(200, "ok"): 8})
        assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
