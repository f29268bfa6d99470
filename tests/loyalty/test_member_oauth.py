"""SPEC §2.2 member OAuth: password and refresh grants, rotation with reuse detection, revoke, token info."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from kit.messages import message_for
from loyalty.models import MemberOAuthToken
from loyalty.secrets import digest
from loyalty.services import members, oauth
from tests.conftest import make_client
from tests.factories import LoyaltyClubFactory, MemberFactory

TOKEN = "/v3/infinity-mall/members/oauth/token"
REVOKE = "/v3/infinity-mall/members/oauth/revoke"
INFO = "/v3/infinity-mall/members/oauth/token/info"
ME = "/v3/infinity-mall/members/me"
NOW = datetime(2025, 3, 13, 17, 32, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture
def member(club):
    member = MemberFactory(club=club, email="ada@example.com", msisdn="4740769126")
    return members.member_set_password(member=member, password=PASSWORD)


@pytest.fixture
def oauth_api(client_with):
    """A mobile app's client: the OAuth permit and reading the signed-in member."""
    return client_with("BL:Api:Members:OAuth", "BL:Api:Members:OAuth:Get")


def password_grant(client, identifier, identifier_type="email", password=PASSWORD, url=TOKEN):
    return client.post(
        url,
        {"grant_type": "password", "identifier_type": identifier_type, "identifier": identifier, "password": password},
        format="json",
    )


def refresh_grant(client, refresh_token, url=TOKEN):
    return client.post(url, {"grant_type": "refresh_token", "refresh_token": refresh_token}, format="json")


def me_status(client_with, access_token) -> int:
    return client_with("BL:Api:Members:OAuth:Get", bearer=access_token).get(ME).status_code


def leaf(error, value=None, **options):
    return {"value": value, "error": error, "options": options, "message": message_for(error, options)}


INVALID_CREDENTIALS = {"error": "Invalid credentials"}
INVALID_REFRESH = {"error": "Invalid refresh token"}


# --- Password grant -------------------------------------------------------------------------------


def test_the_password_grant_answers_the_token_pair_with_ttls_from_the_club(oauth_api, member, client_with):
    with time_machine.travel(NOW, tick=False):
        response = password_grant(oauth_api, "ada@example.com")

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "access_token": body["access_token"],
        "token_type": "bearer",
        "expires_in": 86400,
        "refresh_token": body["refresh_token"],
        "created_at": int(NOW.timestamp()),
        "resource_owner_id": member.id,
    }
    assert len(body["access_token"]) >= 43 and len(body["refresh_token"]) >= 43  # 256 bits, URL-safe base64
    assert body["access_token"] != body["refresh_token"]
    row = MemberOAuthToken.objects.get()
    assert (row.access_digest, row.refresh_digest) == (digest(body["access_token"]), digest(body["refresh_token"]))
    with time_machine.travel(NOW, tick=False):
        assert me_status(client_with, body["access_token"]) == 200


@pytest.mark.parametrize(
    ("identifier_type", "identifier"),
    [
        ("email", "ADA@Example.COM"),
        ("email", " ada@example.com "),
        ("msisdn", "+47 407 69 126"),
        ("msisdn", "004740769126"),
        ("id", "MEMBER_ID"),
        ("id", "MEMBER_ID_STRING"),
    ],
)
def test_a_member_signs_in_by_email_msisdn_or_id_in_any_accepted_notation(
    oauth_api, member, identifier_type, identifier
):
    identifier = {"MEMBER_ID": member.id, "MEMBER_ID_STRING": str(member.id)}.get(identifier, identifier)

    response = password_grant(oauth_api, identifier, identifier_type)

    assert response.status_code == 200
    assert response.json()["resource_owner_id"] == member.id


@pytest.mark.parametrize(
    ("identifier_type", "identifier", "password"),
    [
        ("email", "ada@example.com", "wrong password"),
        ("email", "nobody@example.com", PASSWORD),
        ("msisdn", "4799999999", PASSWORD),
        ("msisdn", "not a number", PASSWORD),
        ("id", 999999, PASSWORD),
        ("id", "12abc", PASSWORD),
        ("email", 12, PASSWORD),
    ],
)
def test_an_unknown_member_and_a_wrong_password_get_the_same_461(
    oauth_api, member, identifier_type, identifier, password
):
    response = password_grant(oauth_api, identifier, identifier_type, password=password)

    assert response.status_code == 461
    assert response.json() == INVALID_CREDENTIALS
    assert not MemberOAuthToken.objects.exists()


