"""Offers and offers admin list parameters (25_offers_api, 28_offers_admin_api): implemented, or refused with
a 422 — never ignored."""

from __future__ import annotations

import pytest

from tests.offers.factories import OfferFactory

MEMBER_OFFERS = "/v3/infinity-mall/members/{ctx}/offers"
ADMIN_OFFERS = "/v3/infinity-mall/offers"


@pytest.fixture
def offers(club):
    return {
        "acme": OfferFactory(club=club, name="A", extras={"brand": "Acme", "floor": 2}, stores=["M&H"]),
        "zeta": OfferFactory(club=club, name="B", extras={"brand": "Zeta", "floor": "3"}),
        "plain": OfferFactory(club=club, name="C", stores=["Doo Doo"]),
    }


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {offer["id"] for offer in response.json()["offers"]}


@pytest.mark.parametrize("ctx", ["me", "guest", "id"])
def test_store_ids_on_the_member_offers_list_is_refused_with_a_422(docs, member, member_bearer, offers, ctx):
    path = MEMBER_OFFERS.format(ctx=member.id if ctx == "id" else ctx)
    headers = {"authorization": f"Bearer {member_bearer}"} if ctx == "me" else None

    response = docs.get(f"{path}?store_ids[]=1&store_ids[]=2", headers=headers)

    assert response.status_code == 422
    assert response.json()["error"] == "Invalid parameters"
    assert response.json()["details"]["store_ids"][0]["error"] == "not_supported"


def test_extras_filters_the_member_offers_list(docs, offers, member):
    base = MEMBER_OFFERS.format(ctx="guest")

    assert _ids(docs.get(f"{base}?extras[brand]=Acme")) == {offers["acme"].id}
    assert _ids(docs.get(f"{base}?extras[brand][]=Acme&extras[brand][]=Zeta")) == {offers["acme"].id, offers["zeta"].id}
    # A query string has no types: `2` finds the number 2 and `3` the string "3".
    assert _ids(docs.get(f"{base}?extras[floor]=2")) == {offers["acme"].id}
    assert _ids(docs.get(f"{base}?extras[floor]=3")) == {offers["zeta"].id}
    assert _ids(docs.get(f"{base}?extras[brand]=Acme&extras[floor]=3")) == set()
    assert _ids(docs.get(base)) == {o.id for o in offers.values()}


def test_extras_filters_the_management_offers_list(docs, offers):
    assert _ids(docs.get(f"{ADMIN_OFFERS}?extras[brand]=Zeta")) == {offers["zeta"].id}


@pytest.mark.parametrize("query", ["extras=Acme", "extras[]=Acme", "extras[bad key!]=x"])
def test_malformed_extras_filters_answer_422(docs, offers, query):
    for path in (MEMBER_OFFERS.format(ctx="guest"), ADMIN_OFFERS):
        response = docs.get(f"{path}?{query}")
        assert response.status_code == 422, (path, query)
        assert "extras" in response.json()["details"]


def test_without_shop_lists_only_offers_without_stores_and_without_store_stays(docs, offers):
    assert _ids(docs.get(f"{ADMIN_OFFERS}?without_shop=true")) == {offers["zeta"].id}
    assert _ids(docs.get(f"{ADMIN_OFFERS}?without_store=true")) == {offers["zeta"].id}
    assert _ids(docs.get(f"{ADMIN_OFFERS}?without_shop=false")) == {o.id for o in offers.values()}
    assert docs.get(f"{ADMIN_OFFERS}?without_shop=maybe").status_code == 422


def test_include_total_is_accepted_and_pagination_info_always_returned(docs, offers):
    response = docs.get(f"{ADMIN_OFFERS}?include_total=true")
    assert response.json()["pagination_info"]["total_count"] == 3
    assert docs.get(f"{ADMIN_OFFERS}?include_total=perhaps").status_code == 422
