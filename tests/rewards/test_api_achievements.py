"""Reporting achievements (limits, calendar frequencies in the club's time zone) and the summary (SPEC §6.3, §6.7)."""

from datetime import UTC, datetime, timedelta

import pytest

from rewards import services
from tests.rewards.conftest import at, ledger

NOW = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)  # a Wednesday


def me(club) -> str:
    return f"/v3/{club.slug}/members/me/rewards-program"


def report(client, club, type="app_opened"):
    return client.post(f"{me(club)}/achievements", {"type": type}, format="json")


def test_reporting_an_achievement_earns_the_rules_points(member_api, club, member, joined, make_rule):
    rule = make_rule("app_opened", points=15)
    with at(NOW):
        response = report(member_api, club)
    assert response.status_code == 200
    assert response.json() == {
        "transaction": {
            "id": response.json()["transaction"]["id"],
            "type": "achievement",
            "date": "2024-06-12T10:00:00.000Z",
            "amount": 15,
            "expires_at": "2025-06-12T10:00:00.000Z",
            "expired_at": None,
            "cancelled_at": None,
            "details": {"achievement_type": "app_opened", "rule_id": rule.id},
        }
    }


def test_reporting_by_member_id_works_for_back_ends(api, club, member, joined, make_rule):
    make_rule("wifi_approached", points=3)
    response = api.post(
        f"/v3/{club.slug}/members/{member.id}/rewards-program/achievements", {"type": "wifi_approached"}, format="json"
    )
    assert (response.status_code, ledger(member)) == (200, [("achievement", 3)])


def test_an_achievement_without_a_rule_is_404(member_api, club, joined):
    response = report(member_api, club, "push_opened")
    assert (response.status_code, response.json()) == (404, {"error": "Achievement not found"})


def test_an_unknown_achievement_type_is_422(member_api, club, joined):
    response = report(member_api, club, "sky_diving")
    assert response.status_code == 422
    assert response.json()["details"]["type"][0]["error"] == "inclusion"


def test_the_lifetime_limit_counts_non_cancelled_achievements(member_api, club, member, joined, make_rule):
    make_rule("app_opened", points=5, limit=2)
    first = report(member_api, club).json()["transaction"]
    assert report(member_api, club).status_code == 200
    refused = report(member_api, club)
    assert (refused.status_code, refused.json()) == (422, {"error": "Achievement limit exceeded"})
    services.transaction_cancel(member=member, transaction_id=first["id"])
    assert report(member_api, club).status_code == 200


def test_the_daily_frequency_follows_the_club_time_zone(member_api, club, member, joined, make_rule):
    club.timezone = "Europe/Oslo"
    club.save(update_fields=["timezone"])
    make_rule("app_opened", points=5, frequency_timespan="day", frequency_limit=1)
    with at("2024-06-12T21:30:00Z"):  # 23:30 in Oslo
        assert report(member_api, club).status_code == 200
    with at("2024-06-12T21:59:00Z"):  # still the 12th in Oslo
        refused = report(member_api, club)
    with at("2024-06-12T22:30:00Z"):  # 00:30 on the 13th in Oslo, though still the 12th in UTC
        accepted = report(member_api, club)
    assert (refused.status_code, refused.json()) == (422, {"error": "Achievement frequency limit exceeded"})
    assert accepted.status_code == 200


@pytest.mark.parametrize(
    ("timespan", "first", "refused", "accepted"),
    [
        ("hour", "2024-06-12T10:05:00Z", "2024-06-12T10:59:59Z", "2024-06-12T11:00:00Z"),
        ("week", "2024-06-10T00:00:00Z", "2024-06-16T23:59:59Z", "2024-06-17T00:00:00Z"),  # ISO weeks, Monday
        ("month", "2024-06-01T00:00:00Z", "2024-06-30T23:59:59Z", "2024-07-01T00:00:00Z"),
        ("year", "2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z", "2025-01-01T00:00:00Z"),
    ],
)
def test_frequencies_reset_at_the_calendar_boundary(
    member_api, club, joined, make_rule, timespan, first, refused, accepted
):
    make_rule("app_opened", points=5, frequency_timespan=timespan, frequency_limit=1)
    with at(first):
        assert report(member_api, club).status_code == 200
    with at(refused):
        assert report(member_api, club).status_code == 422
    with at(accepted):
        assert report(member_api, club).status_code == 200


