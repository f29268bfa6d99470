"""Staff / back-end ledger endpoints under /v1 (SPEC §6.4): grant points, corrections, cancel."""

from datetime import UTC, datetime, timedelta

import pytest

from rewards import services
from rewards.models import Membership
from tests.rewards.conftest import at, ledger

NOW = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def v1(club, member_id) -> str:
    return f"/v1/{club.slug}/members/{member_id}/rewards-program"


def leaf(value, error, message, **options):
    return [{"value": value, "error": error, "options": options, "message": message}]


def test_grant_points_answers_the_new_transaction(api, club, member, joined):
    with at(NOW):
        response = api.post(
            f"{v1(club, member.id)}/grant_points",
            {"points": 42, "grant_type": "receipt", "grant_properties": {"store_id": 142}},
            format="json",
        )
    assert response.status_code == 200
    tx_id = response.json()["transaction"]["id"]
    assert response.json() == {
        "transaction": {
            "id": tx_id,
            "type": "grant",
            "date": "2024-03-01T09:30:00.000Z",
            "amount": 42,
            "expires_at": "2025-03-01T09:30:00.000Z",
            "expired_at": None,
            "cancelled_at": None,
            "details": {"grant_type": "receipt", "grant_properties": {"store_id": 142}},
        }
    }
    assert Membership.objects.get(member=member).balance == 42


def test_grant_points_without_optional_fields_has_empty_details(api, club, member, joined):
    response = api.post(f"{v1(club, member.id)}/grant_points", {"points": 5}, format="json")
    assert response.status_code == 200
    assert response.json()["transaction"]["details"] == {}


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, {"points": leaf(None, "presence", "is missing")}),
        ({"points": 0}, {"points": leaf(0, "greater_or_equal_to", "must be greater than or equal to 1", number=1)}),
        ({"points": "five"}, {"points": leaf("five", "not_an_integer", "must be an integer")}),
        ({"points": True}, {"points": leaf(True, "not_an_integer", "must be an integer")}),
        (
            {"points": 1_000_000_001},
            {
                "points": leaf(
                    1_000_000_001,
                    "less_or_equal_to",
                    "must be less than or equal to 1000000000",
                    number=1_000_000_000,
                )
            },
        ),
        (
            {"points": 5, "grant_properties": [1]},
            {"grant_properties": leaf([1], "must_be_an_object", "must be an object")},
        ),
    ],
)
def test_grant_points_with_invalid_parameters_answers_422(api, club, member, joined, body, details):
    response = api.post(f"{v1(club, member.id)}/grant_points", body, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": "Invalid parameters", "details": details}
    assert ledger(member) == []


def test_grant_points_to_an_unknown_member_is_404_before_parameters_are_checked(api, club):
    response = api.post(f"{v1(club, 987654)}/grant_points", {"points": 0}, format="json")
    assert response.status_code == 404
    assert response.json() == {"error": "Member#987654 not found"}


def test_grant_points_to_a_member_of_another_club_is_404(api, club, other_club):
    from tests.factories import MemberFactory

    stranger = MemberFactory(club=other_club)
    response = api.post(f"{v1(club, stranger.id)}/grant_points", {"points": 5}, format="json")
    assert response.status_code == 404
    assert response.json() == {"error": f"Member#{stranger.id} not found"}


def test_grant_points_to_a_member_who_has_not_joined_is_480(api, club, member):
    response = api.post(f"{v1(club, member.id)}/grant_points", {"points": 5}, format="json")
    assert response.status_code == 480
    assert response.json() == {"error": "Member is not participating in Rewards Program"}


def test_grant_points_to_a_banned_member_is_467(api, club, member, joined):
    member.banned_until = datetime(2137, 10, 28, 17, 24, 6, 207000, tzinfo=UTC)
    member.save(update_fields=["banned_until"])
    response = api.post(f"{v1(club, member.id)}/grant_points", {"points": 5}, format="json")
    assert response.status_code == 467
    assert response.json() == {"error": "Member is banned!", "banned_until": "2137-10-28T17:24:06.207Z"}
    assert ledger(member) == []


def test_rewards_endpoints_answer_402_when_the_club_has_rewards_disabled(api, club, member, joined):
    club.rewards_enabled = False
    club.save(update_fields=["rewards_enabled"])
    response = api.post(f"{v1(club, member.id)}/grant_points", {"points": 5}, format="json")
    assert response.status_code == 402
    assert response.json() == {"error": "Rewards Program is not enabled for the Loyalty Club"}


# --- Corrections -------------------------------------------------------------------------------------


def test_a_positive_correction_adds_a_lot_with_the_comment(api, club, member, joined):
    with at(NOW):
        response = api.post(
            f"{v1(club, member.id)}/corrections", {"points": 50, "comment": "Just for you"}, format="json"
        )
    assert response.status_code == 200
    assert response.json() == {
        "transaction": {
            "id": response.json()["transaction"]["id"],
            "type": "correction",
            "date": "2024-03-01T09:30:00.000Z",
            "amount": 50,
            "expires_at": "2025-03-01T09:30:00.000Z",
            "expired_at": None,
            "cancelled_at": None,
            "details": {"comment": "Just for you"},
        }
    }


def test_a_negative_correction_removes_points_and_is_not_a_lot(api, club, member, joined):
    services.points_grant(member=member, points=80)
    response = api.post(f"{v1(club, member.id)}/corrections", {"points": -30}, format="json")
    assert response.status_code == 200
    body = response.json()["transaction"]
    assert (body["type"], body["amount"], body["expires_at"], body["details"]) == ("correction", -30, None, {})
    assert Membership.objects.get(member=member).balance == 50


def test_a_negative_correction_beyond_the_balance_is_422_not_enough_points(api, club, member, joined):
    services.points_grant(member=member, points=10)
    response = api.post(f"{v1(club, member.id)}/corrections", {"points": -11}, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": "Not enough points"}
    assert ledger(member) == [("grant", 10)]


def test_a_zero_correction_is_invalid(api, club, member, joined):
    response = api.post(f"{v1(club, member.id)}/corrections", {"points": 0}, format="json")
    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"points": leaf(0, "invalid", "is in invalid format (non-zero integer)", format="non-zero integer")},
    }


