"""SPEC §3.2 members management API and `/members/me`, through the real URLs, headers and tokens."""

import threading
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.contrib.auth.hashers import check_password
from django.db import connection

from kit.formats import format_datetime
from kit.messages import message_for
from loyalty.models import Member, MemberGroupMembership, MemberOAuthToken
from loyalty.selectors import member_access_token_find
from loyalty.services import members
from loyalty.services.oauth import oauth_tokens_issue
from loyalty.services.tokens import client_token_issue
from loyalty.signals import member_created
from tests.conftest import make_client
from tests.factories import LoyaltyClubFactory, MemberFactory, MemberGroupFactory
from webhooks import services as webhooks_services

MEMBERS = "/v3/infinity-mall/members"
NOW = datetime(2025, 3, 13, 17, 32, tzinfo=UTC)
NOW_JSON = "2025-03-13T17:32:00.000Z"


def leaf(error, value=None, **options):
    """One ParameterError of the 422 tree."""
    return {"value": value, "error": error, "options": options, "message": message_for(error, options)}


def member_json(member, **overrides):
    """The whole Member JSON of SPEC §3.2 for a database row."""
    body = {
        "id": member.id,
        "properties": {
            "email": member.email,
            "msisdn": member.msisdn,
            "first_name": member.first_name,
            "last_name": member.last_name,
            "birthday": member.birthday.isoformat() if member.birthday else None,
            "language": member.language,
        },
        "banned_until": format_datetime(member.banned_until),
        "has_password": bool(member.password),
        "created_at": format_datetime(member.created_at),
        "updated_at": format_datetime(member.updated_at),
    }
    return {**body, **overrides}


# --- Create ---------------------------------------------------------------------------------------


def test_creating_a_member_answers_201_with_the_whole_member_and_normalised_contact_data(api):
    payload = {
        "member": {
            "properties": {
                "email": " Grace@Example.com ",
                "msisdn": "+47 407-69.126",
                "first_name": "Grace",
                "last_name": "Hopper",
                "birthday": "1906-12-09",
                "language": "en",
            },
            "password": "correct horse",
        }
    }
    with time_machine.travel(NOW, tick=False):
        response = api.post(MEMBERS, payload, format="json")

    assert response.status_code == 201
    member = Member.objects.get()
    assert response.json() == {
        "member": {
            "id": member.id,
            "properties": {
                "email": "Grace@Example.com",
                "msisdn": "4740769126",
                "first_name": "Grace",
                "last_name": "Hopper",
                "birthday": "1906-12-09",
                "language": "en",
            },
            "banned_until": None,
            "has_password": True,
            "created_at": NOW_JSON,
            "updated_at": NOW_JSON,
        }
    }
    assert member.password != "correct horse"
    assert check_password("correct horse", member.password)


def test_a_member_needs_only_an_email_or_an_msisdn(api):
    by_email = api.post(MEMBERS, {"member": {"properties": {"email": "a@example.com"}}}, format="json")
    by_msisdn = api.post(MEMBERS, {"member": {"properties": {"msisdn": "004740769126"}}}, format="json")

    assert by_email.status_code == 201
    assert by_email.json()["member"]["properties"]["msisdn"] is None
    assert by_email.json()["member"]["has_password"] is False
    assert by_msisdn.status_code == 201
    assert by_msisdn.json()["member"]["properties"] == {
        "email": None,
        "msisdn": "4740769126",
        "first_name": None,
        "last_name": None,
        "birthday": None,
        "language": None,
    }


def test_creating_a_member_without_email_or_msisdn_answers_422_presence_on_email(api):
    response = api.post(MEMBERS, {"member": {"properties": {"first_name": "Nobody", "email": ""}}}, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"member": {"properties": {"email": [leaf("presence")]}}},
    }
    assert not Member.objects.exists()


def test_creating_a_member_with_an_invalid_email_answers_422_invalid_email(api):
    response = api.post(MEMBERS, {"member": {"properties": {"email": "x@"}}}, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"member": {"properties": {"email": [leaf("invalid_email", "x@")]}}},
    }


