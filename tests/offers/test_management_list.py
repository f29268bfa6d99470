"""GET offers (SPEC §5.4): every filter, sort_by / sort_direction, archived offers, paging and its query count."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from offers.models import OfferStatus, OfferType, Scope
from tests.factories import MemberGroupFactory
from tests.offers.factories import CollectionFactory, OfferFactory

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
URL = "/v3/infinity-mall/offers"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def listing(api):
    def _list(query=""):
        response = api.get(f"{URL}?{query}")
        assert response.status_code == 200, response.json()
        return [o["id"] for o in response.json()["offers"]]

    return _list


def test_the_list_answers_admin_offers_and_pagination_info(api, club, other_club):
    offer = OfferFactory(club=club, name="Alpha", status=OfferStatus.DRAFT, tags=["t"])
    OfferFactory(club=other_club, name="Not ours")

    response = api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert [o["id"] for o in body["offers"]] == [offer.id]
    assert body["offers"][0] == api.get(f"{URL}/{offer.id}").json()["offer"]
    assert body["pagination_info"] == {
        "total_count": 1,
        "per_page": 100,
        "total_pages": 1,
        "current_page": 1,
        "next_page": None,
        "prev_page": None,
        "is_first_page": True,
        "is_last_page": True,
        "is_out_of_range": False,
    }


def test_archived_offers_are_left_out_unless_asked_for(listing, club):
    live = OfferFactory(club=club, name="A live")
    archived = OfferFactory(club=club, name="B archived", archived_at=NOW)

    assert listing() == [live.id]
    assert listing("with_archived=true") == [live.id, archived.id]
    assert listing("only_archived=1") == [archived.id]


def test_each_filter_narrows_the_list(listing, club):
    c1, c2 = CollectionFactory(club=club), CollectionFactory(club=club)
    g1 = MemberGroupFactory(club=club)
    a = OfferFactory(
        club=club,
        name="Alpha shoes",
        scope=Scope.PARKING,
        type=OfferType.EXCLUSIVE,
        status=OfferStatus.DRAFT,
        collections=[c1],
        tags=["red"],
        stores=["M&H"],
        campaign_id=7,
        audience=g1,
        internal_name="spring sale",
    )
    b = OfferFactory(club=club, name="Bravo", description={"nb": "Sko i dag"}, collections=[c2], tags=["blue"])
    c = OfferFactory(club=club, name="Charlie", type=OfferType.BIRTHDAY, stores=["Zara"], campaign_id=8)

    assert listing("scope=PARKING") == [a.id]
    assert listing("scope=standard,parking") == [a.id, b.id, c.id]
    assert listing("types[]=exclusive&types[]=BIRTHDAY") == [a.id, c.id]
    assert listing("status=draft") == [a.id]
    assert listing(f"collection_ids={c1.id},{c2.id}") == [a.id, b.id]
    assert listing("tags=blue") == [b.id]
    assert listing("stores=Zara&stores=M%26H") == [a.id, c.id]
    assert listing("campaign_id=8") == [c.id]
    assert listing(f"audience_id={g1.id}") == [a.id]
    assert listing(f"ids={c.id}&ids={a.id}") == [a.id, c.id]
    assert listing("search=SKO") == [b.id]  # any language of the description
    assert listing("search=spring") == [a.id]  # internal name
    assert listing("search=zar") == [c.id]  # stores
    assert listing("without_collection=true") == [c.id]
    assert listing("without_tag=true") == [c.id]
    assert listing("without_store=true") == [b.id]
    assert listing("without_audience_id=true") == [b.id, c.id]
    assert listing("without_campaign_id=true") == [b.id]
    assert listing("without_tag=false") == [a.id, b.id, c.id]
    assert listing("tags=red&scope=standard") == []


def test_sort_by_each_attribute_in_both_directions_nulls_last_ascending(listing, club, clock):
    early = OfferFactory(club=club, name="b", usable_since=NOW - timedelta(days=2), visible_until=NOW)
    clock.shift(timedelta(seconds=1))
    late = OfferFactory(club=club, name="A", usable_since=NOW - timedelta(days=1))
    clock.shift(timedelta(seconds=1))
    never = OfferFactory(club=club, name="c", usable_since=None, archived_at=NOW)

    assert listing("with_archived=true") == [late.id, early.id, never.id]  # name, case-insensitive
    assert listing("with_archived=true&sort_direction=DESC") == [never.id, early.id, late.id]
    assert listing("with_archived=true&sort_by=usable_since") == [early.id, late.id, never.id]
    assert listing("with_archived=true&sort_by=usable_since&sort_direction=desc") == [never.id, late.id, early.id]
    assert listing("with_archived=true&sort_by=visible_until") == [early.id, late.id, never.id]
    assert listing("with_archived=true&sort_by=archived_at") == [never.id, early.id, late.id]
    assert listing("with_archived=true&sort_by=created_at&sort_direction=desc") == [never.id, late.id, early.id]


def test_name_sorts_by_the_requested_language(api, club):
    first_in_nb = OfferFactory(club=club, name={"en": "Zebra", "nb": "Antilope"})
    first_in_en = OfferFactory(club=club, name={"en": "Bear", "nb": "Bjørn"})

    def ids(**headers):
        return [o["id"] for o in api.get(URL, **headers).json()["offers"]]

    assert ids() == [first_in_en.id, first_in_nb.id]
    assert ids(HTTP_X_LOCALE="nb") == [first_in_nb.id, first_in_en.id]


def test_pages(api, club):
    offers = [OfferFactory(club=club, name=f"Offer {i}") for i in range(3)]

    body = api.get(f"{URL}?per_page=2&page_no=2").json()

    assert [o["id"] for o in body["offers"]] == [offers[2].id]
    assert (body["pagination_info"]["total_pages"], body["pagination_info"]["prev_page"]) == (2, 1)


@pytest.mark.parametrize(
    ("query", "details"),
    [
        (
            "per_page=101",
            {
                "per_page": [
                    {
                        "value": 101,
                        "error": "less_or_equal_to",
                        "options": {"number": 100},
                        "message": "must be less than or equal to 100",
                    }
                ]
            },
        ),
        (
            "sort_by=uses_left",
            {
                "sort_by": [
                    {
                        "value": "uses_left",
                        "error": "inclusion",
                        "options": {
                            "in": [
                                "name",
                                "usable_since",
                                "usable_until",
                                "visible_since",
                                "visible_until",
                                "created_at",
                                "updated_at",
                                "archived_at",
                            ]
                        },
                        "message": "must be one of: name, usable_since, usable_until, visible_since, visible_until, "
                        "created_at, updated_at, archived_at",
                    }
                ]
            },
        ),
        (
            "sort_direction=up",
            {
                "sort_direction": [
                    {
                        "value": "up",
                        "error": "inclusion",
                        "options": {"in": ["asc", "desc"]},
                        "message": "must be one of: asc, desc",
                    }
                ]
            },
        ),
        (
            "with_archived=maybe",
            {
                "with_archived": [
                    {"value": "maybe", "error": "not_a_boolean", "options": {}, "message": "must be a boolean"}
                ]
            },
        ),
    ],
)
def test_bad_queries_answer_the_422_tree(api, club, query, details):
    response = api.get(f"{URL}?{query}")

    assert (response.status_code, response.json()) == (422, {"error": "Invalid parameters", "details": details})


def test_bad_list_values_are_reported_by_index(api, club):
    response = api.get(f"{URL}?types=regular,nope&ids=1,abc")

    assert response.status_code == 422
    details = response.json()["details"]
    assert details["types"]["1"][0]["error"] == "inclusion"
    assert details["ids"]["1"][0]["error"] == "not_an_integer"


def test_a_page_costs_the_same_queries_whatever_its_size(api, club, django_assert_max_num_queries):
    collection = CollectionFactory(club=club)
    for i in range(30):
        OfferFactory(club=club, name=f"Offer {i}", tags=["a", "b"], stores=["s"], collections=[collection])

    # Token, club, count, page, then tags, stores, collections and files: one query each.
    with django_assert_max_num_queries(10):
        response = api.get(URL)

    assert len(response.json()["offers"]) == 30
