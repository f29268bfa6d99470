"""Collections management (SPEC §5.2): CRUD with `offers_order` and files, bare or wrapped bodies, and what the
member API then shows."""

from datetime import UTC, datetime

import pytest
import time_machine

from offers.models import Collection, CollectionOffer, Offer, OfferFile
from tests.offers.conftest import BASE
from tests.offers.factories import CollectionFactory, OfferFactory

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
NOW_JSON = "2030-05-01T12:00:00.000Z"
URL = "/v3/infinity-mall/offers/collections"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def collection_json(collection_id, **changes):
    return {
        "id": collection_id,
        "title": None,
        "description": None,
        "short_description": None,
        "offers_order": [],
        "files": [],
        "created_at": NOW_JSON,
        "updated_at": NOW_JSON,
        **changes,
    }


def test_create_answers_201_with_the_collection(api, club):
    a, b = OfferFactory(club=club), OfferFactory(club=club)

    response = api.post(
        URL,
        {
            "title": {"en": "Shoes", "nb": "Sko"},
            "description": "All shoes",
            "short_description": "Shoes",
            "offers_order": [b.id, a.id],
            "files": [{"url": "https://cdn.example.com/c.jpg", "width": 10, "height": 20}],
        },
        format="json",
    )

    assert response.status_code == 201
    collection = Collection.objects.get()
    assert response.json() == {
        "collection": collection_json(
            collection.id,
            title={"en": "Shoes", "nb": "Sko"},
            description="All shoes",
            short_description="Shoes",
            offers_order=[b.id, a.id],
            files=[
                {
                    "url": "https://cdn.example.com/c.jpg",
                    "width": 10,
                    "height": 20,
                    "kind": "collection_cover_default",
                    "size_type": "original",
                }
            ],
        )
    }
    assert collection.club_id == club.id
    assert api.get(f"{URL}/{collection.id}").json() == response.json()


def test_a_wrapped_body_works_too_and_its_errors_are_nested(api, club):
    created = api.post(URL, {"collection": {"title": "Wrapped"}}, format="json")
    refused = api.post(URL, {"collection": {"title": 5}}, format="json")

    assert created.status_code == 201
    assert created.json()["collection"]["title"] == "Wrapped"
    assert refused.status_code == 422
    assert refused.json()["details"] == {
        "collection": {
            "title": [
                {
                    "value": 5,
                    "error": "invalid",
                    "options": {"format": "string or {language: string} object"},
                    "message": "is in invalid format (string or {language: string} object)",
                }
            ]
        }
    }


def test_offers_order_lists_distinct_offers_of_the_club(api, club, other_club):
    mine = OfferFactory(club=club)
    theirs = OfferFactory(club=other_club)

    duplicated = api.post(URL, {"offers_order": [mine.id, mine.id]}, format="json")
    foreign = api.post(URL, {"offers_order": [mine.id, theirs.id]}, format="json")

    assert (duplicated.status_code, duplicated.json()) == (
        422,
        {
            "error": "Invalid parameters",
            "details": {
                "offers_order": [
                    {
                        "value": [mine.id, mine.id],
                        "error": "invalid",
                        "options": {},
                        "message": "list must contain unique values",
                    }
                ]
            },
        },
    )
    assert foreign.status_code == 422
    assert foreign.json()["details"]["offers_order"][0]["message"] == f"contains unknown offers: {theirs.id}"
    assert not Collection.objects.exists()


def test_put_changes_only_what_is_sent_and_the_member_api_follows_the_order(api, member_api, club):
    a, b = OfferFactory(club=club, name="A"), OfferFactory(club=club, name="B")
    collection = CollectionFactory(club=club, title="Keep", offers_order=[a.id, b.id])
    CollectionOffer.objects.bulk_create([CollectionOffer(collection=collection, offer=o) for o in (a, b)])

    response = api.put(f"{URL}/{collection.id}", {"offers_order": [b.id, a.id]}, format="json")

    assert response.status_code == 200
    assert response.json() == {"collection": collection_json(collection.id, title="Keep", offers_order=[b.id, a.id])}
    listed = member_api.get(f"{BASE}/me/offers?collection_ids={collection.id}&order_by=collection_position")
    assert [o["id"] for o in listed.json()["offers"]] == [b.id, a.id]


def test_delete_keeps_the_offers(api, club):
    offer = OfferFactory(club=club)
    collection = CollectionFactory(club=club)
    CollectionOffer.objects.create(collection=collection, offer=offer)
    OfferFile.objects.create(collection=collection, url="https://cdn.example.com/x.jpg")

    response = api.delete(f"{URL}/{collection.id}")

    assert (response.status_code, response.json()) == (200, {})
    assert not Collection.objects.exists()
    assert not OfferFile.objects.exists()
    assert Offer.objects.filter(pk=offer.pk).exists()
    assert api.get(f"/v3/infinity-mall/offers/{offer.id}").json()["offer"]["collection_ids"] == []


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_collections_of_other_clubs_are_not_found(api, club, other_club, method):
    theirs = CollectionFactory(club=other_club)

    response = getattr(api, method)(f"{URL}/{theirs.id}", {}, format="json")

    assert (response.status_code, response.json()) == (404, {"error": f"Collection#{theirs.id} not found"})


def test_the_list_is_paginated_by_id(api, club, other_club, django_assert_max_num_queries):
    mine = [CollectionFactory(club=club, title=f"C{i}") for i in range(3)]
    CollectionFactory(club=other_club)

    with django_assert_max_num_queries(6):
        response = api.get(f"{URL}?per_page=2")

    body = response.json()
    assert [c["id"] for c in body["collections"]] == [mine[0].id, mine[1].id]
    assert body["pagination_info"]["total_count"] == 3
    assert api.get(f"{URL}?per_page=101").status_code == 422


def test_a_wrapper_that_is_not_an_object_is_refused(api, club):
    response = api.post(URL, {"collection": "x"}, format="json")

    assert (response.status_code, response.json()) == (
        422,
        {
            "error": "Invalid parameters",
            "details": {
                "collection": [
                    {"value": "x", "error": "must_be_an_object", "options": {}, "message": "must be an object"}
                ]
            },
        },
    )