@pytest.mark.parametrize(
    "raw",
    [
        "+4740769126",
        "004740769126",
        "4740769126",
        "47 40 76 91 26",
        "47.40.76.91.26",
        "+47-407-69-126",
        " 47407 69126 ",
    ],
)
def test_an_msisdn_is_accepted_in_the_usual_notations_and_stored_as_e164_digits(api, raw):
    response = api.post(MEMBERS, {"member": {"properties": {"msisdn": raw}}}, format="json")

    assert response.status_code == 201
    assert response.json()["member"]["properties"]["msisdn"] == "4740769126"
    assert Member.objects.get().msisdn == "4740769126"


@pytest.mark.parametrize(
    "raw",
    [
        "47abc0769126",  # letters
        "1234567",  # 7 digits
        "1234567890123456",  # 16 digits
        "+47 (407) 69126",  # parentheses
        "47--",  # trailing separators
        "++4740769126",
        "+0740769126",  # no country code starts with 0
        "٤٧٤٠٧٦٩١٢٦",  # non-ASCII digits
    ],
)
def test_an_msisdn_that_is_not_e164_answers_422_invalid_msisdn(api, raw):
    response = api.post(MEMBERS, {"member": {"properties": {"msisdn": raw}}}, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"member": {"properties": {"msisdn": [leaf("invalid_msisdn", raw)]}}},
    }


def test_an_email_taken_in_the_club_in_any_letter_case_answers_422_taken(api, member):
    response = api.post(MEMBERS, {"member": {"properties": {"email": "ADA@example.COM"}}}, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"member": {"properties": {"email": [leaf("taken", "ADA@example.COM")]}}},
    }
    assert Member.objects.count() == 1


def test_an_msisdn_taken_in_the_club_in_another_notation_answers_422_taken(api, member):
    response = api.post(MEMBERS, {"member": {"properties": {"msisdn": "+47 407 69 126"}}}, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"member": {"properties": {"msisdn": [leaf("taken", "4740769126")]}}},
    }


def test_email_and_msisdn_may_repeat_across_clubs(api, other_club):
    MemberFactory(club=other_club, email="ada@example.com", msisdn="4740769126")

    response = api.post(
        MEMBERS, {"member": {"properties": {"email": "ada@example.com", "msisdn": "4740769126"}}}, format="json"
    )

    assert response.status_code == 201


_real_check = members.member_attributes_check


def check_blind_to_taken(**kwargs):
    cleaned, errors = _real_check(**kwargs)
    return cleaned, {field: leaves for field, leaves in errors.items() if leaves[0]["error"] != "taken"}


@pytest.mark.parametrize("field", ["email", "msisdn"])
def test_a_duplicate_that_slips_past_the_check_is_caught_by_the_database_and_answers_taken(
    api, member, monkeypatch, field
):
    # As when a concurrent create commits between our check and our insert: the check sees nothing taken.
    monkeypatch.setattr(members, "member_attributes_check", check_blind_to_taken)
    value = {"email": "Ada@Example.com", "msisdn": "4740769126"}[field]

    response = api.post(MEMBERS, {"member": {"properties": {field: value}}}, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"member": {"properties": {field: [leaf("taken", value)]}}},
    }
    assert Member.objects.count() == 1


def test_a_password_shorter_than_8_characters_answers_422_without_echoing_it(api):
    response = api.post(
        MEMBERS, {"member": {"properties": {"email": "a@example.com"}, "password": "1234567"}}, format="json"
    )

    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"member": {"password": [leaf("size_too_small", None, number=8)]}},
    }


def test_every_broken_attribute_is_reported_in_one_answer(api, member):
    payload = {"member": {"properties": {"email": "ada@example.com", "msisdn": "12"}, "password": "short"}}

    response = api.post(MEMBERS, payload, format="json")

    assert response.status_code == 422
    assert response.json()["details"] == {
        "member": {
            "properties": {"email": [leaf("taken", "ada@example.com")], "msisdn": [leaf("invalid_msisdn", "12")]},
            "password": [leaf("size_too_small", None, number=8)],
        }
    }


def test_wrong_types_answer_422_with_the_shape_of_the_payload(api):
    payload = {
        "member": {
            "properties": {"email": 5, "birthday": "13/01/1990", "first_name": ["x"]},
            "banned_until": "tomorrow",
        }
    }

    response = api.post(MEMBERS, payload, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {
            "member": {
                "properties": {
                    "email": [leaf("invalid", 5, format="string")],
                    "birthday": [leaf("invalid", "13/01/1990", format="YYYY-MM-DD")],
                    "first_name": [leaf("invalid", ["x"], format="string")],
                },
                "banned_until": [leaf("invalid_iso_8601_time", "tomorrow")],
            }
        },
    }


