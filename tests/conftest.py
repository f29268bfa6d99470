"""Shared fixtures: clubs, tokens, members and API clients that go through the real HTTP stack."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from loyalty.services.oauth import oauth_tokens_issue
from loyalty.services.tokens import client_token_issue
from tests.factories import LoyaltyClubFactory, MemberFactory


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.postgres` tests need real row locks: skipped, with the reason shown, on SQLite."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...); CI runs it")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _invariants_after_heavy_tests(request):
    """After every `postgres` (race, crash) or `slow` test that uses the database, the data invariants must
    hold (ledger, offer counters, shop): see tests.reliability.invariants."""
    heavy = request.node.get_closest_marker("postgres") or request.node.get_closest_marker("slow")
    uses_db = "_django_db_helper" in request.fixturenames or request.node.get_closest_marker("django_db")
    if not (heavy and uses_db):
        yield
        return
    request.getfixturevalue("_django_db_helper")  # set up before this fixture, so torn down after the check
    yield
    from tests.reliability.invariants import assert_invariants

    assert_invariants()


def make_client(secret: str | None, *, bearer: str | None = None, product: str = "test-app") -> APIClient:
    """An APIClient sending the contract's headers (SPEC §1.2)."""
    client = APIClient()
    headers = {"HTTP_X_USER_AGENT": "pytest", "HTTP_X_PRODUCT_NAME": product}
    if secret is not None:
        headers["HTTP_X_CLIENT_AUTHORIZATION"] = secret
    if bearer is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {bearer}"
    client.credentials(**headers)
    return client


@pytest.fixture
def club(db):
    return LoyaltyClubFactory(slug="infinity-mall", name="Infinity Mall")


@pytest.fixture
def other_club(db):
    return LoyaltyClubFactory(slug="other-mall", name="Other Mall")


@pytest.fixture
def issue_token(db):
    """issue_token(permits=[...], policies=[...], clubs=[club] | None, product=None) -> secret."""

    def _issue(*, permits=(), policies=(), clubs=None, product=None, name="test token") -> str:
        return client_token_issue(
            name=name,
            permits=list(permits),
            policies=list(policies),
            loyalty_club_ids=None if clubs is None else [c.id for c in clubs],
            product=product,
        ).secret

    return _issue


@pytest.fixture
def full_token(issue_token, club) -> str:
    """A FullAccess token bound to `club`."""
    return issue_token(policies=["FullAccess"], clubs=[club])


@pytest.fixture
def api(full_token) -> APIClient:
    """Client with a FullAccess token bound to `club`, no member."""
    return make_client(full_token)


@pytest.fixture
def client_with(issue_token, club):
    """client_with("Perm:A", "Perm:B", bearer=None) -> APIClient holding exactly those permits on `club`."""

    def _client(*permits: str, bearer: str | None = None) -> APIClient:
        return make_client(issue_token(permits=permits, clubs=[club]), bearer=bearer)

    return _client


@pytest.fixture
def member(club):
    return MemberFactory(club=club, email="ada@example.com", msisdn="4740769126")


@pytest.fixture
def member_bearer(member) -> str:
    """A live access token of `member`."""
    return oauth_tokens_issue(member=member).access_token


@pytest.fixture
def member_api(full_token, member_bearer) -> APIClient:
    """Client with a FullAccess token and `member`'s Bearer token."""
    return make_client(full_token, bearer=member_bearer)
