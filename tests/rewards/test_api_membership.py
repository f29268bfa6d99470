"""Join, leave and status (SPEC §6.3, §6.5) through the real URLs and headers."""

from datetime import UTC, datetime, timedelta

import pytest

from rewards import services
from rewards.models import Membership, Transaction
from tests.rewards.conftest import at

NOW = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


def me(club) -> str:
    return f"/v3/{club.slug}/members/me/rewards-program"


def by_id(club, member) -> str:
    return f"/v3/{club.slug}/members/{member.id}/rewards-program"


# --- Join and leave ----------------------------------------------------------------------------------


def test_join_answers_an_empty_object_and_is_idempotent(member_api, club, member):
    with at(NOW):
        first = member_api.post(f"{me(club)}/join")
    with at(NOW + timedelta(days=1)):
        second = member_api.post(f"{me(club)}/join")
    assert (first.status_code, first.json(), second.status_code, second.json()) == (200, {}, 200, {})
    assert list(Membership.objects.values_list("member_id", "started_at")) == [(member.id, NOW)]


def test_join_by_id_needs_its_own_permit_and_joins_that_member(client_with, club, member):
    client = client_with("Rewards:Api:Memberships:Create")
    response = client.post(f"{by_id(club, member)}/join")
    assert (response.status_code, response.json()) == (200, {})
    assert Membership.objects.filter(member=member).exists()


def test_join_by_unknown_id_is_404(api, club):
    response = api.post(f"/v3/{club.slug}/members/424242/rewards-program/join")
    assert (response.status_code, response.json()) == (404, {"error": "Member#424242 not found"})


def test_a_banned_member_cannot_join(member_api, club, member):
    member.banned_until = datetime(2137, 10, 28, 17, 24, 6, 207000, tzinfo=UTC)
    member.save(update_fields=["banned_until"])
    response = member_api.post(f"{me(club)}/join")
    assert response.status_code == 467
    assert response.json() == {"error": "Member is banned!", "banned_until": "2137-10-28T17:24:06.207Z"}
    assert not Membership.objects.exists()


def test_join_without_the_member_token_is_460(api, club):
    response = api.post(f"{me(club)}/join")
    assert response.status_code == 460


def test_leave_deletes_points_and_transactions_and_status_then_shows_no_membership(member_api, club, member, joined):
    services.points_grant(member=member, points=100)
    response = member_api.delete(f"{me(club)}/leave")
    assert (response.status_code, response.json()) == (200, {})
    assert not Transaction.objects.exists()
    assert member_api.get(f"{me(club)}/status").json() == {"membership": False}


def test_leave_without_membership_is_480(member_api, club, member):
    response = member_api.delete(f"{me(club)}/leave")
    assert response.status_code == 480
    assert response.json() == {"error": "Member is not participating in Rewards Program"}


# --- Status ------------------------------------------------------------------------------------------


def test_status_of_a_member_who_has_not_joined_is_exactly_membership_false(member_api, api, club, member):
    for client, url in ((member_api, f"{me(club)}/status"), (api, f"{by_id(club, member)}/status")):
        response = client.get(url)
        assert (response.status_code, response.json()) == (200, {"membership": False})


def test_status_by_id_shows_the_same_as_me(member_api, api, club, member, joined):
    services.points_grant(member=member, points=7)
    assert api.get(f"{by_id(club, member)}/status").json() == member_api.get(f"{me(club)}/status").json()


def test_status_lists_transactions_newest_first_then_by_id_descending(member_api, club, member, joined):
    with at(NOW):
        a = services.points_grant(member=member, points=1)
        b = services.points_grant(member=member, points=2)
    with at(NOW + timedelta(hours=1)):
        c = services.points_grant(member=member, points=3)
    with at(NOW - timedelta(hours=1)):
        d = services.points_grant(member=member, points=4)
    ids = [t["id"] for t in member_api.get(f"{me(club)}/status").json()["transactions"]]
    assert ids == [c.pk, b.pk, a.pk, d.pk]


