"""Rewards shop (SPEC §7): list, purchased, purchase and use with every error in order, and management."""

from datetime import UTC, datetime, timedelta

import pytest

from rewards import services
from rewards.models import Reward, RewardPurchase
from tests.rewards.conftest import at, balance, ledger

NOW = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)
LEVELS = {
    "type": "regular",
    "levels": [{"name": "Bronze", "points_threshold": 0}, {"name": "Gold", "points_threshold": 1000}],
}


def shop(club) -> str:
    return f"/v3/{club.slug}/members/me/rewards-program/rewards"


def admin(club) -> str:
    return f"/v3/{club.slug}/rewards-program/rewards/admin"


def ban(member):
    member.banned_until = datetime(2137, 1, 1, tzinfo=UTC)
    member.save(update_fields=["banned_until"])


def member_json(reward, **changes) -> dict:
    return {
        "id": reward.id,
        "name": reward.name,
        "description": reward.description,
        "price": reward.price,
        "required_member_level": reward.required_member_level,
        "remaining_stock": reward.remaining_stock,
        "available_until": None,
        "files": [],
        **changes,
    }


# --- List --------------------------------------------------------------------------------------------


def test_the_list_shows_published_available_rewards_in_stock_whatever_the_level(member_api, club, joined, make_reward):
    services.program_config_update(club=club, levels_program=LEVELS)
    plain = make_reward(name="Coffee", price=10, description="A cup")
    gold = make_reward(name="Spa", price=900, required_member_level="Gold", stock=3)
    until = make_reward(name="Late", available_until=NOW + timedelta(hours=1))
    make_reward(name="Draft", status=Reward.DRAFT)
    make_reward(name="Archived", archived_at=NOW - timedelta(days=1))
    make_reward(name="Over", available_until=NOW)
    make_reward(name="Sold out", stock=0)
    with at(NOW):
        response = member_api.get(shop(club))
    assert response.status_code == 200
    assert response.json() == {
        "rewards": [
            member_json(plain),
            member_json(gold, remaining_stock=3),
            member_json(until, available_until="2024-06-12T11:00:00.000Z"),
        ]
    }


def test_the_list_for_a_member_who_has_not_joined_is_480(member_api, club):
    assert member_api.get(shop(club)).status_code == 480


# --- Purchase ----------------------------------------------------------------------------------------


def test_a_purchase_spends_the_price_claims_stock_and_grants_uses(member_api, club, member, joined, make_reward):
    services.points_grant(member=member, points=100)
    reward = make_reward(price=30, stock=2, uses_per_purchase=3, usable_for_seconds=3600)
    with at(NOW):
        response = member_api.post(f"{shop(club)}/{reward.id}/purchase")
    assert (response.status_code, response.json()) == (200, {})
    reward.refresh_from_db()
    purchase = RewardPurchase.objects.get()
    assert (balance(member), reward.remaining_stock) == (70, 1)
    assert (purchase.uses_left, purchase.usable_until, purchase.transaction.details) == (
        3,
        NOW + timedelta(hours=1),
        {"reward_name": reward.name, "reward_id": reward.id},
    )


@pytest.mark.parametrize("kind", ["unknown", "draft", "archived", "other club"])
def test_purchasing_a_reward_that_is_not_on_offer_is_404(
    member_api, club, other_club, member, joined, make_reward, kind
):
    reward_id = {
        "unknown": lambda: 99999,
        "draft": lambda: make_reward(status=Reward.DRAFT).id,
        "archived": lambda: make_reward(archived_at=NOW).id,
        "other club": lambda: Reward.objects.create(club=other_club, name="x", price=1, status="published").id,
    }[kind]()
    response = member_api.post(f"{shop(club)}/{reward_id}/purchase")
    assert (response.status_code, response.json()) == (404, {"error": f"Reward#{reward_id} not found"})


def purchase_error(member_api, club, reward):
    response = member_api.post(f"{shop(club)}/{reward.id}/purchase")
    return response.status_code, response.json()


def test_purchase_errors_come_in_the_contracts_order(member_api, club, member, make_reward):
    services.program_config_update(club=club, levels_program=LEVELS)
    # Every check fails at once: the first one answers, and each fix reveals the next.
    reward = make_reward(price=50, stock=0, required_member_level="Gold")
    ban(member)
    assert purchase_error(member_api, club, reward)[0] == 467
    member.banned_until = None
    member.save(update_fields=["banned_until"])
    assert purchase_error(member_api, club, reward) == (
        480,
        {"error": "Member is not participating in Rewards Program"},
    )
    services.membership_join(member=member)
    assert purchase_error(member_api, club, reward) == (422, {"error": "Member level is not high enough"})
    services.points_grant(member=member, points=1000)
    services.points_correct(member=member, points=-1000)  # Gold reached (lifetime), balance 0
    assert purchase_error(member_api, club, reward) == (422, {"error": "Global limit exceeded"})
    reward.stock = 1
    reward.save(update_fields=["stock"])
    assert purchase_error(member_api, club, reward) == (422, {"error": "Not enough points"})
    services.points_grant(member=member, points=50)
    assert purchase_error(member_api, club, reward) == (200, {})
    assert purchase_error(member_api, club, reward) == (422, {"error": "Global limit exceeded"})


