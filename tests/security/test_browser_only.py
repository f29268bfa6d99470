"""Django's browser middlewares (kit.api.browser_only) run for the admin and every other page, not for the API:
the admin keeps its sessions, logins and CSRF checks; the API answers as before, headers included, without
touching a session or a cookie. And the headers the API reads from META are the ones request.headers holds."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.api.browser_only import api_path_prefixes
from kit.api.headers import header, meta_key

pytestmark = pytest.mark.django_db


def test_the_api_prefixes_are_the_api_routes():
    assert api_path_prefixes() == ("/v1/", "/v3/")


def test_the_admin_still_checks_csrf_on_a_login():
    client = Client(enforce_csrf_checks=True)
    assert client.post("/admin/login/", {"username": "x", "password": "y"}).status_code == 403


def test_the_admin_still_has_sessions_logins_and_messages():
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-123456")
    client = Client()
    assert client.get("/admin/").status_code == 302  # to the login page: AuthenticationMiddleware ran
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert response.wsgi_request.user == user
    assert hasattr(response.wsgi_request, "session") and hasattr(response.wsgi_request, "_messages")


def test_an_api_request_has_no_session_user_or_cookie(api, club):
    response = api.get(f"/v3/{club.slug}")
    assert response.status_code == 200
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "_messages")
    assert request.user is None  # DRF's unauthenticated user (UNAUTHENTICATED_USER), not Django's lazy one
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
    # The security and clickjacking headers are still added (those middlewares run for every path).
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_an_api_error_answer_is_unchanged(club):
    from tests.conftest import make_client

    response = make_client(None).get(f"/v3/{club.slug}")
    assert response.status_code == 470
    assert "X-Client-Authorization" in response.json()["error"]
    assert not response.cookies


def test_a_session_cookie_sent_to_the_api_is_ignored(api, club):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-123456")
    browser = Client()
    browser.force_login(user)
    api.cookies = browser.cookies  # a logged-in admin's cookies on an API call: no session, no CSRF, no user
    response = api.post(f"/v3/{club.slug}/members", {}, format="json")
    assert response.status_code == 422  # the API's own answer, not Django's CSRF 403
    assert response.wsgi_request.user is None and not hasattr(response.wsgi_request, "session")


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=24)


@settings(max_examples=200, deadline=None)
@given(name=_names, value=st.text(max_size=20), asked=st.sampled_from(["lower", "upper", "same"]))
def test_a_header_read_from_meta_is_what_request_headers_gives(name, value, asked):
    request = RequestFactory().get("/v3/x", headers={name: value})
    asked_name = {"lower": name.lower(), "upper": name.upper(), "same": name}[asked]
    assert header(request, asked_name) == request.headers.get(asked_name)
    assert header(request, asked_name + "-absent", "d") == request.headers.get(asked_name + "-absent", "d")


def test_content_headers_have_no_prefix():
    assert meta_key("Content-Type") == "CONTENT_TYPE" and meta_key("content-length") == "CONTENT_LENGTH"
    request = RequestFactory().post("/v3/x", data=b"{}", content_type="application/json")
    assert header(request, "Content-Type") == request.headers.get("Content-Type") == "application/json"
