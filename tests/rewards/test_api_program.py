"""Program configuration and achievement rules management (SPEC §6.2)."""

import pytest

from rewards.models import Achievement, ProgramConfig


def info(club) -> str:
    return f"/v3/{club.slug}/rewards-program/info"


def rules(club) -> str:
    return f"/v3/{club.slug}/rewards-program/achievements"


def leaf(value, error, message, **options):
    return [{"value": value, "error": error, "options": options, "message": message}]


def test_info_shows_the_defaults_created_on_first_use(api, club):
    assert not ProgramConfig.objects.exists()
    response = api.get(info(club))
    assert response.status_code == 200
    assert response.json() == {
        "achievements": [],
        "levels_program": None,
        "reward_activation_time": 30,
        "points_validity_days": 365,
    }
    assert ProgramConfig.objects.filter(club=club).count() == 1


def test_info_update_is_partial_and_shows_the_rules(api, club, make_rule):
    rule = make_rule("app_opened", points=15, limit=3, frequency_timespan="day", frequency_limit=1)
    levels = {
        "type": "regular",
        "levels": [{"name": "Bronze", "points_threshold": 0}, {"name": "Gold", "points_threshold": 500}],
    }
    response = api.put(info(club), {"points_validity_days": None, "levels_program": levels}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "achievements": [
            {
                "id": rule.id,
                "type": "app_opened",
                "name": "App Opened",
                "points": 15,
                "limit": 3,
                "frequency": {"timespan": "day", "limit": 1},
            }
        ],
        "levels_program": levels,
        "reward_activation_time": 30,
        "points_validity_days": None,
    }
    assert api.put(info(club), {"reward_activation_time": 60}, format="json").json()["points_validity_days"] is None


def test_a_virtual_level_program_is_accepted(api, club):
    response = api.put(info(club), {"levels_program": {"type": "virtual_level", "maximum_points": 1000}}, format="json")
    assert response.json()["levels_program"] == {"type": "virtual_level", "maximum_points": 1000}


@pytest.mark.parametrize(
    ("levels_program", "details"),
    [
        (
            {"type": "tiers"},
            {
                "type": leaf(
                    "tiers",
                    "inclusion",
                    "must be one of: regular, virtual_level",
                    **{"in": ["regular", "virtual_level"]},
                )
            },
        ),
        (
            {"type": "regular", "levels": [{"name": "Silver", "points_threshold": 100}]},
            {
                "levels": leaf(
                    [{"name": "Silver", "points_threshold": 100}],
                    "invalid",
                    "is in invalid format (points_threshold ascending, the first 0)",
                    format="points_threshold ascending, the first 0",
                )
            },
        ),
        ({"type": "virtual_level"}, {"maximum_points": leaf(None, "presence", "is missing")}),
        ("regular", leaf("regular", "must_be_an_object", "must be an object")),
    ],
)
def test_an_invalid_levels_program_is_422_under_levels_program(api, club, levels_program, details):
    response = api.put(info(club), {"levels_program": levels_program}, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": "Invalid parameters", "details": {"levels_program": details}}


def test_points_validity_days_must_be_positive(api, club):
    response = api.put(info(club), {"points_validity_days": 0}, format="json")
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {
            "points_validity_days": leaf(0, "greater_or_equal_to", "must be greater than or equal to 1", number=1)
        },
    }


# --- Achievement rules -------------------------------------------------------------------------------


def test_an_achievement_rule_is_created_listed_updated_and_deleted(api, club):
    created = api.post(
        rules(club),
        {
            "achievement": {
                "type": "coupon_used",
                "name": "Coupon",
                "points": 10,
                "frequency": {"timespan": "week", "limit": 2},
            }
        },
        format="json",
    )
    assert created.status_code == 201
    rule_id = created.json()["achievement"]["id"]
    assert created.json() == {
        "achievement": {
            "id": rule_id,
            "type": "coupon_used",
            "name": "Coupon",
            "points": 10,
            "limit": None,
            "frequency": {"timespan": "week", "limit": 2},
        }
    }
    assert api.get(rules(club)).json() == {"achievements": [created.json()["achievement"]]}

    updated = api.put(f"{rules(club)}/{rule_id}", {"achievement": {"points": 25, "frequency": None}}, format="json")
    assert updated.status_code == 200
    assert updated.json()["achievement"] == {**created.json()["achievement"], "points": 25, "frequency": None}

    deleted = api.delete(f"{rules(club)}/{rule_id}")
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert not Achievement.objects.exists()


def test_a_second_rule_of_the_same_type_is_taken(api, club, make_rule):
    make_rule("app_opened")
    response = api.post(
        rules(club), {"achievement": {"type": "app_opened", "name": "Again", "points": 1}}, format="json"
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"achievement": {"type": leaf("app_opened", "taken", "has already been taken")}},
    }


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, {"achievement": leaf(None, "presence", "is missing")}),
        (
            {"achievement": {"type": "app_opened", "name": "x", "points": 0}},
            {"achievement": {"points": leaf(0, "greater_or_equal_to", "must be greater than or equal to 1", number=1)}},
        ),
        (
            {
                "achievement": {
                    "type": "app_opened",
                    "name": "x",
                    "points": 1,
                    "frequency": {"timespan": "minute", "limit": 1},
                }
            },
            {
                "achievement": {
                    "frequency": {
                        "timespan": leaf(
                            "minute",
                            "inclusion",
                            "must be one of: hour, day, week, month, year",
                            **{"in": ["hour", "day", "week", "month", "year"]},
                        )
                    }
                }
            },
        ),
    ],
)
def test_invalid_rules_are_422(api, club, body, details):
    response = api.post(rules(club), body, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": "Invalid parameters", "details": details}


def test_updating_an_unknown_rule_is_404(api, club):
    response = api.put(f"{rules(club)}/777", {"achievement": {"points": 2}}, format="json")
    assert (response.status_code, response.json()) == (404, {"error": "Achievement#777 not found"})


def test_rules_of_another_club_are_not_found(api, club, other_club):
    foreign = Achievement.objects.create(club=other_club, type="app_opened", name="x", points=1)
    response = api.delete(f"{rules(club)}/{foreign.id}")
    assert response.status_code == 404
    assert Achievement.objects.filter(pk=foreign.pk).exists()