def test_reporting_for_a_member_who_has_not_joined_is_480(member_api, club, make_rule):
    make_rule("app_opened")
    assert report(member_api, club).status_code == 480


def test_a_banned_member_cannot_report_achievements(member_api, club, member, joined, make_rule):
    make_rule("app_opened")
    member.banned_until = datetime(2137, 1, 1, tzinfo=UTC)
    member.save(update_fields=["banned_until"])
    response = report(member_api, club)
    assert (response.status_code, response.json()["error"]) == (467, "Member is banned!")


# --- Summary -----------------------------------------------------------------------------------------


def test_the_summary_has_one_row_per_month_newest_first_with_zeros_in_the_club_time_zone(
    member_api, club, member, joined, make_rule
):
    club.timezone = "Europe/Oslo"
    club.save(update_fields=["timezone"])
    make_rule("app_opened", points=10)
    make_rule("coupon_used", points=25)
    for when, type in [
        ("2024-03-31T22:30:00Z", "app_opened"),  # 00:30 on April 1st in Oslo: April
        ("2024-04-15T12:00:00Z", "coupon_used"),
        ("2024-06-01T12:00:00Z", "app_opened"),
        ("2024-06-02T12:00:00Z", "app_opened"),
        ("2023-12-31T12:00:00Z", "app_opened"),  # outside a 4-month window
    ]:
        with at(when):
            services.achievement_report(member=member, type=type)
    with at("2024-06-03T12:00:00Z"):
        cancelled = services.achievement_report(member=member, type="coupon_used")
        services.transaction_cancel(member=member, transaction_id=cancelled.pk)
        services.points_grant(member=member, points=99)  # not an achievement

    with at(NOW):
        response = member_api.get(f"{me(club)}/status/achievements_summary", {"months_no": 4})

    assert response.status_code == 200
    assert response.json() == {
        "achievements_by_type": [
            {"type": "app_opened", "times_achieved": 3, "total_amount_earned": 30},
            {"type": "coupon_used", "times_achieved": 1, "total_amount_earned": 25},
        ],
        "achievements_by_month": [
            {"year": 2024, "month": 6, "achievements_made": 2, "total_amount_earned": 20},
            {"year": 2024, "month": 5, "achievements_made": 0, "total_amount_earned": 0},
            {"year": 2024, "month": 4, "achievements_made": 2, "total_amount_earned": 35},
            {"year": 2024, "month": 3, "achievements_made": 0, "total_amount_earned": 0},
        ],
    }


def test_the_summary_defaults_to_twelve_months_and_accepts_zero(member_api, club, joined):
    with at(NOW):
        default = member_api.get(f"{me(club)}/status/achievements_summary").json()
        empty = member_api.get(f"{me(club)}/status/achievements_summary", {"months_no": 0}).json()
    months = [(row["year"], row["month"]) for row in default["achievements_by_month"]]
    assert months == [(2024, m) for m in range(6, 0, -1)] + [(2023, m) for m in range(12, 6, -1)]
    assert empty == {"achievements_by_type": [], "achievements_by_month": []}


def test_the_summary_rejects_a_window_beyond_999_months(member_api, club, joined):
    response = member_api.get(f"{me(club)}/status/achievements_summary", {"months_no": 1000})
    assert response.status_code == 422
    assert response.json()["details"]["months_no"][0]["error"] == "less_or_equal_to"


def test_the_summary_for_a_member_who_has_not_joined_is_480(member_api, club, member):
    assert member_api.get(f"{me(club)}/status/achievements_summary").status_code == 480


def test_a_summary_can_span_a_long_window(member_api, club, joined):
    with at(NOW + timedelta(days=1)):
        body = member_api.get(f"{me(club)}/status/achievements_summary", {"months_no": 999}).json()
    assert len(body["achievements_by_month"]) == 999
    assert body["achievements_by_month"][-1] == {
        "year": 1941,
        "month": 4,
        "achievements_made": 0,
        "total_amount_earned": 0,
    }