def test_a_body_without_the_member_object_answers_422_presence(api):
    response = api.post(MEMBERS, {"properties": {"email": "a@example.com"}}, format="json")

    assert response.status_code == 422
    assert response.json() == {"error": "Invalid parameters", "details": {"member": [leaf("presence")]}}


def test_a_naive_banned_until_is_read_in_the_clubs_timezone(api, club):
    club.timezone = "Europe/Oslo"
    club.save(update_fields=["timezone"])
    payload = {"member": {"properties": {"email": "a@example.com"}, "banned_until": "2030-01-01T12:00:00"}}

    response = api.post(MEMBERS, payload, format="json")

    assert response.status_code == 201
    assert response.json()["member"]["banned_until"] == "2030-01-01T11:00:00.000Z"


def test_creating_a_member_sends_member_created_and_emits_the_member_created_event(api, monkeypatch):
    received, emitted = [], []

    def receiver(sender, member, **kwargs):
        received.append(member.id)

    member_created.connect(receiver)
    monkeypatch.setattr(webhooks_services, "event_emit", lambda **kwargs: emitted.append(kwargs))
    try:
        response = api.post(MEMBERS, {"member": {"properties": {"email": "a@example.com"}}}, format="json")
    finally:
        member_created.disconnect(receiver)

    member_id = response.json()["member"]["id"]
    assert received == [member_id]
    assert emitted == [
        {
            "club_id": Member.objects.get().club_id,
            "type": "member.created",
            "data": {"member_id": member_id, "loyalty_club_id": Member.objects.get().club_id},
            "member_id": member_id,
        }
    ]


def test_creating_a_member_needs_the_create_permit(client_with):
    response = client_with("BL:Api:Members:Index").post(
        MEMBERS, {"member": {"properties": {"email": "a@example.com"}}}, format="json"
    )

    assert response.status_code == 403
    assert response.json() == {"error": "Missing permit: BL:Api:Members:Create"}
    assert not Member.objects.exists()


# --- Read -----------------------------------------------------------------------------------------


def test_showing_a_member_answers_the_whole_member(api, member):
    response = api.get(f"{MEMBERS}/{member.id}")

    assert response.status_code == 200
    assert response.json() == {"member": member_json(member)}


def test_an_unknown_member_answers_404(api, club):
    response = api.get(f"{MEMBERS}/999999")

    assert response.status_code == 404
    assert response.json() == {"error": "Member#999999 not found"}


def test_a_member_of_another_club_is_not_found_and_never_shown(issue_token, club, other_club):
    stranger = MemberFactory(club=other_club)
    unbound = make_client(issue_token(policies=["FullAccess"]))

    response = unbound.get(f"{MEMBERS}/{stranger.id}")

    assert response.status_code == 404
    assert response.json() == {"error": f"Member#{stranger.id} not found"}
    assert unbound.put(f"{MEMBERS}/{stranger.id}", {"member": {"properties": {}}}, format="json").status_code == 404
    assert unbound.delete(f"{MEMBERS}/{stranger.id}").status_code == 404
    assert Member.objects.filter(pk=stranger.pk).exists()


def test_a_token_bound_to_one_club_gets_401_on_another_clubs_members(api, other_club):
    stranger = MemberFactory(club=other_club)

    assert api.get("/v3/other-mall/members").status_code == 401
    response = api.get(f"/v3/other-mall/members/{stranger.id}")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid client token"}


def test_showing_a_member_needs_the_get_permit_before_the_member_is_looked_up(client_with):
    response = client_with("BL:Api:Members:Index").get(f"{MEMBERS}/999999")

    assert response.status_code == 403
    assert response.json() == {"error": "Missing permit: BL:Api:Members:Get"}


# --- List -----------------------------------------------------------------------------------------