def test_a_reward_past_its_available_until_is_global_limit_exceeded(member_api, club, member, joined, make_reward):
    services.points_grant(member=member, points=100)
    reward = make_reward(available_until=NOW)
    with at(NOW):
        assert purchase_error(member_api, club, reward) == (422, {"error": "Global limit exceeded"})


def test_a_refused_purchase_leaves_no_trace(member_api, club, member, joined, make_reward):
    services.points_grant(member=member, points=10)
    reward = make_reward(price=11, stock=5)
    assert purchase_error(member_api, club, reward) == (422, {"error": "Not enough points"})
    reward.refresh_from_db()
    assert (reward.remaining_stock, ledger(member), RewardPurchase.objects.count()) == (5, [("grant", 10)], 0)


def test_a_required_level_that_is_no_longer_in_the_program_cannot_be_met(member_api, club, member, joined, make_reward):
    services.points_grant(member=member, points=5000)
    reward = make_reward(required_member_level="Platinum")
    assert purchase_error(member_api, club, reward) == (422, {"error": "Member level is not high enough"})


# --- Purchased and use -------------------------------------------------------------------------------


def use(member_api, club, reward):
    response = member_api.post(f"{shop(club)}/{reward.id}/use")
    return response.status_code, response.json()


def test_purchased_lists_one_entry_per_reward_with_the_uses_of_all_purchases(
    member_api, club, member, joined, make_reward
):
    services.points_grant(member=member, points=1000)
    coffee = make_reward(name="Coffee", price=10, uses_per_purchase=2, usable_for_seconds=86400)
    spa = make_reward(name="Spa", price=100)
    with at(NOW):
        services.reward_purchase(member=member, reward=coffee)
    with at(NOW + timedelta(hours=1)):
        services.reward_purchase(member=member, reward=coffee)
        services.reward_use(member=member, reward=coffee)
        cancelled = services.reward_purchase(member=member, reward=spa)
        services.transaction_cancel(member=member, transaction_id=cancelled.transaction_id)
    with at(NOW + timedelta(hours=2)):
        response = member_api.get(f"{shop(club)}/purchased")
    assert response.status_code == 200
    assert response.json() == {
        "rewards": [
            {
                "id": coffee.id,
                "name": "Coffee",
                "description": None,
                "required_member_level": None,
                "available_until": None,
                "files": [],
                "usage": {
                    "left": 3,
                    "active_until": "2024-06-12T11:00:30.000Z",
                    "usable_until": "2024-06-13T11:00:00.000Z",
                    "usable": True,
                },
            }
        ]
    }


def test_use_answers_the_usage_and_counts_down(member_api, club, member, joined, make_reward):
    services.points_grant(member=member, points=100)
    reward = make_reward(uses_per_purchase=2, usable_for_seconds=600)
    with at(NOW):
        services.reward_purchase(member=member, reward=reward)
        assert use(member_api, club, reward) == (
            200,
            {
                "usage": {
                    "left": 1,
                    "active_until": "2024-06-12T10:00:30.000Z",
                    "usable_until": "2024-06-12T10:10:00.000Z",
                    "usable": True,
                }
            },
        )


def test_use_errors_come_in_the_contracts_order(member_api, club, member, make_reward):
    services.program_config_update(club=club, reward_activation_time=60)
    reward = make_reward(price=10, uses_per_purchase=1, usable_for_seconds=3600)
    assert use(member_api, club, Reward(id=99999)) == (404, {"error": "Reward#99999 not found"})
    ban(member)
    assert use(member_api, club, reward)[0] == 467
    member.banned_until = None
    member.save(update_fields=["banned_until"])
    assert use(member_api, club, reward) == (480, {"error": "Member is not participating in Rewards Program"})
    services.membership_join(member=member)
    assert use(member_api, club, reward) == (422, {"error": "Not granted"})
    services.points_grant(member=member, points=100)
    with at(NOW):
        services.reward_purchase(member=member, reward=reward)
        assert use(member_api, club, reward)[0] == 200
    with at(NOW + timedelta(seconds=30)):
        assert use(member_api, club, reward) == (422, {"error": "Already active"})
    with at(NOW + timedelta(seconds=61)):
        assert use(member_api, club, reward) == (422, {"error": "User limit exceeded"})
    with at(NOW + timedelta(seconds=3600)):
        assert use(member_api, club, reward) == (422, {"error": "Not in usable timeframes"})


