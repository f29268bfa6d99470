"""SPEC §2.1: client tokens, permits, policies and the token admin API."""

import pytest

from loyalty.models import ClientToken
from loyalty.permits import PERMITS, POLICIES, expand
from loyalty.secrets import digest
from tests.conftest import make_client

TOKEN_KEYS = {
    "id",
    "name",
    "permits",
    "policies",
    "loyalty_club_ids",
    "product",
    "revoked_at",
    "created_at",
    "updated_at",
}


def test_creating_a_token_shows_the_secret_once_and_stores_only_its_digest(api, club):
    response = api.post(
        "/v1/tokens",
        {
            "token": {
                "name": "Android",
                "policies": ["MemberAppAccess"],
                "loyalty_club_ids": [club.id],
                "product": "android-app",
            }
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()["token"]
    secret = body.pop("token")
    assert set(body) == TOKEN_KEYS
    assert body["name"] == "Android"
    assert body["policies"] == ["MemberAppAccess"]
    assert body["permits"] == []
    assert body["loyalty_club_ids"] == [club.id]
    assert body["product"] == "android-app"
    assert body["revoked_at"] is None
    assert len(secret) >= 22  # >= 128 bits of randomness, URL-safe base64

    stored = ClientToken.objects.get(pk=body["id"])
    assert stored.token_digest == digest(secret)
    for field in ClientToken._meta.concrete_fields:
        assert secret not in str(field.value_from_object(stored))

    shown = api.get(f"/v1/tokens/{body['id']}").json()["token"]
    assert "token" not in shown
    assert make_client(secret, product="android-app").get("/v3/infinity-mall").status_code == 200


def test_a_policy_expands_to_its_permits(issue_token, club):
    secret = issue_token(policies=["MemberAppAccess"], clubs=[club])
    client = make_client(secret)
    assert client.get("/v3/infinity-mall").status_code == 200  # BL:Api:LoyaltyClubs:Get is in the policy
    assert client.put("/v3/infinity-mall", {"loyalty_club": {}}, format="json").status_code == 403


def test_effective_permits_are_direct_permits_plus_policy_permits():
    combined = expand(["Tokens:Api:Tokens:Index"], ["MembersRegularAccess"])
    assert "Tokens:Api:Tokens:Index" in combined
    assert "BL:Api:Members:Create" in combined
    assert "Offers:Api:Offers:Create" not in combined
    assert expand([], ["FullAccess"]) == frozenset(PERMITS)


def test_every_policy_names_only_catalogued_permits():
    for name, (_description, permits) in POLICIES.items():
        assert permits, name
        assert permits <= set(PERMITS), name


def test_unknown_permit_or_policy_names_are_refused_with_422(api):
    response = api.post(
        "/v1/tokens", {"token": {"name": "x", "permits": ["Nope:Nope"], "policies": ["Root"]}}, format="json"
    )
    assert response.status_code == 422
    details = response.json()["details"]["token"]
    assert details["permits"]["0"][0]["error"] == "inclusion"
    assert details["policies"]["0"][0]["error"] == "inclusion"


def test_a_token_can_never_grant_a_permit_it_does_not_hold(client_with):
    client = client_with("Tokens:Api:Tokens:Create")
    response = client.post("/v1/tokens", {"token": {"name": "x", "policies": ["FullAccess"]}}, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": "Token cannot grant permits it does not hold"}
    assert ClientToken.objects.filter(name="x").count() == 0


def test_a_bound_token_cannot_issue_an_unbound_or_foreign_token(api, club, other_club):
    unbound = api.post("/v1/tokens", {"token": {"name": "x", "permits": ["BL:Api:LoyaltyClubs:Get"]}}, format="json")
    assert unbound.status_code == 422
    assert unbound.json() == {"error": "Token cannot grant loyalty clubs it does not hold"}
    foreign = api.post(
        "/v1/tokens",
        {"token": {"name": "x", "permits": ["BL:Api:LoyaltyClubs:Get"], "loyalty_club_ids": [other_club.id]}},
        format="json",
    )
    assert foreign.status_code == 422


def test_a_token_may_issue_a_subset_of_its_own_permits(client_with, club):
    client = client_with("Tokens:Api:Tokens:Create", "BL:Api:LoyaltyClubs:Get")
    response = client.post(
        "/v1/tokens",
        {"token": {"name": "reader", "permits": ["BL:Api:LoyaltyClubs:Get"], "loyalty_club_ids": [club.id]}},
        format="json",
    )
    assert response.status_code == 201


def test_updating_cannot_escalate_beyond_the_caller(client_with, api, club):
    created = api.post(
        "/v1/tokens",
        {"token": {"name": "r", "permits": ["BL:Api:LoyaltyClubs:Get"], "loyalty_club_ids": [club.id]}},
        format="json",
    ).json()["token"]
    limited = client_with("Tokens:Api:Tokens:Update", "BL:Api:LoyaltyClubs:Get")
    response = limited.put(f"/v1/tokens/{created['id']}", {"token": {"policies": ["FullAccess"]}}, format="json")
    assert response.status_code == 422
    ok = limited.put(f"/v1/tokens/{created['id']}", {"token": {"name": "renamed"}}, format="json")
    assert ok.status_code == 200
    assert ok.json()["token"]["name"] == "renamed"
    assert ok.json()["token"]["permits"] == ["BL:Api:LoyaltyClubs:Get"]


def test_deleting_revokes_and_the_revoked_token_stops_working(api, club, issue_token):
    secret = issue_token(permits=["BL:Api:LoyaltyClubs:Get"], clubs=[club], name="victim")
    victim = ClientToken.objects.get(name="victim")
    response = api.delete(f"/v1/tokens/{victim.id}")
    assert response.status_code == 200
    assert response.json()["token"]["revoked_at"] is not None
    assert make_client(secret).get("/v3/infinity-mall").status_code == 401


def test_listing_paginates_and_filters(api, club, issue_token):
    for i in range(3):
        issue_token(permits=["BL:Api:LoyaltyClubs:Get"], clubs=[club], name=f"reader {i}", product="kiosk")
    response = api.get("/v1/tokens", {"per_page": 2, "product": "kiosk"})
    assert response.status_code == 200
    body = response.json()
    assert [t["name"] for t in body["tokens"]] == ["reader 0", "reader 1"]
    assert body["pagination_info"] == {
        "total_count": 3,
        "per_page": 2,
        "total_pages": 2,
        "current_page": 1,
        "next_page": 2,
        "prev_page": None,
        "is_first_page": True,
        "is_last_page": False,
        "is_out_of_range": False,
    }
    assert [t["name"] for t in api.get("/v1/tokens", {"search": "READER 2"}).json()["tokens"]] == ["reader 2"]
    assert len(api.get("/v1/tokens", {"policy": "FullAccess"}).json()["tokens"]) == 1
    assert len(api.get("/v1/tokens", {"permit": "BL:Api:LoyaltyClubs:Get"}).json()["tokens"]) == 4
    out_of_range = api.get("/v1/tokens", {"page_no": 9}).json()
    assert out_of_range["tokens"] == []
    assert out_of_range["pagination_info"]["is_out_of_range"] is True


def test_a_bound_token_sees_only_tokens_within_its_clubs(api, issue_token, other_club):
    issue_token(policies=["FullAccess"], clubs=[other_club], name="foreign")
    issue_token(policies=["FullAccess"], name="global")
    names = [t["name"] for t in api.get("/v1/tokens").json()["tokens"]]
    assert "foreign" not in names and "global" not in names
    foreign = ClientToken.objects.get(name="foreign")
    response = api.get(f"/v1/tokens/{foreign.id}")
    assert response.status_code == 404
    assert response.json() == {"error": f"Token#{foreign.id} not found"}


def test_permits_and_policies_catalogues(api):
    permits = api.get("/v1/tokens/permits").json()["permits"]
    assert {"name": "Offers:Api:MemberOffers:Use", "description": PERMITS["Offers:Api:MemberOffers:Use"]} in permits
    assert len(permits) == len(PERMITS)
    policies = {p["name"]: p for p in api.get("/v1/tokens/policies").json()["policies"]}
    assert set(policies) == {
        "FullAccess",
        "OffersRegularAccess",
        "RewardsRegularAccess",
        "MembersRegularAccess",
        "MemberAppAccess",
    }
    assert "Offers:Api:MemberOffers:Use" in policies["MemberAppAccess"]["permits"]
    assert "Offers:Api:MemberOffers:UseByMemberId" not in policies["MemberAppAccess"]["permits"]


@pytest.mark.parametrize("path", ["/v1/tokens", "/v1/tokens/permits", "/v1/tokens/policies"])
def test_token_admin_endpoints_require_their_permit(client_with, path):
    response = client_with("BL:Api:LoyaltyClubs:Get").get(path)
    assert response.status_code == 403
    assert response.json()["error"].startswith("Missing permit: ")
