"""The optional per-client-token rate limit (SPEC §1.3): off by default; when on, 429 with `Retry-After` past
the limit of the current minute, per token, before any other work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.cache import cache

from kit.api import throttling
from tests.conftest import make_client

T0 = datetime(2026, 3, 2, 12, 0, 20, tzinfo=UTC)  # 20 s into a minute window


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def limited(settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3


def _get(client, club):
    return client.get(f"/v3/{club.slug}")


def test_there_is_no_limit_by_default(api, club, settings):
    assert settings.API_RATE_LIMIT_PER_MINUTE == 0
    assert {_get(api, club).status_code for _ in range(25)} == {200}


def test_past_the_limit_a_token_gets_429_with_the_seconds_left_in_the_window(api, club, limited):
    with time_machine.travel(T0, tick=False):
        statuses = [_get(api, club).status_code for _ in range(3)]
        refused = _get(api, club)

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json() == {"error": "Rate limit exceeded"}
    assert refused["Retry-After"] == "40"


def test_the_next_window_lets_the_token_through_again(api, club, limited):
    with time_machine.travel(T0, tick=False):
        for _ in range(4):
            _get(api, club)
    with time_machine.travel(T0.replace(minute=1, second=0), tick=False):
        assert _get(api, club).status_code == 200


def test_each_token_has_its_own_count(club, issue_token, limited):
    first, second = (make_client(issue_token(policies=["FullAccess"], clubs=[club])) for _ in range(2))
    with time_machine.travel(T0, tick=False):
        for _ in range(3):
            _get(first, club)
        assert _get(first, club).status_code == 429
        assert _get(second, club).status_code == 200


def test_the_limit_answers_before_the_club_permit_and_member_checks(club, issue_token, limited):
    client = make_client(issue_token(permits=[], clubs=None))
    with time_machine.travel(T0, tick=False):
        for _ in range(3):
            client.get("/v3/no-such-club")
        assert client.get("/v3/no-such-club").status_code == 429
        assert client.get(f"/v3/{club.slug}/members/me").status_code == 429


def test_a_refused_write_does_no_work_and_does_not_spend_its_idempotency_key(member_api, club, member, limited):
    url = f"/v3/{club.slug}/members/me"
    with time_machine.travel(T0, tick=False):
        for _ in range(3):
            member_api.get(url)
        refused = member_api.put(
            url, {"member": {"properties": {"first_name": "Later"}}}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        )
    member.refresh_from_db()
    assert refused.status_code == 429 and member.first_name != "Later"

    with time_machine.travel(T0.replace(minute=1), tick=False):
        retried = member_api.put(
            url, {"member": {"properties": {"first_name": "Later"}}}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        )
    member.refresh_from_db()
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried
    assert member.first_name == "Later"


def test_a_broken_cache_lets_requests_through(api, club, limited, monkeypatch):
    class Broken:
        def add(self, *args, **kwargs):
            raise ConnectionError("cache down")

    monkeypatch.setattr(throttling, "caches", {"default": Broken()})
    assert {_get(api, club).status_code for _ in range(5)} == {200}