def test_status_paginates_with_page_or_page_no(member_api, club, member, joined):
    with at(NOW):
        created = [services.points_grant(member=member, points=i + 1).pk for i in range(5)]
    newest_first = created[::-1]
    page2 = member_api.get(f"{me(club)}/status", {"per_page": 2, "page": 2}).json()
    assert [t["id"] for t in page2["transactions"]] == newest_first[2:4]
    assert page2["pagination_info"] == {
        "total_count": 5,
        "per_page": 2,
        "total_pages": 3,
        "current_page": 2,
        "next_page": 3,
        "prev_page": 1,
        "is_first_page": False,
        "is_last_page": False,
        "is_out_of_range": False,
    }
    page3 = member_api.get(f"{me(club)}/status", {"per_page": 2, "page_no": 3}).json()
    assert [t["id"] for t in page3["transactions"]] == newest_first[4:]
    beyond = member_api.get(f"{me(club)}/status", {"per_page": 2, "page": 9}).json()
    assert (beyond["transactions"], beyond["pagination_info"]["is_out_of_range"]) == ([], True)


@pytest.mark.parametrize(
    ("query", "details"),
    [
        (
            {"per_page": 1001},
            {
                "per_page": [
                    {
                        "value": 1001,
                        "error": "less_or_equal_to",
                        "options": {"number": 1000},
                        "message": "must be less than or equal to 1000",
                    }
                ]
            },
        ),
        (
            {"page": 0},
            {
                "page": [
                    {
                        "value": 0,
                        "error": "greater_or_equal_to",
                        "options": {"number": 1},
                        "message": "must be greater than or equal to 1",
                    }
                ]
            },
        ),
    ],
)
def test_status_with_invalid_pagination_is_422(member_api, club, member, joined, query, details):
    response = member_api.get(f"{me(club)}/status", query)
    assert response.status_code == 422
    assert response.json() == {"error": "Invalid parameters", "details": details}


def test_expiring_points_are_the_next_three_days_with_points_in_the_club_time_zone(member_api, club, member, joined):
    club.timezone = "Europe/Oslo"
    club.save(update_fields=["timezone"])
    services.program_config_update(club=club, points_validity_days=10)
    # Lots last 10 days. Expiring at 2024-06-11 21:30 UTC is 23:30 that day in Oslo; 22:30 UTC is already
    # the 12th there: the days are the club's.
    for when, points in [
        (NOW - timedelta(days=11), 1),  # already due: not "expiring", whatever the job did
        (NOW + timedelta(hours=11, minutes=30), 10),  # expires 2024-06-11 23:30 Oslo
        (NOW + timedelta(hours=12, minutes=30), 5),  # expires 2024-06-12 00:30 Oslo
        (NOW + timedelta(hours=11), 20),  # expires 2024-06-11 23:00 Oslo, the soonest
        (NOW + timedelta(days=2), 7),
        (NOW + timedelta(days=3), 9),  # a fourth date: not shown
    ]:
        with at(when):
            services.points_grant(member=member, points=points)
    with at(NOW + timedelta(hours=14, minutes=30)):
        services.points_correct(member=member, points=-3)  # from the soonest spendable lot (20 → 17)
    with at(NOW + timedelta(hours=14, minutes=30)):
        body = member_api.get(f"{me(club)}/status").json()
    assert body["expiring_points"] == [
        {"date": "2024-06-11", "points": 27},
        {"date": "2024-06-12", "points": 5},
        {"date": "2024-06-13", "points": 7},
    ]


@pytest.mark.parametrize(
    ("levels_program", "lifetime", "level"),
    [
        (None, 500, None),
        ({"type": "regular", "levels": [{"name": "Bronze", "points_threshold": 0}]}, 0, "Bronze"),
        (
            {
                "type": "regular",
                "levels": [
                    {"name": "Bronze", "points_threshold": 0},
                    {"name": "Silver", "points_threshold": 100},
                    {"name": "Gold", "points_threshold": 500},
                ],
            },
            499,
            "Silver",
        ),
        ({"type": "virtual_level", "maximum_points": 1000}, 700, None),
    ],
)
def test_status_shows_the_level_reached_by_lifetime_points(
    member_api, club, member, joined, levels_program, lifetime, level
):
    services.program_config_update(club=club, levels_program=levels_program)
    if lifetime:
        services.points_grant(member=member, points=lifetime)
        services.points_correct(member=member, points=-lifetime)  # spending never lowers the level
    body = member_api.get(f"{me(club)}/status").json()
    assert (body["balance"], body["lifetime_points"], body["level"]) == (0, lifetime, level)
