"""Regression tests for what the schemathesis run found (one test per finding, named after it)."""

from __future__ import annotations

from datetime import UTC, datetime

from kit.formats import format_datetime


def test_timestamps_before_year_1000_keep_a_four_digit_year():
    assert format_datetime(datetime(409, 8, 30, 6, 38, 27, 123456, tzinfo=UTC)) == "0409-08-30T06:38:27.123Z"
    assert format_datetime(datetime(2019, 3, 13, 17, 32, tzinfo=UTC)) == "2019-03-13T17:32:00.000Z"


def test_more_query_parameters_than_django_accepts_is_a_422_not_a_500(api, club):
    query = "&".join(f"collection_ids={i}" for i in range(1, 1202))
    response = api.get(f"/v3/{club.slug}/members/guest/offers?{query}")
    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {
            "base": [
                {
                    "value": None,
                    "error": "size_too_large",
                    "options": {"number": 1000},
                    "message": "size cannot be greater than 1000",
                }
            ]
        },
    }


def _documented_statuses(path: str, method: str) -> set[str]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return set(schema["paths"][path][method]["responses"])


def test_the_schema_documents_480_467_and_405_where_the_rewards_endpoints_answer_them():
    cancel = "/v1/{lc}/members/{member_id}/rewards-program/transactions/{transaction_id}/cancel"
    assert {"405", "480"} <= _documented_statuses(cancel, "delete")
    assert {"467", "480"} <= _documented_statuses("/v1/{lc}/members/{member_id}/rewards-program/grant_points", "post")
    purchase = "/v3/{lc}/members/me/rewards-program/rewards/{reward_id}/purchase"
    assert {"467", "480"} <= _documented_statuses(purchase, "post")
    assert "480" not in _documented_statuses("/v3/{lc}/rewards-program/info", "get")


def test_a_partial_reward_update_stores_files_with_every_key_of_the_contract(api, club):
    from rewards.models import Reward

    reward = Reward.objects.create(club=club, name="Mug", price=10, status=Reward.PUBLISHED)

    response = api.put(
        f"/v3/{club.slug}/rewards-program/rewards/admin/{reward.id}",
        {"reward": {"files": [{"url": "https://cdn.example.com/mug.png"}]}},
        format="json",
    )

    expected = {
        "url": "https://cdn.example.com/mug.png",
        "width": None,
        "height": None,
        "kind": "reward_default",
        "size_type": "original",
    }
    assert response.status_code == 200
    assert response.json()["reward"]["files"] == [expected]
    reward.refresh_from_db()
    assert reward.files == [expected]
