"""The offers → rewards seam (`coupon_used` on authorized offer uses) and the rewards webhook events."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction

from rewards import hooks, services
from rewards.models import Membership
from tests.offers.factories import OfferFactory
from tests.rewards.conftest import at, ledger

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def used(member):
    return SimpleNamespace(member=member, offer=None, used_at=NOW)


def test_an_authorized_offer_use_through_the_api_earns_coupon_used(member_api, club, member, joined, make_rule):
    make_rule("coupon_used", points=25)
    offer = OfferFactory(club=club, usage_authorization_token="s3cret")
    response = member_api.post(
        f"/v3/{club.slug}/members/me/offers/{offer.id}/use", {"authorization_token": "s3cret"}, format="json"
    )
    assert response.status_code == 200
    assert ledger(member) == [("achievement", 25)]


def test_an_unauthorized_offer_use_earns_nothing(member_api, club, member, joined, make_rule):
    make_rule("coupon_used", points=25)
    offer = OfferFactory(club=club)
    assert member_api.post(f"/v3/{club.slug}/members/me/offers/{offer.id}/use", {}, format="json").status_code == 200
    assert ledger(member) == []


@pytest.mark.parametrize("situation", ["no rule", "limit", "frequency", "not joined", "banned", "rewards disabled"])
def test_the_hook_skips_silently_and_leaves_the_callers_transaction_usable(club, member, make_rule, situation):
    if situation != "not joined":
        services.membership_join(member=member)
    if situation != "no rule":
        make_rule(
            "coupon_used",
            points=5,
            limit=1 if situation == "limit" else None,
            frequency_timespan="day" if situation == "frequency" else None,
            frequency_limit=1 if situation == "frequency" else None,
        )
    if situation in ("limit", "frequency"):
        with at(NOW):
            hooks.offer_used(usage=used(member))  # the one allowed
    if situation == "banned":
        member.banned_until = NOW + timedelta(days=1)
        member.save(update_fields=["banned_until"])
    if situation == "rewards disabled":
        club.rewards_enabled = False
        club.save(update_fields=["rewards_enabled"])
    before = ledger(member)

    with at(NOW), transaction.atomic():
        hooks.offer_used(usage=used(member))
        member.first_name = "Still writable"
        member.save(update_fields=["first_name"])

    assert ledger(member) == before
    member.refresh_from_db()
    assert member.first_name == "Still writable"


def test_the_hook_awards_the_rules_points(club, member, joined, make_rule):
    make_rule("coupon_used", points=7)
    hooks.offer_used(usage=used(member))
    assert Membership.objects.get(member=member).balance == 7


# --- Webhook events ----------------------------------------------------------------------------------


@pytest.fixture
def emitted(monkeypatch):
    import webhooks.services

    captured = []

    def emit_many(*, type: str, events: list) -> None:  # batch jobs (expiration) emit many at once
        for club_id, member_id, data in events:
            captured.append({"club_id": club_id, "type": type, "data": data, "member_id": member_id})

    monkeypatch.setattr(webhooks.services, "event_emit", lambda **kwargs: captured.append(kwargs))
    monkeypatch.setattr(webhooks.services, "events_emit_many", emit_many)
    return captured


def test_ledger_writes_emit_their_events_with_the_new_balance(club, member, joined, make_reward, emitted):
    services.program_config_update(club=club, points_validity_days=1)
    with at(NOW):
        services.points_grant(member=member, points=100)
        bought = services.reward_purchase(member=member, reward=make_reward(price=30))
        services.reward_use(member=member, reward=bought.reward)
        small = services.points_grant(member=member, points=5)
        cancellation = services.transaction_cancel(member=member, transaction_id=small.pk)
    services.points_expire_due(as_of=NOW + timedelta(days=1))

    assert [(e["type"], e["club_id"], e["member_id"]) for e in emitted] == [
        ("points.earned", club.id, member.id),
        ("points.spent", club.id, member.id),
        ("reward.purchased", club.id, member.id),
        ("reward.used", club.id, member.id),
        ("points.earned", club.id, member.id),
        ("transaction.cancelled", club.id, member.id),
        ("points.expired", club.id, member.id),
    ]
    assert emitted[0]["data"]["balance"] == 100
    assert emitted[1]["data"]["transaction"]["amount"] == -30
    assert emitted[5]["data"] == {
        "member_id": member.id,
        "transaction": emitted[5]["data"]["transaction"],
        "balance": 70,
        "cancelled_transaction_id": small.pk,
    }
    assert emitted[5]["data"]["transaction"]["id"] == cancellation.pk
    assert emitted[6]["data"]["points"] == 70
    assert emitted[6]["data"]["balance"] == 0
