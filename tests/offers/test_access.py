"""Feature flag (402), permits per context (403), scope permits and the member token (460) — SPEC §1.3, §4.1."""

import pytest

from offers.models import OfferType
from tests.offers.conftest import BASE
from tests.offers.factories import OfferFactory

P = "Offers:Api:MemberOffers:"

# (method, path suffix, {context: permit}); {offer} is replaced by an offer id.
ENDPOINTS = [
    ("get", "offers/meta", {"me": f"{P}GetMeta", "id": f"{P}GetMetaByMemberId", "guest": f"{P}GetMetaPreview"}),
    ("get", "offers/{offer}", {"me": f"{P}Get", "id": f"{P}GetByMemberId", "guest": f"{P}GetPreview"}),
    ("get", "offers", {"me": f"{P}ListVisible", "id": f"{P}ListVisibleByMemberId", "guest": f"{P}ListVisiblePreview"}),
    ("post", "offers/{offer}/use", {"me": f"{P}Use", "id": f"{P}UseByMemberId"}),
    ("put", "offers/{offer}/like", {"me": f"{P}Like", "id": f"{P}LikeByMemberId"}),
    ("put", "offers/{offer}/unlike", {"me": f"{P}Like", "id": f"{P}LikeByMemberId"}),
    ("post", "offers/{offer}/grant", {"id": f"{P}GrantByMemberId"}),
]
CASES = [(method, suffix, ctx, permit) for method, suffix, permits in ENDPOINTS for ctx, permit in permits.items()]


@pytest.fixture
def call(club, member, member_bearer):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)

    def _call(client, method, suffix, ctx, query=""):
        prefix = {"me": f"{BASE}/me", "id": f"{BASE}/{member.id}", "guest": f"{BASE}/guest"}[ctx]
        url = f"{prefix}/{suffix.format(offer=offer.id)}{query}"
        return getattr(client, method)(url, {}, format="json") if method != "get" else client.get(url)

    return _call


@pytest.mark.parametrize(("method", "suffix", "ctx", "permit"), CASES)
def test_each_endpoint_needs_its_context_permit_and_the_scope_permit(
    call, client_with, member_bearer, method, suffix, ctx, permit
):
    bearer = member_bearer if ctx == "me" else None

    allowed = call(client_with(permit, "Offers:Api:Scopes:Standard", bearer=bearer), method, suffix, ctx)
    assert allowed.status_code not in (401, 402, 403, 460), allowed.json()

    without_permit = call(client_with("Offers:Api:Scopes:Standard", bearer=bearer), method, suffix, ctx)
    assert (without_permit.status_code, without_permit.json()) == (403, {"error": f"Missing permit: {permit}"})

    without_scope = call(client_with(permit, bearer=bearer), method, suffix, ctx)
    assert (without_scope.status_code, without_scope.json()) == (
        403,
        {"error": "Missing permit: Offers:Api:Scopes:Standard"},
    )


@pytest.mark.parametrize(
    ("scope", "scope_permit"),
    [
        ("informational", "Offers:Api:Scopes:Informational"),
        ("parking", "Offers:Api:Scopes:Parking"),
        ("carbon_offset", "Offers:Api:Scopes:CarbonOffset"),
        ("reward", "Offers:Api:Scopes:Reward"),
    ],
)
def test_the_requested_scope_needs_its_own_permit(call, client_with, scope, scope_permit):
    client = client_with(f"{P}ListVisiblePreview", "Offers:Api:Scopes:Standard")
    response = call(client, "get", "offers", "guest", f"?scope={scope}")
    assert (response.status_code, response.json()) == (403, {"error": f"Missing permit: {scope_permit}"})
    client = client_with(f"{P}ListVisiblePreview", scope_permit)
    assert call(client, "get", "offers", "guest", f"?scope={scope}").json() == {"offers": []}


def test_an_invalid_scope_answers_422_after_the_permits(call, client_with):
    client = client_with(f"{P}ListVisiblePreview")
    response = call(client, "get", "offers", "guest", "?scope=vip")
    assert response.status_code == 422
    assert response.json()["details"]["scope"][0]["error"] == "inclusion"


@pytest.mark.parametrize(("method", "suffix", "ctx", "permit"), CASES)
def test_offers_disabled_for_the_club_answers_402(call, api, member_api, club, method, suffix, ctx, permit):
    club.offers_enabled = False
    club.save(update_fields=["offers_enabled"])
    response = call(member_api if ctx == "me" else api, method, suffix, ctx)
    assert (response.status_code, response.json()) == (402, {"error": "Offers are not enabled for the Loyalty Club"})


@pytest.mark.parametrize("suffix", ["offers", "offers/meta", "offers/{offer}", "offers/{offer}/use"])
def test_the_me_context_needs_a_member_access_token(call, api, suffix):
    response = call(api, "post" if suffix.endswith("use") else "get", suffix, "me")
    assert response.status_code == 460


def test_a_member_of_another_club_is_not_found(call, api, other_club):
    from tests.factories import MemberFactory

    stranger = MemberFactory(club=other_club)
    response = api.get(f"{BASE}/{stranger.id}/offers")
    assert (response.status_code, response.json()) == (404, {"error": f"Member#{stranger.id} not found"})
