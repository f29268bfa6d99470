"""Tokens Admin API as published (60_tokens_admin_api): `Authorization: <token>`, no `x-product-name`."""

from __future__ import annotations

import pytest

from loyalty.models import ClientToken
from tests.compat.docs import DocsClient


@pytest.fixture
def admin_secret(issue_token):
    return issue_token(policies=["FullAccess"], name="admin")


@pytest.fixture
def admin(admin_secret) -> DocsClient:
    """The docs' headers exactly: content-type, Authorization: <token>, x-user-agent."""
    client = DocsClient(None, Authorization=admin_secret)
    client.headers.pop("x-product-name")
    return client


def test_every_documented_token_request_works_with_the_documented_headers(admin, club):
    payload = {
        "token": {
            "name": "Token",
            "permits": ["Offers:Api:Offers:Get"],
            "policies": ["OffersRegularAccess", "RewardsRegularAccess"],
            "loyalty_club_ids": [club.id],
            "customers": None,
            "product": "android",
            "internal": False,
        }
    }
    created = admin.post("/v1/tokens", payload)
    assert created.status_code == 201, created.content
    token_id, secret = created.json()["token"]["id"], created.json()["token"]["token"]

    assert admin.get("/v1/tokens").json()["pagination_info"]["total_count"] == 2
    assert admin.get(f"/v1/tokens/{token_id}").json()["token"]["name"] == "Token"
    # `:id_or_token`: the secret names the token as well as its id.
    assert admin.get(f"/v1/tokens/{secret}").json()["token"]["id"] == token_id
    assert admin.put(f"/v1/tokens/{token_id}", {"token": {"name": "Renamed"}}).json()["token"]["name"] == "Renamed"
    assert admin.get("/v1/tokens/permits").status_code == 200
    assert admin.get("/v1/tokens/policies").status_code == 200
    assert admin.delete(f"/v1/tokens/{token_id}").json()["token"]["revoked_at"] is not None


def test_an_unknown_secret_as_id_is_404_without_echoing_it(admin):
    response = admin.get("/v1/tokens/not-a-real-secret")

    assert response.status_code == 404
    assert "not-a-real-secret" not in response.content.decode()


def test_a_bearer_or_missing_authorization_is_still_470_and_a_wrong_token_401(admin, admin_secret):
    assert admin.get("/v1/tokens", drop=("Authorization",)).status_code == 470
    assert admin.get("/v1/tokens", headers={"Authorization": f"Bearer {admin_secret}"}).status_code == 470
    assert admin.get("/v1/tokens", headers={"Authorization": "wrong"}).status_code == 401


def test_a_product_bound_token_still_needs_its_product(issue_token):
    client = DocsClient(None, Authorization=issue_token(policies=["FullAccess"], product="android"))
    client.headers.pop("x-product-name")

    assert client.get("/v1/tokens").status_code == 401
    assert client.get("/v1/tokens", headers={"x-product-name": "android"}).status_code == 200


def test_global_and_internal_filters(admin, issue_token, club):
    issue_token(permits=["Offers:Api:Offers:Get"], clubs=[club], name="bound")

    names = {t["name"] for t in admin.get("/v1/tokens?global=true").json()["tokens"]}
    assert names == {"admin"}
    assert {t["name"] for t in admin.get("/v1/tokens?global=false").json()["tokens"]} == {"bound"}
    assert admin.get("/v1/tokens?internal=true").json()["tokens"] == []
    assert len(admin.get("/v1/tokens?internal=false").json()["tokens"]) == 2


@pytest.mark.parametrize("attribute, value", [("customers", ["language=pl"]), ("internal", True)])
def test_payload_attributes_without_a_counterpart_are_refused(admin, attribute, value):
    response = admin.post("/v1/tokens", {"token": {"name": "T", attribute: value}})

    assert response.status_code == 422
    assert response.json()["details"]["token"][attribute][0]["error"] == "not_supported"
    assert ClientToken.objects.count() == 1