def test_a_member_without_a_password_cannot_sign_in_and_gets_the_same_461(oauth_api, club):
    MemberFactory(club=club, email="nopass@example.com")

    response = password_grant(oauth_api, "nopass@example.com", password="")
    assert response.status_code == 422  # a blank password is malformed input

    response = password_grant(oauth_api, "nopass@example.com", password="anything at all")
    assert response.status_code == 461
    assert response.json() == INVALID_CREDENTIALS


def test_the_password_is_hashed_even_when_there_is_no_such_member_so_timing_tells_nothing(
    oauth_api, member, monkeypatch
):
    checked = []
    real_check = oauth.check_password

    def spy(password, encoded, setter=None):
        checked.append(encoded)
        return real_check(password, encoded, setter)

    monkeypatch.setattr(oauth, "check_password", spy)

    password_grant(oauth_api, "nobody@example.com")
    password_grant(oauth_api, "ada@example.com", password="wrong password")

    assert len(checked) == 2
    dummy, real = checked
    assert dummy.split("$")[0] == real.split("$")[0]  # same hasher, so the same work


def test_a_member_of_another_club_cannot_sign_in_here(oauth_api, club, other_club):
    stranger = members.member_set_password(
        member=MemberFactory(club=other_club, email="stranger@example.com"), password=PASSWORD
    )

    assert password_grant(oauth_api, "stranger@example.com").status_code == 461
    response = password_grant(oauth_api, stranger.id, "id")
    assert response.status_code == 461
    assert response.json() == INVALID_CREDENTIALS


@pytest.mark.parametrize(
    ("payload", "details"),
    [
        (
            {"grant_type": "client_credentials"},
            {"grant_type": [leaf("inclusion", "client_credentials", **{"in": ["password", "refresh_token"]})]},
        ),
        ({}, {"grant_type": [leaf("presence")]}),
        (
            {"grant_type": "password", "identifier": "ada@example.com"},
            {"identifier_type": [leaf("presence")], "password": [leaf("presence")]},
        ),
        (
            {"grant_type": "password", "identifier_type": "phone", "identifier": "1", "password": "x"},
            {"identifier_type": [leaf("inclusion", "phone", **{"in": ["id", "email", "msisdn"]})]},
        ),
        (
            {"grant_type": "password", "identifier_type": "id", "identifier": True, "password": "x"},
            {"identifier": [leaf("invalid", True, format="string or integer")]},
        ),
        ({"grant_type": "refresh_token"}, {"refresh_token": [leaf("presence")]}),
    ],
)
def test_malformed_token_requests_answer_422_with_the_tree(oauth_api, club, payload, details):
    response = oauth_api.post(TOKEN, payload, format="json")

    assert response.status_code == 422
    assert response.json() == {"error": "Invalid parameters", "details": details}


def test_the_token_endpoint_needs_the_oauth_permit(client_with, member):
    response = password_grant(client_with("BL:Api:Members:OAuth:Get"), "ada@example.com")

    assert response.status_code == 403
    assert response.json() == {"error": "Missing permit: BL:Api:Members:OAuth"}


# --- Lifetimes ------------------------------------------------------------------------------------


def test_access_tokens_die_after_the_clubs_access_ttl(oauth_api, member, club, client_with):
    club.access_token_ttl_seconds = 3600
    club.save(update_fields=["access_token_ttl_seconds"])
    with time_machine.travel(NOW, tick=False):
        body = password_grant(oauth_api, "ada@example.com").json()
    assert body["expires_in"] == 3600

    with time_machine.travel(NOW + timedelta(seconds=3599), tick=False):
        assert me_status(client_with, body["access_token"]) == 200
    with time_machine.travel(NOW + timedelta(seconds=3600), tick=False):
        response = client_with("BL:Api:Members:OAuth:Get", bearer=body["access_token"]).get(ME)
        assert response.status_code == 460
        assert response.json() == {"error": "Invalid member access token"}


def test_refresh_tokens_die_after_the_clubs_refresh_ttl(oauth_api, member, club):
    club.refresh_token_ttl_seconds = 7 * 86400
    club.save(update_fields=["refresh_token_ttl_seconds"])
    with time_machine.travel(NOW, tick=False):
        first = password_grant(oauth_api, "ada@example.com").json()
        second = password_grant(oauth_api, "ada@example.com").json()

    with time_machine.travel(NOW + timedelta(days=7, seconds=-1), tick=False):
        assert refresh_grant(oauth_api, first["refresh_token"]).status_code == 200
    with time_machine.travel(NOW + timedelta(days=7), tick=False):
        response = refresh_grant(oauth_api, second["refresh_token"])
    assert response.status_code == 462
    assert response.json() == INVALID_REFRESH


