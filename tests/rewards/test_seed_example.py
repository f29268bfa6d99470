"""The status example of `../shared/seeds/004_…` reproduced through the API: seven transactions, balance 180,
the same expired_at / cancelled_at markers (with valid timestamps)."""

from datetime import datetime

import time_machine

from rewards import services


def at(iso: str):
    return time_machine.travel(datetime.fromisoformat(iso), tick=False)


def test_the_seed_example_gives_balance_180_with_the_same_markers(
    club, api, member, member_api, make_rule, make_reward
):
    services.program_config_update(club=club, points_validity_days=183)
    coupon_rule = make_rule("coupon_used", points=110)
    make_rule("app_opened", points=150)
    toaster = make_reward(name="Awesome Toaster", price=20)
    v1 = f"/v1/{club.slug}/members/{member.id}/rewards-program"
    me = f"/v3/{club.slug}/members/me/rewards-program"

    with at("2019-05-15T12:43:22.410Z"):
        assert member_api.post(f"{me}/join").json() == {}
    with at("2019-06-12T05:58:00.132Z"):
        grant = api.post(
            f"{v1}/grant_points",
            {"points": 42, "grant_type": "receipt", "grant_properties": {"store_id": 142}},
            format="json",
        ).json()["transaction"]
        cancellation = api.delete(f"{v1}/transactions/{grant['id']}/cancel").json()["transaction"]
    with at("2019-06-14T08:00:15.063Z"):
        coupon = member_api.post(f"{me}/achievements", {"type": "coupon_used"}, format="json").json()["transaction"]
    with at("2019-12-05T08:00:15.063Z"):
        correction = api.post(f"{v1}/corrections", {"points": 50, "comment": "Just for you"}, format="json")
        correction = correction.json()["transaction"]
    with at("2019-12-10T08:00:15.063Z"):
        app = member_api.post(f"{me}/achievements", {"type": "app_opened"}, format="json").json()["transaction"]
    with at("2019-12-14T09:00:00Z"):
        assert services.points_expire_due(as_of=datetime.fromisoformat("2019-12-14T09:00:00Z")).points == 110
    with at("2019-12-15T08:00:15.063Z"):
        assert member_api.post(f"{me}/rewards/{toaster.id}/purchase").json() == {}
    with at("2019-12-15T09:00:00Z"):
        response = member_api.get(f"{me}/status")

    assert response.status_code == 200
    body = response.json()
    purchase_id, expiration_id = body["transactions"][0]["id"], body["transactions"][1]["id"]
    assert body == {
        "membership": True,
        "membership_started_at": "2019-05-15T12:43:22.410Z",
        "balance": 180,
        "lifetime_points": 310,
        "level": None,
        "expiring_points": [{"date": "2020-06-05", "points": 30}, {"date": "2020-06-10", "points": 150}],
        "transactions": [
            {
                "id": purchase_id,
                "type": "reward_purchase",
                "date": "2019-12-15T08:00:15.063Z",
                "amount": -20,
                "expires_at": None,
                "expired_at": None,
                "cancelled_at": None,
                "details": {"reward_name": "Awesome Toaster", "reward_id": toaster.id},
            },
            {
                "id": expiration_id,
                "type": "expiration",
                "date": "2019-12-14T08:00:15.063Z",
                "amount": -110,
                "expires_at": None,
                "expired_at": None,
                "cancelled_at": None,
                "details": {"expired_transaction_id": coupon["id"]},
            },
            {
                "id": app["id"],
                "type": "achievement",
                "date": "2019-12-10T08:00:15.063Z",
                "amount": 150,
                "expires_at": "2020-06-10T08:00:15.063Z",
                "expired_at": None,
                "cancelled_at": None,
                "details": {"achievement_type": "app_opened", "rule_id": app["details"]["rule_id"]},
            },
            {
                "id": correction["id"],
                "type": "correction",
                "date": "2019-12-05T08:00:15.063Z",
                "amount": 50,
                "expires_at": "2020-06-05T08:00:15.063Z",
                "expired_at": None,
                "cancelled_at": None,
                "details": {"comment": "Just for you"},
            },
            {
                "id": coupon["id"],
                "type": "achievement",
                "date": "2019-06-14T08:00:15.063Z",
                "amount": 110,
                "expires_at": "2019-12-14T08:00:15.063Z",
                "expired_at": "2019-12-14T08:00:15.063Z",
                "cancelled_at": None,
                "details": {"achievement_type": "coupon_used", "rule_id": coupon_rule.id},
            },
            {
                "id": cancellation["id"],
                "type": "cancellation",
                "date": "2019-06-12T05:58:00.132Z",
                "amount": -42,
                "expires_at": None,
                "expired_at": None,
                "cancelled_at": "2019-06-12T05:58:00.132Z",
                "details": {"cancelled_transaction_id": grant["id"]},
            },
            {
                "id": grant["id"],
                "type": "grant",
                "date": "2019-06-12T05:58:00.132Z",
                "amount": 42,
                "expires_at": "2019-12-12T05:58:00.132Z",
                "expired_at": None,
                "cancelled_at": "2019-06-12T05:58:00.132Z",
                "details": {"grant_type": "receipt", "grant_properties": {"store_id": 142}},
            },
        ],
        "pagination_info": {
            "total_count": 7,
            "per_page": 1000,
            "total_pages": 1,
            "current_page": 1,
            "next_page": None,
            "prev_page": None,
            "is_first_page": True,
            "is_last_page": True,
            "is_out_of_range": False,
        },
    }
    assert [t["id"] for t in body["transactions"]] == sorted((t["id"] for t in body["transactions"]), reverse=True)
