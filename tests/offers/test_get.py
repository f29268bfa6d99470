"""GET {ctx}/offers/{id} (SPEC §4.2, §4.4): the whole Offer JSON in each context."""

from datetime import UTC, datetime

import pytest
import time_machine

from offers.models import OfferGrant, OfferLike, OfferType
from tests.offers.conftest import BASE
from tests.offers.factories import CollectionFactory, OfferFactory, OfferFileFactory

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)

DEFAULT_DISPLAY = {
    "schemas": {
        "list": {
            "header": {"type": "reference", "value": "$.name"},
            "body": {"type": "reference", "value": "$.description"},
            "caption": {"type": "reference", "value": "$.stores"},
        },
        "details": {
            "header": {"type": "reference", "value": "$.name"},
            "body": {"type": "reference", "value": "$.description"},
            "caption": {"type": "reference", "value": "$.stores"},
        },
    },
    "read_more": {"button_title": None, "url": None, "title": None, "text": None},
    "activation_texts": {"modal": None, "button": None, "description": None},
}


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False):
        yield


def test_get_shows_the_whole_offer_to_the_signed_in_member(member_api, club, member):
    collection = CollectionFactory(club=club)
    offer = OfferFactory(
        club=club,
        name={"en": "Buy two shoes, get one jacket", "nb": "Kjøp to sko"},
        description="Only today",
        external_url="https://example.com/foo",
        usable_since=datetime(2019, 3, 13, 17, 32, tzinfo=UTC),
        maximum_uses_per_user=10,
        stock=100,
        tags=["2 + 1"],
        stores=["M&H"],
        collections=[collection],
        extras={"brand": "ACME"},
        read_more={"button_title": "Button title", "title": "Title", "text": {"en": "Text", "nb": "Tekst"}},
        activation_texts={"modal": "Modal", "button": "Button"},
    )
    OfferFileFactory(offer=offer, url="https://cdn.example.com/a.jpg", kind="offer_default", size_type="base")
    OfferLike.objects.create(offer=offer, member=member)

    response = member_api.get(f"{BASE}/me/offers/{offer.id}")

    assert response.status_code == 200
    file = {
        "url": "https://cdn.example.com/a.jpg",
        "width": 600,
        "height": 800,
        "kind": "offer_default",
        "size_type": "base",
    }
    assert response.json() == {
        "offer": {
            "id": offer.id,
            "name": "Buy two shoes, get one jacket",
            "type": "REGULAR",
            "description": "Only today",
            "external_url": "https://example.com/foo",
            "usable_since": "2019-03-13T17:32:00.000Z",
            "usable_until": None,
            "collection_ids": [collection.id],
            "tags": ["2 + 1"],
            "stores": ["M&H"],
            "files": [file],
            "images": [file],
            "liked": True,
            "usage": {"usable": True, "max_uses": 10, "uses_left": 10, "active_until": None, "period": None},
            "usage_authorization_token_required": False,
            "extras": {"brand": "ACME"},
            "display": {
                **DEFAULT_DISPLAY,
                "read_more": {"button_title": "Button title", "url": None, "title": "Title", "text": "Text"},
                "activation_texts": {"modal": "Modal", "button": "Button", "description": None},
            },
        }
    }


def test_get_in_guest_context_shows_liked_false_and_anonymous_usage(api, club, member):
    offer = OfferFactory(club=club, name="Coffee", stock=5, periodic_timespan="day", periodic_limit=2)
    OfferLike.objects.create(offer=offer, member=member)

    response = api.get(f"{BASE}/guest/offers/{offer.id}")

    assert response.status_code == 200
    body = response.json()["offer"]
    assert body["liked"] is False
    assert body["usage"] == {
        "usable": True,
        "max_uses": None,
        "uses_left": 5,
        "active_until": None,
        "period": {"timespan": "DAY", "max_uses": 2, "uses_left": 2},
    }


def test_get_by_member_id_shows_an_exclusive_offer_not_granted_as_unusable(api, club, member):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, maximum_uses_per_user=2)

    response = api.get(f"{BASE}/{member.id}/offers/{offer.id}")

    assert response.status_code == 200
    assert response.json()["offer"]["usage"] == {
        "usable": False,
        "max_uses": 0,
        "uses_left": 0,
        "active_until": None,
        "period": None,
    }
    OfferGrant.objects.create(offer=offer, member=member)
    usage = api.get(f"{BASE}/{member.id}/offers/{offer.id}").json()["offer"]["usage"]
    assert usage == {"usable": True, "max_uses": 2, "uses_left": 2, "active_until": None, "period": None}


def test_get_makes_a_fixed_number_of_queries(member_api, club, member, django_assert_max_num_queries):
    offer = OfferFactory(club=club, tags=["a", "b"], stores=["s"], collections=[CollectionFactory(club=club)])
    OfferFileFactory(offer=offer)
    # Client token, club, access token; the member's figures; the content row; tags and stores; collections;
    # files (the three relation reads are one statement on PostgreSQL; a warm worker reads no content there:
    # tests/offers/test_content_cache.py).
    with django_assert_max_num_queries(8):
        assert member_api.get(f"{BASE}/me/offers/{offer.id}").status_code == 200


def test_get_answers_404_for_an_offer_outside_the_scope_or_not_live(member_api, club):
    parking = OfferFactory(club=club, scope="parking")
    draft = OfferFactory(club=club, status="draft")
    for offer, query in ((parking, ""), (draft, ""), (parking, "?scope=reward")):
        response = member_api.get(f"{BASE}/me/offers/{offer.id}{query}")
        assert (response.status_code, response.json()) == (404, {"error": f"Offer#{offer.id} not found"})
    assert member_api.get(f"{BASE}/me/offers/{parking.id}?scope=parking").status_code == 200
