"""OWASP API2 (broken authentication): revoked client tokens, and expired or revoked member tokens, open
nothing — on every operation (from the URL resolver), and nothing is written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.models import ClientToken, MemberOAuthToken
from loyalty.secrets import digest
from loyalty.services.oauth import oauth_tokens_issue
from tests.conftest import make_client
from tests.security.conftest import footprint
from tests.security.endpoints import api_operations

OPERATIONS = api_operations()
AS_BEARER = [op for op in OPERATIONS if op.acts_as_bearer]


def _ids(world) -> dict[str, int]:
    return {name: values[0] for name, values in world.ids.items()}


def _call(client, op, world):
    url = op.path(lc=world.slug, member_id=world.member_id, ids=_ids(world))
    return client.get(url) if op.method == "get" else getattr(client, op.method)(url, {}, format="json")


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_a_revoked_client_token_gets_401_on_every_operation(op, world, api):
    ClientToken.objects.filter(token_digest=digest(world.full_token)).update(revoked_at=timezone.now())
    before = footprint(world.member_id)

    response = _call(make_client(world.full_token, bearer=world.bearer), op, world)

    assert response.status_code == 401, (str(op), response.content)
    assert response.json() == {"error": "Invalid client token"}
    assert footprint(world.member_id) == before


def test_revoking_a_client_token_through_the_api_locks_it_out_at_once(world, issue_token):
    victim = issue_token(policies=["FullAccess"])
    victim_id = ClientToken.objects.get(token_digest=digest(victim)).id
    admin = make_client(issue_token(policies=["FullAccess"]))
    assert make_client(victim).get("/v1/tokens/permits").status_code == 200

    assert admin.delete(f"/v1/tokens/{victim_id}").status_code == 200

    assert make_client(victim).get("/v1/tokens/permits").status_code == 401


@pytest.mark.parametrize("op", AS_BEARER, ids=str)
def test_an_expired_member_access_token_gets_460_on_every_me_operation(op, world):
    MemberOAuthToken.objects.filter(access_digest=digest(world.bearer)).update(
        access_expires_at=timezone.now() - timedelta(seconds=1)
    )
    before = footprint(world.member_id)

    response = _call(make_client(world.full_token, bearer=world.bearer), op, world)

    assert response.status_code == 460, (str(op), response.content)
    assert response.json() == {"error": "Invalid member access token"}
    assert footprint(world.member_id) == before


@pytest.mark.parametrize("op", AS_BEARER, ids=str)
def test_a_member_access_token_revoked_through_the_api_gets_460_on_every_me_operation(op, world):
    client = make_client(world.full_token, bearer=world.bearer)
    revoke = client.post(f"/v3/{world.slug}/members/oauth/revoke", {"token": world.bearer}, format="json")
    assert (revoke.status_code, revoke.json()) == (200, {})
    before = footprint(world.member_id)

    response = _call(client, op, world)

    assert response.status_code == 460, (str(op), response.content)
    assert response.json() == {"error": "Invalid member access token"}
    assert footprint(world.member_id) == before


def test_an_expired_refresh_token_gets_462_and_issues_nothing(world):
    from loyalty.models import Member

    pair = oauth_tokens_issue(member=Member.objects.get(pk=world.member_id))
    MemberOAuthToken.objects.filter(refresh_digest=digest(pair.refresh_token)).update(
        refresh_expires_at=timezone.now() - timedelta(seconds=1)
    )
    live_before = MemberOAuthToken.objects.filter(revoked_at__isnull=True).count()

    response = make_client(world.full_token).post(
        f"/v3/{world.slug}/members/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": pair.refresh_token},
        format="json",
    )

    assert (response.status_code, response.json()) == (462, {"error": "Invalid refresh token"})
    assert MemberOAuthToken.objects.filter(revoked_at__isnull=True).count() <= live_before
