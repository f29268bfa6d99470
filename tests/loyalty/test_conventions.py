"""SPEC §1: required headers, precedence, JSON bodies, error shapes — through the real HTTP stack."""

import pytest

from tests.conftest import make_client

CLUB_URL = "/v3/infinity-mall"


@pytest.mark.parametrize("missing", ["HTTP_X_CLIENT_AUTHORIZATION", "HTTP_X_USER_AGENT", "HTTP_X_PRODUCT_NAME"])
def test_a_missing_required_header_answers_470_naming_the_header(full_token, missing):
    headers = {
        "HTTP_X_CLIENT_AUTHORIZATION": full_token,
        "HTTP_X_USER_AGENT": "pytest",
        "HTTP_X_PRODUCT_NAME": "app",
    }
    del headers[missing]
    from rest_framework.test import APIClient

    response = APIClient().get(CLUB_URL, **headers)
    name = {
        "HTTP_X_CLIENT_AUTHORIZATION": "X-Client-Authorization",
        "HTTP_X_USER_AGENT": "X-User-Agent",
        "HTTP_X_PRODUCT_NAME": "X-Product-Name",
    }[missing]
    assert response.status_code == 470
    assert response.json() == {"error": f"Missing header: {name}"}


def test_headers_are_checked_before_the_client_token():
    response = make_client("not-a-token", product="").get(CLUB_URL)
    assert response.status_code == 470
    assert response.json() == {"error": "Missing header: X-Product-Name"}


def test_a_club_slug_header_differing_from_the_path_answers_471(api):
    response = api.get(CLUB_URL, HTTP_X_LOYALTY_CLUB_SLUG="other-mall")
    assert response.status_code == 471
    assert response.json() == {"error": "Wrong header value: X-Loyalty-Club-Slug"}


def test_a_club_slug_header_equal_to_the_path_is_accepted(api):
    assert api.get(CLUB_URL, HTTP_X_LOYALTY_CLUB_SLUG="infinity-mall").status_code == 200


def test_an_unknown_client_token_answers_401(club):
    response = make_client("x" * 43).get(CLUB_URL)
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid client token"}


def test_a_revoked_client_token_answers_401(api, full_token):
    token_id = api.get("/v1/tokens").json()["tokens"][0]["id"]
    assert api.delete(f"/v1/tokens/{token_id}").status_code == 200
    assert make_client(full_token).get(CLUB_URL).status_code == 401


def test_an_unknown_club_answers_404_after_the_token_was_checked(issue_token, club):
    unbound = make_client(issue_token(policies=["FullAccess"]))
    response = unbound.get("/v3/no-such-club")
    assert response.status_code == 404
    assert response.json() == {"error": "Loyalty club not found"}
    assert make_client("wrong").get("/v3/no-such-club").status_code == 401


def test_a_token_bound_to_one_club_answers_401_on_another_club(api, other_club):
    response = api.get("/v3/other-mall")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid client token"}


def test_a_token_bound_to_clubs_cannot_probe_unknown_slugs(api):
    assert api.get("/v3/no-such-club").status_code == 401


def test_a_token_bound_to_a_product_answers_401_for_another_product(issue_token, club):
    secret = issue_token(policies=["FullAccess"], clubs=[club], product="android-app")
    assert make_client(secret, product="android-app").get(CLUB_URL).status_code == 200
    response = make_client(secret, product="ios-app").get(CLUB_URL)
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid client token"}


def test_a_token_lacking_the_permit_answers_403_naming_it(client_with):
    response = client_with("BL:Api:LoyaltyClubs:Get").put(CLUB_URL, {"loyalty_club": {}}, format="json")
    assert response.status_code == 403
    assert response.json() == {"error": "Missing permit: BL:Api:LoyaltyClubs:Update"}


def test_permits_are_checked_before_the_body_is_parsed(client_with):
    response = client_with().put(CLUB_URL, "{not json", content_type="application/json")
    assert response.status_code == 403


def test_a_body_that_is_not_json_answers_400(api):
    response = api.put(CLUB_URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid JSON"}


@pytest.mark.parametrize("body", ["NaN", '{"a": Infinity}', "\xff\xfe", '{"a": 1'])
def test_non_standard_or_broken_json_answers_400(api, body):
    assert api.put(CLUB_URL, body, content_type="application/json").status_code == 400


def test_any_content_type_is_read_as_json(api):
    response = api.put(CLUB_URL, '{"loyalty_club": {"name": "Plain"}}', content_type="text/plain")
    assert response.status_code == 200
    assert response.json()["loyalty_club"]["name"] == "Plain"


def test_a_body_larger_than_one_mebibyte_answers_413_and_changes_nothing(api, club):
    body = '{"loyalty_club": {"name": "' + "x" * (1024 * 1024) + '"}}'
    response = api.put(CLUB_URL, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"error": "Request body is larger than 1 MiB"}
    club.refresh_from_db()
    assert club.name == "Infinity Mall"


def test_an_unknown_path_answers_404_in_the_contract_shape(api):
    response = api.get("/v3/infinity-mall/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


def test_an_unsupported_method_answers_405(api):
    response = api.delete(CLUB_URL)
    assert response.status_code == 405
    assert response.json() == {"error": "Method not allowed"}


def test_an_unexpected_error_answers_500_without_a_trace(api, monkeypatch):
    from loyalty.api import views

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views.s, "club_to_json", boom)
    response = api.get(CLUB_URL)
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error"}
    assert b"secret internals" not in response.content


def test_non_standard_statuses_carry_a_reason_phrase(api):
    response = api.get(CLUB_URL, HTTP_X_LOYALTY_CLUB_SLUG="x")
    assert response.reason_phrase == "Wrong Header"