def test_a_purchase_cancelled_before_use_cannot_be_used(member_api, club, member, joined, make_reward):
    services.points_grant(member=member, points=100)
    reward = make_reward()
    bought = services.reward_purchase(member=member, reward=reward)
    services.transaction_cancel(member=member, transaction_id=bought.transaction_id)
    assert use(member_api, club, reward) == (422, {"error": "Not granted"})


def test_an_archived_reward_bought_earlier_can_still_be_used(member_api, club, member, joined, make_reward):
    services.points_grant(member=member, points=100)
    reward = make_reward()
    services.reward_purchase(member=member, reward=reward)
    services.reward_delete(reward=reward)  # archived, since it was bought
    assert use(member_api, club, reward)[0] == 200


# --- Management --------------------------------------------------------------------------------------


def test_staff_create_read_update_and_list_rewards(api, club):
    services.program_config_update(club=club, levels_program=LEVELS)
    club.timezone = "Europe/Oslo"
    club.save(update_fields=["timezone"])
    created = api.post(
        admin(club),
        {
            "reward": {
                "name": "Spa day",
                "price": 500,
                "status": "published",
                "stock": 10,
                "required_member_level": "Gold",
                "uses_per_purchase": 1,
                "usable_for_seconds": 86400,
                "available_until": "2024-12-31T23:59:00",  # naive: Oslo time
                "files": [{"url": "https://cdn.example.com/spa.png", "width": 640, "height": 480}],
            }
        },
        format="json",
    )
    assert created.status_code == 201
    reward_id = created.json()["reward"]["id"]
    expected = {
        "id": reward_id,
        "name": "Spa day",
        "description": None,
        "price": 500,
        "required_member_level": "Gold",
        "remaining_stock": 10,
        "available_until": "2024-12-31T22:59:00.000Z",
        "files": [
            {
                "url": "https://cdn.example.com/spa.png",
                "width": 640,
                "height": 480,
                "kind": "reward_default",
                "size_type": "original",
            }
        ],
        "status": "published",
        "stock": 10,
        "uses_per_purchase": 1,
        "usable_for_seconds": 86400,
        "archived_at": None,
    }
    assert created.json() == {"reward": expected}
    assert api.get(f"{admin(club)}/{reward_id}").json() == {"reward": expected}
    updated = api.put(f"{admin(club)}/{reward_id}", {"reward": {"price": 450, "stock": None}}, format="json")
    assert updated.json() == {"reward": {**expected, "price": 450, "stock": None, "remaining_stock": None}}
    listing = api.get(admin(club), {"per_page": 1}).json()
    assert listing["rewards"] == [updated.json()["reward"]]
    assert listing["pagination_info"]["total_count"] == 1


def test_a_required_level_must_name_a_level_of_the_program(api, club):
    services.program_config_update(club=club, levels_program=LEVELS)
    response = api.post(
        admin(club), {"reward": {"name": "x", "price": 1, "required_member_level": "Diamond"}}, format="json"
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {
            "reward": {
                "required_member_level": [
                    {
                        "value": "Diamond",
                        "error": "inclusion",
                        "options": {"in": ["Bronze", "Gold"]},
                        "message": "must be one of: Bronze, Gold",
                    }
                ]
            }
        },
    }


def test_a_reward_price_must_be_positive(api, club):
    response = api.post(admin(club), {"reward": {"name": "x", "price": 0}}, format="json")
    assert response.status_code == 422
    assert response.json()["details"]["reward"]["price"][0]["error"] == "greater_or_equal_to"


def test_deleting_a_reward_nobody_bought_removes_it_and_a_bought_one_is_archived(
    api, club, member, joined, make_reward
):
    unsold, sold = make_reward(name="Unsold"), make_reward(name="Sold")
    services.points_grant(member=member, points=100)
    services.reward_purchase(member=member, reward=sold)
    assert api.delete(f"{admin(club)}/{unsold.id}").json() == {}
    assert api.delete(f"{admin(club)}/{sold.id}").json() == {}
    assert list(Reward.objects.values_list("name", flat=True)) == ["Sold"]
    assert Reward.objects.get().archived_at is not None
    assert api.get(f"{admin(club)}/{unsold.id}").status_code == 404