# --- Refresh, rotation and reuse detection --------------------------------------------------------


def test_refreshing_rotates_the_pair_and_kills_the_used_access_token(oauth_api, member, client_with):
    with time_machine.travel(NOW, tick=False):
        first = password_grant(oauth_api, "ada@example.com").json()
    later = NOW + timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        response = refresh_grant(oauth_api, first["refresh_token"])

        assert response.status_code == 200
        second = response.json()
        assert second == {
            "access_token": second["access_token"],
            "token_type": "bearer",
            "expires_in": 86400,
            "refresh_token": second["refresh_token"],
            "created_at": int(later.timestamp()),
            "resource_owner_id": member.id,
        }
        assert {second["access_token"], second["refresh_token"]}.isdisjoint(
            {first["access_token"], first["refresh_token"]}
        )
        assert me_status(client_with, first["access_token"]) == 460
        assert me_status(client_with, second["access_token"]) == 200
    rows = list(MemberOAuthToken.objects.order_by("id"))
    assert len(rows) == 2 and rows[0].family == rows[1].family
    assert rows[0].rotated_at == rows[0].revoked_at == later
    assert rows[1].revoked_at is None


def test_reusing_a_rotated_refresh_token_answers_462_and_revokes_the_whole_family(oauth_api, member, client_with):
    first = password_grant(oauth_api, "ada@example.com").json()
    second = refresh_grant(oauth_api, first["refresh_token"]).json()
    third = refresh_grant(oauth_api, second["refresh_token"]).json()
    unrelated = password_grant(oauth_api, "ada@example.com").json()

    response = refresh_grant(oauth_api, first["refresh_token"])

    assert response.status_code == 462
    assert response.json() == INVALID_REFRESH
    assert me_status(client_with, third["access_token"]) == 460
    assert refresh_grant(oauth_api, third["refresh_token"]).status_code == 462
    assert me_status(client_with, unrelated["access_token"]) == 200  # another sign-in, another family


def test_an_unknown_refresh_token_answers_462(oauth_api, member):
    response = refresh_grant(oauth_api, "not-a-token")

    assert response.status_code == 462
    assert response.json() == INVALID_REFRESH


def test_a_refresh_token_of_another_club_answers_462_there_and_keeps_working_at_home(
    oauth_api, member, issue_token, other_club
):
    pair = password_grant(oauth_api, "ada@example.com").json()
    elsewhere = make_client(issue_token(policies=["FullAccess"]))

    response = refresh_grant(elsewhere, pair["refresh_token"], url="/v3/other-mall/members/oauth/token")

    assert response.status_code == 462
    assert refresh_grant(oauth_api, pair["refresh_token"]).status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refreshes_with_one_token_never_both_succeed(monkeypatch):
    from loyalty.services.tokens import client_token_issue

    club = LoyaltyClubFactory(slug="infinity-mall")
    secret = client_token_issue(name="app", policies=["FullAccess"], loyalty_club_ids=[club.id]).secret
    member = members.member_set_password(member=MemberFactory(club=club), password=PASSWORD)
    pair = oauth.oauth_tokens_issue(member=member)
    issue = oauth.oauth_tokens_issue

    def slow_issue(**kwargs):
        # Stay inside the rotating transaction a moment, so the other request surely arrives meanwhile.
        time.sleep(0.2)
        return issue(**kwargs)

    monkeypatch.setattr(oauth, "oauth_tokens_issue", slow_issue)
    barrier = threading.Barrier(2)
    statuses = []

    def refresh():
        try:
            client = make_client(secret)
            barrier.wait()
            statuses.append(refresh_grant(client, pair.refresh_token).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200, 462]
    # The loser looked like a replay: the family, including the winner's new pair, is revoked.
    rows = list(MemberOAuthToken.objects.filter(family=pair.row.family))
    assert len(rows) == 2
    assert all(row.revoked_at is not None for row in rows)


# --- Revoke ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_revoking_either_token_of_a_pair_ends_both(oauth_api, member, client_with, which):
    pair = password_grant(oauth_api, "ada@example.com").json()

    response = oauth_api.post(REVOKE, {"token": pair[which]}, format="json")

    assert response.status_code == 200
    assert response.json() == {}
    assert me_status(client_with, pair["access_token"]) == 460
    assert refresh_grant(oauth_api, pair["refresh_token"]).status_code == 462