def test_listing_members_pages_them_by_id_with_pagination_info(api, club):
    created = [MemberFactory(club=club) for _ in range(3)]

    response = api.get(MEMBERS, {"per_page": 2, "page_no": 2})

    assert response.status_code == 200
    assert response.json() == {
        "members": [member_json(created[2])],
        "pagination_info": {
            "total_count": 3,
            "per_page": 2,
            "total_pages": 2,
            "current_page": 2,
            "next_page": None,
            "prev_page": 1,
            "is_first_page": False,
            "is_last_page": True,
            "is_out_of_range": False,
        },
    }


def test_listing_members_shows_only_the_clubs_members(api, club, other_club):
    own = MemberFactory(club=club)
    MemberFactory(club=other_club)

    response = api.get(MEMBERS)

    assert [m["id"] for m in response.json()["members"]] == [own.id]
    assert response.json()["pagination_info"]["per_page"] == 100


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("ada", ["ada"]),
        ("LOVELACE", ["ada"]),
        ("ada love", ["ada"]),
        ("example.org", ["grace"]),
        ("+47 407", ["ada"]),
        ("4690", ["grace"]),
        ("hopper ada", []),
        ("", ["ada", "grace"]),
    ],
)
def test_searching_members_matches_email_msisdn_and_names_word_by_word(api, club, search, expected):
    people = {
        "ada": MemberFactory(
            club=club, email="ada@example.com", msisdn="4740769126", first_name="Ada", last_name="Lovelace"
        ),
        "grace": MemberFactory(
            club=club, email="grace@example.org", msisdn="4690000000", first_name="Grace", last_name="Hopper"
        ),
    }

    response = api.get(MEMBERS, {"search": search})

    assert response.status_code == 200
    assert [m["id"] for m in response.json()["members"]] == [people[name].id for name in expected]


def test_listing_members_asks_at_most_1000_per_page(api, club):
    response = api.get(MEMBERS, {"per_page": 1001})

    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"per_page": [leaf("less_or_equal_to", 1001, number=1000)]},
    }


def test_listing_members_takes_the_same_number_of_queries_for_many_members(api, club, django_assert_max_num_queries):
    for _ in range(30):
        MemberFactory(club=club)

    # client token, club, count, page
    with django_assert_max_num_queries(4):
        response = api.get(MEMBERS, {"per_page": 1000})

    assert len(response.json()["members"]) == 30


# --- Update ---------------------------------------------------------------------------------------


def test_updating_a_member_changes_only_the_attributes_sent(api, member):
    with time_machine.travel(NOW, tick=False):
        response = api.put(
            f"{MEMBERS}/{member.id}",
            {"member": {"properties": {"first_name": "Augusta", "birthday": "1815-12-10", "msisdn": None}}},
            format="json",
        )

    assert response.status_code == 200
    member.refresh_from_db()
    assert (member.first_name, member.last_name, member.birthday, member.msisdn, member.email) == (
        "Augusta",
        "Lovelace",
        date(1815, 12, 10),
        None,
        "ada@example.com",
    )
    assert response.json() == {"member": member_json(member, updated_at=NOW_JSON)}


