"""Members API as published (10_members_api/0_members.md): the docs' own requests, the documented answers."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.auth.hashers import check_password

from loyalty.models import Member
from tests.compat.docs import DocsClient
from tests.factories import LoyaltyClubFactory, MemberFactory

MEMBERS = "/v3/infinity-mall/members"
NOW = "2025-03-13T17:32:00.000Z"

# "Members > Create", the docs' example body, verbatim (its tabs and spaces included).
DOCS_CREATE = """{
\t"properties": {
\t\t"email": "dev+6@example.com",
\t\t"msisdn": "4740769126",
\t\t"first_name": "The",
\t\t"last_name": "Doge"
\t},
\t"consents": {
\t    "consent1": { "status": true },
\t    "consent2": { "status": false }
\t},
\t"send_sms_welcome_message": false
}"""


def published_member(member: Member) -> dict:
    """The published Member model as this service fills it (see docs/compatibility.md)."""
    return {
        "id": member.id,
        "properties": {
            "email": member.email,
            "msisdn": member.msisdn,
            "first_name": member.first_name,
            "last_name": member.last_name,
            "birthday": member.birthday.isoformat() if member.birthday else None,
            "language": member.language,
            "gender": member.gender,
        },
        "consents": member.consents,
        "banned_until": None,
        "has_password": bool(member.password),
        "created_at": member.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "updated_at": member.updated_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


# --- Create ---------------------------------------------------------------------------------------


def test_the_docs_create_example_answers_the_member_at_the_top_level_with_its_consents(docs):
    with time_machine.travel(NOW, tick=False):
        response = docs.post(MEMBERS, DOCS_CREATE, headers={"x-product-name": "facebook"})

    assert response.status_code == 200, response.content
    member = Member.objects.get()
    assert (member.email, member.msisdn, member.first_name, member.last_name) == (
        "dev+6@example.com",
        "4740769126",
        "The",
        "Doge",
    )
    assert member.consents == {
        "consent1": {"status": True, "updated_at": NOW},
        "consent2": {"status": False, "updated_at": NOW},
    }
    assert response.json() == published_member(member)
    assert "member" not in response.json()


def test_a_php_client_body_with_string_booleans_an_empty_consents_array_gender_and_password(docs):
    # What PHP's json_encode makes of a form: booleans as strings, an empty associative array as [].
    body = {
        "properties": {"email": "kari@example.com", "first_name": "Kari", "gender": "woman", "birthday": "1990-10-23"},
        "consents": [],
        "password": "correct horse",
        "send_sms_welcome_message": "false",
        "send_email_welcome_message": "true",
    }

    response = docs.post(MEMBERS, body)

    assert response.status_code == 200, response.content
    member = Member.objects.get()
    assert (member.gender, member.consents, member.birthday.isoformat()) == ("woman", {}, "1990-10-23")
    assert check_password("correct horse", member.password)
    assert response.json()["properties"]["gender"] == "woman"
    assert response.json()["consents"] == {}


def test_a_duplicate_email_answers_the_documented_validation_error_shape(docs, member):
    body = {"properties": {"email": "ADA@example.com"}, "send_sms_welcome_message": False}

    response = docs.post(MEMBERS, body)

    assert response.status_code == 422
    assert response.json() == {
        "email": [
            {
                "property": "email",
                "error": "duplicated_email_in_community",
                "value": "ADA@example.com",
                "options": {},
                "message": "has already been taken",
            }
        ]
    }
    assert Member.objects.count() == 1


def test_invalid_properties_are_reported_under_properties_and_nothing_is_created(docs):
    body = {
        "properties": {"msisdn": "123", "first_name": "x" * 101, "birthday": "201X-01-01"},
        "consents": {"consent1": {"status": "maybe"}},
    }

    response = docs.post(MEMBERS, body)

    assert response.status_code == 422
    errors = response.json()
    assert [e["error"] for e in errors["properties"][0]["error"]["birthday"]] == ["invalid_date_format"]
    assert [e["property"] for e in errors["consents"]] == ["consents.consent1.status"]
    assert Member.objects.count() == 0


@pytest.mark.parametrize("attribute", ["sms_enabled", "email_enabled", "push_enabled", "registration_password"])
def test_documented_attributes_without_a_counterpart_are_refused_not_ignored(docs, attribute):
    body = {"properties": {"email": "new@example.com"}, attribute: False}

    response = docs.post(MEMBERS, body)

    assert response.status_code == 422
    assert response.json()[attribute][0]["error"] == "not_supported"
    assert Member.objects.count() == 0


def test_the_spec_wrapped_create_still_answers_201_wrapped(docs):
    response = docs.post(MEMBERS, {"member": {"properties": {"email": "spec@example.com"}}})

    assert response.status_code == 201
    assert response.json()["member"]["properties"]["email"] == "spec@example.com"


def test_create_needs_the_create_permit(docs_with):
    response = docs_with("BL:Api:Members:Get").post(MEMBERS, DOCS_CREATE)

    assert response.status_code == 403
    assert response.json() == {"error": "Missing permit: BL:Api:Members:Create"}
    assert Member.objects.count() == 0


# --- Update ---------------------------------------------------------------------------------------


def test_the_docs_update_example_changes_only_what_it_sends(docs, member):
    member.consents = {"consent1": {"status": True, "updated_at": "2018-12-14T21:57:20.063Z"}}
    member.save()
    body = """{
    "properties": {
      "last_name": "Doge"
    },
    "password": "new_password"
  }"""

    response = docs.put(f"{MEMBERS}/{member.id}", body)

    assert response.status_code == 200, response.content
    member.refresh_from_db()
    assert (member.first_name, member.last_name, member.email) == ("Ada", "Doge", "ada@example.com")
    assert check_password("new_password", member.password)
    assert member.consents == {"consent1": {"status": True, "updated_at": "2018-12-14T21:57:20.063Z"}}
    assert response.json() == published_member(member)


def test_update_merges_consents_slug_by_slug_and_null_forgets_one(docs, member):
    member.consents = {
        "consent1": {"status": True, "updated_at": "2018-12-14T21:57:20.063Z"},
        "consent2": {"status": False, "updated_at": "2018-10-25T21:57:43.738Z"},
    }
    member.save()
    body = {"consents": {"consent1": {"status": "true"}, "consent2": None, "consent3": {"status": False}}}

    with time_machine.travel(NOW, tick=False):
        response = docs.put(f"{MEMBERS}/{member.id}", body)

    assert response.status_code == 200, response.content
    assert response.json()["consents"] == {
        "consent1": {"status": True, "updated_at": "2018-12-14T21:57:20.063Z"},  # same answer: same time
        "consent3": {"status": False, "updated_at": NOW},
    }


def test_update_refuses_event_occurred_at_and_channel_switches(docs, member):
    response = docs.put(f"{MEMBERS}/{member.id}", {"properties": {"last_name": "X"}, "event_occurred_at": NOW})

    assert response.status_code == 422
    assert response.json()["event_occurred_at"][0]["error"] == "not_supported"
    member.refresh_from_db()
    assert member.last_name == "Lovelace"


def test_update_of_an_unknown_member_is_404_and_of_a_taken_msisdn_the_documented_422(docs, member, club):
    assert docs.put(f"{MEMBERS}/999999", {"properties": {"last_name": "X"}}).status_code == 404
    other = MemberFactory(club=club, msisdn="4740769127")

    response = docs.put(f"{MEMBERS}/{other.id}", {"properties": {"msisdn": "4740769126"}})

    assert response.status_code == 422
    assert response.json()["msisdn"][0]["error"] == "duplicated_msisdn_in_community"


def test_the_signed_in_member_updates_itself_in_the_published_form(docs_with, member, member_bearer):
    client = docs_with("BL:Api:Members:OAuth", bearer=member_bearer)

    response = client.put(f"{MEMBERS}/me", {"properties": {"gender": "woman"}, "validate_partially": True})

    assert response.status_code == 200, response.content
    member.refresh_from_db()
    assert member.gender == "woman"
    assert response.json()["properties"]["gender"] == "woman"


# --- Get by email / msisdn ------------------------------------------------------------------------


def test_get_by_email_answers_the_published_member_case_insensitively(docs, member):
    response = docs.get(f"{MEMBERS}/by_email/ADA@Example.com")

    assert response.status_code == 200
    assert response.json() == published_member(member)


@pytest.mark.parametrize("msisdn", ["4740769126", "+4740769126", "004740769126"])
def test_get_by_msisdn_answers_the_published_member(docs, member, msisdn):
    response = docs.get(f"{MEMBERS}/by_msisdn/{msisdn}")

    assert response.status_code == 200
    assert response.json() == published_member(member)


def test_lookups_answer_404_for_unknown_members_and_for_members_of_other_clubs(docs, member):
    MemberFactory(club=LoyaltyClubFactory(slug="elsewhere"), email="bob@example.com", msisdn="4740769999")

    for path in ("by_email/nobody@example.com", "by_email/bob@example.com", "by_msisdn/4740769999"):
        response = docs.get(f"{MEMBERS}/{path}")
        assert response.status_code == 404, path
        assert response.json()["error"].startswith("Member#")


def test_lookups_answer_422_for_an_invalid_msisdn_or_email(docs, member):
    response = docs.get(f"{MEMBERS}/by_msisdn/12ab")
    assert response.status_code == 422
    assert response.json()["details"]["msisdn"][0]["error"] == "invalid_msisdn"
    assert docs.get(f"{MEMBERS}/by_email/not-an-email").status_code == 422


def test_lookups_need_the_get_permit(docs_with, member):
    client = docs_with("BL:Api:Members:Index")

    for path in ("by_email/ada@example.com", "by_msisdn/4740769126"):
        response = client.get(f"{MEMBERS}/{path}")
        assert response.status_code == 403
        assert response.json() == {"error": "Missing permit: BL:Api:Members:Get"}
    assert docs_with("BL:Api:Members:Get").get(f"{MEMBERS}/by_email/ada@example.com").status_code == 200


def test_lookups_without_the_docs_headers_answer_470(full_token, member):
    client = DocsClient(full_token)

    response = client.get(f"{MEMBERS}/by_email/ada@example.com", drop=("x-user-agent",))

    assert response.status_code == 470


# --- List -----------------------------------------------------------------------------------------


def test_the_docs_list_example_filters_by_ids(docs, club, member):
    others = MemberFactory.create_batch(3, club=club)

    response = docs.get(f"{MEMBERS}?per_page=100&page_no=1&ids[]={member.id}&ids[]={others[1].id}")

    assert response.status_code == 200
    assert [m["id"] for m in response.json()["members"]] == [member.id, others[1].id]
    assert response.json()["pagination_info"]["total_count"] == 2


def test_property_filters_are_refused_not_ignored(docs, member):
    response = docs.get(f"{MEMBERS}?properties[gender]=man&properties[language][]=en")

    assert response.status_code == 422
    assert set(response.json()["details"]) == {"properties[gender]", "properties[language][]"}