def test_a_banned_member_can_still_be_corrected_by_staff(api, club, member, joined):
    member.banned_until = datetime(2137, 1, 1, tzinfo=UTC)
    member.save(update_fields=["banned_until"])
    response = api.post(f"{v1(club, member.id)}/corrections", {"points": 5}, format="json")
    assert response.status_code == 200


def test_a_correction_for_a_member_who_has_not_joined_is_480(api, club, member):
    response = api.post(f"{v1(club, member.id)}/corrections", {"points": 5}, format="json")
    assert response.status_code == 480


# --- Cancel ------------------------------------------------------------------------------------------


def test_cancel_answers_the_cancellation(api, club, member, joined):
    with at(NOW):
        grant = services.points_grant(member=member, points=42)
    with at(NOW + timedelta(minutes=5)):
        response = api.delete(f"{v1(club, member.id)}/transactions/{grant.pk}/cancel")
    assert response.status_code == 200
    assert response.json() == {
        "transaction": {
            "id": response.json()["transaction"]["id"],
            "type": "cancellation",
            "date": "2024-03-01T09:35:00.000Z",
            "amount": -42,
            "expires_at": None,
            "expired_at": None,
            "cancelled_at": "2024-03-01T09:35:00.000Z",
            "details": {"cancelled_transaction_id": grant.pk},
        }
    }
    grant.refresh_from_db()
    assert grant.cancelled_at == NOW + timedelta(minutes=5)


def test_cancelling_twice_is_405(api, club, member, joined):
    grant = services.points_grant(member=member, points=42)
    assert api.delete(f"{v1(club, member.id)}/transactions/{grant.pk}/cancel").status_code == 200
    response = api.delete(f"{v1(club, member.id)}/transactions/{grant.pk}/cancel")
    assert response.status_code == 405
    assert response.json() == {"error": "Transaction cannot be cancelled"}


def test_cancelling_a_lot_when_the_balance_is_too_small_is_405(api, club, member, joined):
    grant = services.points_grant(member=member, points=42)
    services.points_correct(member=member, points=-1)
    response = api.delete(f"{v1(club, member.id)}/transactions/{grant.pk}/cancel")
    assert response.status_code == 405
    assert response.json() == {"error": "Transaction cannot be cancelled"}


def test_cancelling_an_unknown_transaction_is_404(api, club, member, joined):
    response = api.delete(f"{v1(club, member.id)}/transactions/123456/cancel")
    assert response.status_code == 404
    assert response.json() == {"error": "Transaction#123456 not found"}


def test_cancelling_for_a_member_who_has_not_joined_is_480(api, club, member):
    response = api.delete(f"{v1(club, member.id)}/transactions/1/cancel")
    assert response.status_code == 480
    assert response.json() == {"error": "Member is not participating in Rewards Program"}
