"""The in-process cache of client tokens and clubs (loyalty.api.auth_cache): it spares the two lookups of
every request, and a revoke or update takes effect in the very next request of the process that made it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.api import auth_cache
from loyalty.models import ClientToken, LoyaltyClub
from loyalty.services import clubs, tokens

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.API_AUTH_CACHE_SECONDS = 2.0
    auth_cache.clear()


def _queries(api, url) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert api.get(url).status_code == 200
    return [q["sql"] for q in queries]


def _lookups(sqls: list[str]) -> list[str]:
    return [sql for sql in sqls if '"loyalty_clienttoken"' in sql or '"loyalty_loyaltyclub"' in sql]


def test_a_second_request_reads_neither_the_token_nor_the_club(api, club):
    first = _queries(api, f"/v3/{club.slug}")
    second = _queries(api, f"/v3/{club.slug}")
    assert len(_lookups(first)) == 2
    assert _lookups(second) == []
    assert len(second) == len(first) - 2


def test_a_revoked_token_is_refused_by_the_next_request(api, club):
    assert api.get(f"/v3/{club.slug}").status_code == 200
    tokens.client_token_revoke(token=ClientToken.objects.get())
    response = api.get(f"/v3/{club.slug}")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid client token"}


def test_a_club_update_applies_to_the_next_request(member_api, club):
    assert member_api.get(f"/v3/{club.slug}/members/me/offers").status_code == 200
    clubs.club_update(club=LoyaltyClub.objects.get(pk=club.pk), offers_enabled=False)
    assert member_api.get(f"/v3/{club.slug}/members/me/offers").status_code == 402


def test_a_deleted_club_is_not_found_by_the_next_request(api, club):
    assert api.get(f"/v3/{club.slug}").status_code == 200
    LoyaltyClub.objects.filter(pk=club.pk).first().delete()
    assert api.get(f"/v3/{club.slug}").status_code == 401  # the token was bound to it


def test_a_write_that_bypasses_the_orm_is_seen_once_the_entry_expires(api, club, monkeypatch):
    assert api.get(f"/v3/{club.slug}").status_code == 200
    ClientToken.objects.update(revoked_at=timezone.now())  # a queryset update sends no signal
    assert api.get(f"/v3/{club.slug}").status_code == 200  # still cached in this process
    later = auth_cache.time.monotonic() + 2.5
    monkeypatch.setattr(auth_cache.time, "monotonic", lambda: later)
    assert api.get(f"/v3/{club.slug}").status_code == 401


def test_a_request_cannot_change_what_the_next_one_sees(api, club):
    assert api.get(f"/v3/{club.slug}").status_code == 200
    cached = auth_cache.club_find_by_slug(slug=club.slug)
    cached.name = "Changed in memory only"
    assert auth_cache.club_find_by_slug(slug=club.slug).name == "Infinity Mall"
    assert api.get(f"/v3/{club.slug}").json()["loyalty_club"]["name"] == "Infinity Mall"


def test_the_cache_can_be_turned_off(api, club, settings):
    settings.API_AUTH_CACHE_SECONDS = 0
    assert len(_lookups(_queries(api, f"/v3/{club.slug}"))) == 2
    assert len(_lookups(_queries(api, f"/v3/{club.slug}"))) == 2


def test_the_copy_a_request_gets_is_the_one_copy_copy_makes(api, club):
    """auth_cache hands out `instance_copy`, built directly rather than through `copy.copy`'s pickle protocol:
    the same attributes, its own `_state` and related-object cache, nothing shared that a request assigns."""
    import copy

    token = ClientToken.objects.get()
    _ = token.effective_permits
    token._state.fields_cache["marker"] = object()
    ours, theirs = auth_cache.instance_copy(token), copy.copy(token)
    assert type(ours) is ClientToken
    assert ours == token  # same pk
    expected = {k: v for k, v in theirs.__dict__.items() if k not in ("_state", "_django_version")}
    assert {k: v for k, v in ours.__dict__.items() if k != "_state"} == expected
    assert ours._state is not token._state
    assert (ours._state.db, ours._state.adding) == (token._state.db, token._state.adding) == ("default", False)
    assert ours._state.fields_cache == token._state.fields_cache
    assert ours._state.fields_cache is not token._state.fields_cache
    ours.name = "changed"
    ours._state.fields_cache.clear()
    assert token.name != "changed" and "marker" in token._state.fields_cache
    assert ours.effective_permits == token.effective_permits
