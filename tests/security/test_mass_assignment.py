"""OWASP API3 (broken object property level authorization): read-only attributes sent in a write body —
ids, slugs, counters, balances, secrets, `banned_until` through `/me` — are ignored or refused, never stored.
Each case asserts the database row, not only the answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from loyalty.models import ClientToken, LoyaltyClub, Member, MemberGroup
from loyalty.secrets import digest
from offers.models import Offer
from rewards.models import Membership, Reward
from tests.conftest import make_client
from webhooks.models import WebhookEndpoint

FUTURE = (timezone.now() + timedelta(days=3650)).isoformat()
PAST = "2001-01-01T00:00:00Z"


def _row(model, pk, fields):
    return model.objects.filter(pk=pk).values(*fields).first()


def _assert_ignored_or_refused(response):
    assert response.status_code in (200, 422), response.content


def test_me_cannot_unban_ban_or_renumber_itself_nor_touch_its_balance(world):
    member = Member.objects.get(pk=world.member_id)
    Member.objects.filter(pk=member.pk).update(banned_until=None)
    fields = ("id", "club_id", "banned_until", "created_at", "password")
    before = _row(Member, member.pk, fields)
    balance = Membership.objects.get(member=member).balance
    client = make_client(world.full_token, bearer=world.bearer)

    response = client.put(
        f"/v3/{world.slug}/members/me",
        {
            "member": {
                "properties": {"first_name": "Adeline"},
                "banned_until": FUTURE,
                "id": world.other_member_id,
                "club_id": 999,
                "created_at": PAST,
                "has_password": False,
                "balance": 10**6,
            },
            "balance": 10**6,
        },
        format="json",
    )

    _assert_ignored_or_refused(response)
    assert _row(Member, member.pk, fields) == before
    assert Membership.objects.get(member=member).balance == balance


def test_a_banned_member_cannot_lift_its_ban_through_me(world):
    until = timezone.now() + timedelta(days=1)
    Member.objects.filter(pk=world.member_id).update(banned_until=until)
    client = make_client(world.full_token, bearer=world.bearer)

    response = client.put(f"/v3/{world.slug}/members/me", {"member": {"banned_until": None}}, format="json")

    assert response.status_code == 467
    assert Member.objects.get(pk=world.member_id).banned_until == until


def test_member_update_by_id_keeps_id_club_and_created_at(world):
    fields = ("id", "club_id", "created_at", "password")
    before = _row(Member, world.other_member_id, fields)
    response = make_client(world.full_token).put(
        f"/v3/{world.slug}/members/{world.other_member_id}",
        {"member": {"id": 424242, "club_id": 999, "created_at": PAST, "has_password": True}},
        format="json",
    )
    _assert_ignored_or_refused(response)
    assert _row(Member, world.other_member_id, fields) == before


def test_club_update_keeps_id_and_slug(world):
    club = LoyaltyClub.objects.get(slug=world.slug)
    response = make_client(world.full_token).put(
        f"/v3/{world.slug}", {"loyalty_club": {"id": 999, "slug": "hijacked", "name": "Renamed"}}, format="json"
    )
    _assert_ignored_or_refused(response)
    assert _row(LoyaltyClub, club.pk, ("id", "slug")) == {"id": club.pk, "slug": world.slug}


def test_reward_update_keeps_its_purchase_counter_and_id(world):
    reward_id = world.ids["reward_id"][0]
    before = _row(Reward, reward_id, ("id", "purchased_count", "created_at"))
    response = make_client(world.full_token).put(
        f"/v3/{world.slug}/rewards-program/rewards/admin/{reward_id}",
        {"reward": {"purchased_count": 0, "remaining_stock": 10**6, "id": 999, "created_at": PAST}},
        format="json",
    )
    _assert_ignored_or_refused(response)
    assert _row(Reward, reward_id, ("id", "purchased_count", "created_at")) == before
    assert before["purchased_count"] > 0


def test_group_update_keeps_its_member_count_and_id(world):
    group_id = world.ids["group_id"][0]
    response = make_client(world.full_token).put(
        f"/v3/{world.slug}/members_groups/{group_id}", {"members_count": 99, "id": 999, "name": "VIP"}, format="json"
    )
    _assert_ignored_or_refused(response)
    assert MemberGroup.objects.get(pk=group_id).memberships.count() == 1


def test_webhook_update_cannot_set_its_secret(world):
    webhook_id = world.ids["webhook_id"][0]
    before = _row(WebhookEndpoint, webhook_id, ("id", "secret"))
    response = make_client(world.full_token).put(
        f"/v3/{world.slug}/webhooks/{webhook_id}", {"secret": "whsec_chosen", "id": 999}, format="json"
    )
    _assert_ignored_or_refused(response)
    assert _row(WebhookEndpoint, webhook_id, ("id", "secret")) == before


def test_token_update_cannot_set_its_secret_or_revocation(world):
    token = ClientToken.objects.get(token_digest=digest(world.full_token))
    fields = ("id", "token_digest", "token_prefix", "revoked_at", "created_at")
    before = _row(ClientToken, token.pk, fields)
    response = make_client(world.full_token).put(
        f"/v1/tokens/{token.pk}",
        {"token": {"token": "chosen-secret", "token_digest": "0" * 64, "revoked_at": PAST, "id": 999}},
        format="json",
    )
    _assert_ignored_or_refused(response)
    assert _row(ClientToken, token.pk, fields) == before


def _offers_management_url(slug: str) -> str:
    try:
        return reverse("offers-admin", kwargs={"lc": slug})
    except NoReverseMatch:
        pytest.skip("the offers management API is not there yet")


def test_offer_update_keeps_its_counters(world):
    url = _offers_management_url(world.slug)
    offer = Offer.objects.get(pk=world.ids["offer_id"][0])
    fields = ("id", "uses_count", "grants_count", "created_at")
    before = _row(Offer, offer.pk, fields)
    response = make_client(world.full_token).put(
        url,
        {"offers": [{"id": offer.pk, "name": "Renamed", "uses_count": 0, "grants_count": 10**6, "created_at": PAST}]},
        format="json",
    )
    _assert_ignored_or_refused(response)
    assert _row(Offer, offer.pk, fields) == before
    assert before["uses_count"] > 0