def test_revoking_an_unknown_or_already_revoked_token_still_answers_empty(oauth_api, member):
    pair = password_grant(oauth_api, "ada@example.com").json()
    oauth_api.post(REVOKE, {"token": pair["access_token"]}, format="json")

    for token in ("never-issued", pair["access_token"]):
        response = oauth_api.post(REVOKE, {"token": token}, format="json")
        assert response.status_code == 200
        assert response.json() == {}


def test_revoking_through_another_club_leaves_the_token_alive(oauth_api, member, client_with, issue_token, other_club):
    pair = password_grant(oauth_api, "ada@example.com").json()
    elsewhere = make_client(issue_token(policies=["FullAccess"]))

    response = elsewhere.post("/v3/other-mall/members/oauth/revoke", {"token": pair["access_token"]}, format="json")

    assert response.json() == {}
    assert me_status(client_with, pair["access_token"]) == 200


def test_revoking_needs_a_token_string(oauth_api, club):
    response = oauth_api.post(REVOKE, {}, format="json")

    assert response.status_code == 422
    assert response.json() == {"error": "Invalid parameters", "details": {"token": [leaf("presence")]}}


# --- Token info -----------------------------------------------------------------------------------


def test_token_info_describes_the_bearer_token(oauth_api, member, client_with):
    with time_machine.travel(NOW, tick=False):
        pair = password_grant(oauth_api, "ada@example.com").json()
    client = client_with("BL:Api:Members:OAuth", bearer=pair["access_token"])

    with time_machine.travel(NOW + timedelta(seconds=600), tick=False):
        response = client.get(INFO)

    assert response.status_code == 200
    assert response.json() == {
        "resource_owner_id": member.id,
        "scopes": [],
        "expires_in_seconds": 86400 - 600,
        "application": {"uid": None},
        "created_at": int(NOW.timestamp()),
    }


def test_token_info_without_a_valid_bearer_token_answers_460(client_with, member):
    assert client_with("BL:Api:Members:OAuth").get(INFO).status_code == 460
    response = client_with("BL:Api:Members:OAuth", bearer="nope").get(INFO)
    assert response.status_code == 460
    assert response.json() == {"error": "Invalid member access token"}


def test_token_info_with_a_token_of_another_club_answers_460(oauth_api, member, issue_token, other_club):
    pair = password_grant(oauth_api, "ada@example.com").json()
    elsewhere = make_client(issue_token(policies=["FullAccess"]), bearer=pair["access_token"])

    response = elsewhere.get("/v3/other-mall/members/oauth/token/info")

    assert response.status_code == 460
    assert response.json() == {"error": "Invalid member access token"}


def test_token_info_needs_the_oauth_permit(client_with, member_bearer):
    response = client_with("BL:Api:Members:OAuth:Get", bearer=member_bearer).get(INFO)

    assert response.status_code == 403
    assert response.json() == {"error": "Missing permit: BL:Api:Members:OAuth"}


def test_token_responses_are_never_stored_for_idempotent_replay(oauth_api, member):
    from loyalty.models import IdempotencyKey

    payload = {"grant_type": "password", "identifier_type": "email", "identifier": "ada@example.com"}
    payload["password"] = PASSWORD
    first = oauth_api.post(TOKEN, payload, format="json", HTTP_IDEMPOTENCY_KEY="sign-in-1")
    second = oauth_api.post(TOKEN, payload, format="json", HTTP_IDEMPOTENCY_KEY="sign-in-1")

    assert first.status_code == second.status_code == 200
    assert first.json()["access_token"] != second.json()["access_token"]
    assert not IdempotencyKey.objects.exists()


def test_signing_in_upgrades_a_hash_made_by_an_older_hasher(oauth_api, member, settings):
    from django.contrib.auth.hashers import make_password

    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    type(member).objects.filter(pk=member.pk).update(password=make_password(PASSWORD, hasher="pbkdf2_sha256"))

    assert password_grant(oauth_api, "ada@example.com").status_code == 200

    member.refresh_from_db()
    assert member.password.startswith("md5$")
    assert password_grant(oauth_api, "ada@example.com").status_code == 200


@pytest.mark.parametrize("identifier_type", ["email", "msisdn", "id"])
def test_an_identifier_with_a_nul_character_is_malformed_not_a_server_error(oauth_api, member, identifier_type):
    response = password_grant(oauth_api, "ada\x00@example.com", identifier_type)

    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"identifier": [leaf("invalid", "ada\x00@example.com", format="string or integer")]},
    }
