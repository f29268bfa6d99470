"""Members OAuth as published (10_members_api/1_oauth.md)."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.contrib.auth.hashers import make_password
from django.utils import timezone

TOKEN = "/v3/infinity-mall/members/oauth/token"
INFO = "/v3/infinity-mall/members/oauth/token/info"


def test_the_docs_password_grant_with_an_id_identifier_sent_as_php_sends_it(docs, member):
    member.password = make_password("123-secret")
    member.save()
    # The docs send `"identifier": 42`; a PHP form sends the same id as a string.
    for identifier in (member.id, str(member.id)):
        body = {"grant_type": "password", "identifier_type": "id", "identifier": identifier, "password": "123-secret"}
        response = docs.post(TOKEN, body)

        assert response.status_code == 200, response.content
        pair = response.json()
        assert set(pair) == {
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "created_at",
            "resource_owner_id",
        }
        assert (pair["token_type"], pair["expires_in"], pair["resource_owner_id"]) == ("bearer", 86400, member.id)


def test_token_info_has_expires_in_as_well_as_expires_in_seconds(docs, member):
    member.password = make_password("123-secret")
    member.save()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        body = {
            "grant_type": "password",
            "identifier_type": "email",
            "identifier": "ada@example.com",
            "password": "123-secret",
        }
        access = docs.post(TOKEN, body).json()["access_token"]

    with time_machine.travel(start + timedelta(seconds=600), tick=False):
        response = docs.get(INFO, headers={"authorization": f"Bearer {access}"})

    assert response.status_code == 200
    info = response.json()
    assert info["expires_in"] == info["expires_in_seconds"] == 86400 - 600
    assert (info["resource_owner_id"], info["scopes"], info["application"]) == (member.id, [], {"uid": None})


def test_token_info_with_an_invalid_token_is_460(docs, member):
    assert docs.get(INFO, headers={"authorization": "Bearer nope"}).status_code == 460