def test_updating_a_member_to_its_own_email_in_another_case_is_not_taken(api, member):
    response = api.put(
        f"{MEMBERS}/{member.id}", {"member": {"properties": {"email": "ADA@example.com"}}}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["member"]["properties"]["email"] == "ADA@example.com"


def test_updating_a_member_to_another_members_email_answers_422_taken(api, member, club):
    other = MemberFactory(club=club, email="grace@example.com")

    response = api.put(f"{MEMBERS}/{other.id}", {"member": {"properties": {"email": "Ada@Example.com"}}}, format="json")

    assert response.status_code == 422
    assert response.json()["details"] == {"member": {"properties": {"email": [leaf("taken", "Ada@Example.com")]}}}
    other.refresh_from_db()
    assert other.email == "grace@example.com"


def test_removing_both_email_and_msisdn_answers_422_presence(api, member):
    response = api.put(
        f"{MEMBERS}/{member.id}", {"member": {"properties": {"email": None, "msisdn": ""}}}, format="json"
    )

    assert response.status_code == 422
    assert response.json()["details"] == {"member": {"properties": {"email": [leaf("presence")]}}}


def test_banning_and_unbanning_a_member_through_update(api, member):
    banned = api.put(f"{MEMBERS}/{member.id}", {"member": {"banned_until": "2137-10-28T17:24:06.207Z"}}, format="json")

    assert banned.status_code == 200
    assert banned.json()["member"]["banned_until"] == "2137-10-28T17:24:06.207Z"
    member.refresh_from_db()
    assert member.is_banned()

    unbanned = api.put(f"{MEMBERS}/{member.id}", {"member": {"banned_until": None}}, format="json")

    assert unbanned.json()["member"]["banned_until"] is None
    member.refresh_from_db()
    assert not member.is_banned()


def test_setting_a_password_through_update_signs_the_member_out_everywhere(api, member, member_bearer):
    response = api.put(f"{MEMBERS}/{member.id}", {"member": {"password": "a new password"}}, format="json")

    assert response.status_code == 200
    assert response.json()["member"]["has_password"] is True
    member.refresh_from_db()
    assert check_password("a new password", member.password)
    assert member_access_token_find(secret=member_bearer, club=member.club, now=datetime.now(UTC)) is None


def test_a_null_password_removes_it(api, member):
    members.member_set_password(member=member, password="something long")

    response = api.put(f"{MEMBERS}/{member.id}", {"member": {"password": None}}, format="json")

    assert response.json()["member"]["has_password"] is False
    member.refresh_from_db()
    assert member.password == ""


def test_updating_a_member_needs_the_update_permit(client_with, member):
    response = client_with("BL:Api:Members:Get").put(
        f"{MEMBERS}/{member.id}", {"member": {"properties": {"first_name": "X"}}}, format="json"
    )

    assert response.status_code == 403
    assert response.json() == {"error": "Missing permit: BL:Api:Members:Update"}


# --- Delete ---------------------------------------------------------------------------------------


def test_deleting_a_member_erases_it_with_its_tokens_and_group_memberships(api, member, member_bearer, club):
    group = MemberGroupFactory(club=club)
    MemberGroupMembership.objects.create(group=group, member=member)

    response = api.delete(f"{MEMBERS}/{member.id}")

    assert response.status_code == 200
    assert response.json() == {}
    assert not Member.objects.filter(pk=member.pk).exists()
    assert not MemberOAuthToken.objects.exists()
    assert not MemberGroupMembership.objects.exists()
    assert api.get(f"{MEMBERS}/{member.id}").status_code == 404


def test_deleting_a_member_needs_the_destroy_permit(client_with, member):
    response = client_with("BL:Api:Members:Get").delete(f"{MEMBERS}/{member.id}")

    assert response.status_code == 403
    assert response.json() == {"error": "Missing permit: BL:Api:Members:Destroy"}
    assert Member.objects.filter(pk=member.pk).exists()


# --- /members/me ----------------------------------------------------------------------------------


def test_me_shows_the_member_owning_the_bearer_token(member_api, member):
    response = member_api.get(f"{MEMBERS}/me")

    assert response.status_code == 200
    assert response.json() == {"member": member_json(member)}


def test_me_without_a_bearer_token_answers_460(api, member):
    response = api.get(f"{MEMBERS}/me")

    assert response.status_code == 460
    assert response.json() == {"error": "Missing member access token"}


def test_me_with_an_unknown_bearer_token_answers_460(full_token, member):
    response = make_client(full_token, bearer="not-a-token").get(f"{MEMBERS}/me")

    assert response.status_code == 460
    assert response.json() == {"error": "Invalid member access token"}


def test_a_bearer_token_of_one_club_answers_460_on_another_club(issue_token, member_bearer, other_club):
    unbound = make_client(issue_token(policies=["FullAccess"]), bearer=member_bearer)

    response = unbound.get("/v3/other-mall/members/me")

    assert response.status_code == 460
    assert response.json() == {"error": "Invalid member access token"}


def test_me_needs_the_oauth_get_permit_before_the_bearer_token_is_checked(client_with, member):
    response = client_with("BL:Api:Members:OAuth").get(f"{MEMBERS}/me")

    assert response.status_code == 403
    assert response.json() == {"error": "Missing permit: BL:Api:Members:OAuth:Get"}


def test_a_member_edits_its_own_profile_but_cannot_lift_its_ban_or_touch_read_only_fields(
    client_with, member, member_bearer
):
    client = client_with("BL:Api:Members:OAuth", bearer=member_bearer)
    payload = {
        "member": {
            "id": 12345,
            "has_password": True,
            "created_at": "2000-01-01T00:00:00.000Z",
            "banned_until": "2137-01-01T00:00:00.000Z",
            "properties": {"first_name": "Augusta", "language": "nb"},
        }
    }

    response = client.put(f"{MEMBERS}/me", payload, format="json")

    assert response.status_code == 200
    member.refresh_from_db()
    assert response.json() == {"member": member_json(member)}
    assert (member.id, member.first_name, member.language, member.banned_until, member.password) == (
        response.json()["member"]["id"],
        "Augusta",
        "nb",
        None,
        "",
    )


def test_a_member_changing_its_password_keeps_its_session_and_ends_the_others(client_with, member, member_bearer):
    other_session = oauth_tokens_issue(member=member).access_token
    client = client_with("BL:Api:Members:OAuth", "BL:Api:Members:OAuth:Get", bearer=member_bearer)

    response = client.put(f"{MEMBERS}/me", {"member": {"password": "my new secret"}}, format="json")

    assert response.status_code == 200
    assert response.json()["member"]["has_password"] is True
    assert client.get(f"{MEMBERS}/me").status_code == 200
    assert client_with("BL:Api:Members:OAuth:Get", bearer=other_session).get(f"{MEMBERS}/me").status_code == 460


def test_a_banned_member_cannot_edit_its_profile_and_gets_467_with_banned_until(member_api, member):
    members.member_ban(member=member, until=datetime(2137, 10, 28, 17, 24, 6, 207000, tzinfo=UTC))

    response = member_api.put(f"{MEMBERS}/me", {"member": {"properties": {"first_name": "X"}}}, format="json")

    assert response.status_code == 467
    assert response.json() == {"error": "Member is banned!", "banned_until": "2137-10-28T17:24:06.207Z"}
    member.refresh_from_db()
    assert member.first_name == "Ada"


def test_a_ban_is_over_at_banned_until_exactly(full_token, member):
    with time_machine.travel(NOW, tick=False):
        client = make_client(full_token, bearer=oauth_tokens_issue(member=member).access_token)
        members.member_ban(member=member, until=datetime(2025, 3, 13, 18, 0, tzinfo=UTC))
        assert client.put(f"{MEMBERS}/me", {"member": {}}, format="json").status_code == 467
    with time_machine.travel(datetime(2025, 3, 13, 18, 0, tzinfo=UTC), tick=False):
        assert client.put(f"{MEMBERS}/me", {"member": {}}, format="json").status_code == 200


def test_editing_the_own_profile_needs_the_oauth_permit(client_with, member_bearer):
    response = client_with("BL:Api:Members:OAuth:Get", bearer=member_bearer).put(
        f"{MEMBERS}/me", {"member": {}}, format="json"
    )

    assert response.status_code == 403
    assert response.json() == {"error": "Missing permit: BL:Api:Members:OAuth"}


def test_an_empty_update_changes_nothing(api, member):
    before = member.updated_at

    response = api.put(f"{MEMBERS}/{member.id}", {"member": {}}, format="json")

    assert response.status_code == 200
    member.refresh_from_db()
    assert member.updated_at == before
    assert response.json() == {"member": member_json(member)}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_creates_with_one_email_make_one_member_and_one_422_taken(monkeypatch):
    club = LoyaltyClubFactory(slug="infinity-mall")
    secret = client_token_issue(name="api", policies=["FullAccess"], loyalty_club_ids=[club.id]).secret
    barrier = threading.Barrier(2, timeout=10)

    def check_then_wait(**kwargs):
        result = _real_check(**kwargs)
        barrier.wait()  # both requests have found the email free before either inserts
        return result

    monkeypatch.setattr(members, "member_attributes_check", check_then_wait)
    responses = []

    def create(email):
        try:
            responses.append(
                make_client(secret).post(MEMBERS, {"member": {"properties": {"email": email}}}, format="json")
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(email,)) for email in ("ada@example.com", "ADA@example.com")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status_code for r in responses) == [201, 422]
    refused = next(r for r in responses if r.status_code == 422)
    assert refused.json()["details"]["member"]["properties"]["email"][0]["error"] == "taken"
    assert Member.objects.count() == 1
