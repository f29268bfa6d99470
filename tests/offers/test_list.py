"""GET {ctx}/offers (SPEC §4.4): visibility per context, filters, order_by, pagination, query count."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from offers.models import (
    CollectionOffer,
    Offer,
    OfferGrant,
    OfferLike,
    OfferStore,
    OfferTag,
    OfferType,
    OfferUsage,
    Scope,
)
from offers.services.use import offer_use
from tests.factories import MemberGroupFactory
from tests.offers.conftest import BASE
from tests.offers.factories import CollectionFactory, OfferFactory, OfferFileFactory

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def listing(ctx_client):
    """listing(ctx, query="") -> response of GET {ctx}/offers?query."""

    def _list(ctx="me", query="", **headers):
        client, prefix = ctx_client(ctx)
        return client.get(f"{prefix}/offers?{query}", **headers)

    return _list


def ids(response):
    assert response.status_code == 200, response.json()
    return [o["id"] for o in response.json()["offers"]]


# --- Whole bodies -----------------------------------------------------------------------------------


def test_the_list_answers_offers_and_optional_pagination_info(listing, club, member):
    b = OfferFactory(club=club, name="Bravo", tags=["t"], stores=["s"])
    a = OfferFactory(club=club, name="Alpha", maximum_uses_per_user=1)

    response = listing("me", "include_pagination_info=true")

    assert response.status_code == 200
    body = response.json()
    assert [o["id"] for o in body["offers"]] == [a.id, b.id]
    assert body["offers"][1] == {
        "id": b.id,
        "name": "Bravo",
        "type": "REGULAR",
        "description": None,
        "external_url": None,
        "usable_since": None,
        "usable_until": None,
        "collection_ids": [],
        "tags": ["t"],
        "stores": ["s"],
        "files": [],
        "images": [],
        "liked": False,
        "usage": {"usable": True, "max_uses": None, "uses_left": None, "active_until": None, "period": None},
        "usage_authorization_token_required": False,
        "extras": {},
        "display": {
            "schemas": {
                kind: {
                    "header": {"type": "reference", "value": "$.name"},
                    "body": {"type": "reference", "value": "$.description"},
                    "caption": {"type": "reference", "value": "$.stores"},
                }
                for kind in ("list", "details")
            },
            "read_more": {"button_title": None, "url": None, "title": None, "text": None},
            "activation_texts": {"modal": None, "button": None, "description": None},
        },
    }
    assert body["pagination_info"] == {
        "total_count": 2,
        "per_page": 100,
        "total_pages": 1,
        "current_page": 1,
        "next_page": None,
        "prev_page": None,
        "is_first_page": True,
        "is_last_page": True,
        "is_out_of_range": False,
    }
    assert "pagination_info" not in listing("me").json()


def test_the_list_body_is_the_same_as_the_get_body(listing, member_api, club, member):
    collection = CollectionFactory(club=club)
    offer = OfferFactory(
        club=club,
        type=OfferType.EXCLUSIVE,
        maximum_uses_per_user=2,
        stock=7,
        periodic_timespan="day",
        periodic_limit=1,
        tags=["x", "a"],
        collections=[collection],
        display_schemas={"details": {"body": {"type": "inline", "value": "Hi"}}},
    )
    OfferFileFactory(offer=offer)
    OfferGrant.objects.create(offer=offer, member=member)
    OfferLike.objects.create(offer=offer, member=member)
    offer_use(offer=offer, member=member)

    listed = listing("me").json()["offers"]
    shown = member_api.get(f"{BASE}/me/offers/{offer.id}").json()["offer"]

    assert listed == [shown]
    assert shown["tags"] == ["a", "x"]
    assert shown["display"]["schemas"]["details"]["body"] == {"type": "inline", "value": "Hi"}
    assert shown["usage"] == {
        "usable": False,
        "max_uses": 2,
        "uses_left": 1,
        "active_until": "2030-05-01T12:00:30.000Z",
        "period": {"timespan": "DAY", "max_uses": 1, "uses_left": 0},
    }


# --- Visibility -----------------------------------------------------------------------------------


def test_only_live_offers_of_the_club_and_scope_are_listed(listing, club, other_club):
    live = OfferFactory(club=club)
    OfferFactory(club=club, status="draft")
    OfferFactory(club=club, archived_at=NOW)
    OfferFactory(club=club, visible_since=NOW + timedelta(seconds=1))
    OfferFactory(club=club, visible_until=NOW)
    parking = OfferFactory(club=club, scope=Scope.PARKING)
    OfferFactory(club=other_club)
    window = OfferFactory(club=club, visible_since=NOW - timedelta(days=1), visible_until=NOW + timedelta(days=1))

    assert ids(listing("me")) == [live.id, window.id]
    assert ids(listing("me", "scope=parking")) == [parking.id]


def test_audience_offers_are_listed_only_to_members_of_the_audience(listing, club, member):
    group = MemberGroupFactory(club=club)
    offer = OfferFactory(club=club, audience=group)

    assert ids(listing("me")) == []
    group.members.add(member)
    assert ids(listing("me")) == [offer.id]
    assert ids(listing("id")) == [offer.id]
    assert ids(listing("guest")) == []


def test_grant_requiring_offers_are_listed_while_a_grant_is_active(listing, club, member):
    offer = OfferFactory(club=club, type=OfferType.BIRTHDAY)
    assert ids(listing("me")) == []

    grant = OfferGrant.objects.create(offer=offer, member=member, usable_until=NOW + timedelta(hours=1))
    assert ids(listing("me")) == [offer.id]
    assert ids(listing("guest")) == []
    OfferGrant.objects.filter(pk=grant.pk).update(usable_until=NOW)
    assert ids(listing("me")) == []


def test_guests_see_offers_without_audience_or_grant_with_anonymous_usage(listing, club, member):
    offer = OfferFactory(club=club, maximum_uses_per_user=2, stock=5)
    OfferLike.objects.create(offer=offer, member=member)
    offer_use(offer=offer, member=member)

    [shown] = listing("guest").json()["offers"]

    assert shown["liked"] is False
    assert shown["usage"] == {"usable": True, "max_uses": 2, "uses_left": 2, "active_until": None, "period": None}


# --- Filters ---------------------------------------------------------------------------------------


def test_filters_by_collections_tags_stores_ids_type_and_campaign(listing, club):
    c1, c2, c3 = CollectionFactory(club=club), CollectionFactory(club=club), CollectionFactory(club=club)
    o1 = OfferFactory(club=club, name="a", collections=[c1], tags=["food"], stores=["Deli"], campaign_id=7)
    o2 = OfferFactory(club=club, name="b", collections=[c2], tags=["shoes"], stores=["Shoe Inc"], campaign_id=8)
    o3 = OfferFactory(club=club, name="c", collections=[c3], tags=["food", "shoes"], type=OfferType.REGULAR)

    assert ids(listing("me", f"collection_ids[]={c1.id}&collection_ids[]={c2.id}")) == [o1.id, o2.id]
    assert ids(listing("me", f"collection_ids={c3.id},{c2.id}")) == [o2.id, o3.id]
    assert ids(listing("me", "tags=food")) == [o1.id, o3.id]
    assert ids(listing("me", "tags=shoes&tags=nothing")) == [o2.id, o3.id]
    assert ids(listing("me", "stores[]=Deli&stores[]=Shoe%20Inc")) == [o1.id, o2.id]
    assert ids(listing("me", f"ids={o3.id},{o1.id}")) == [o1.id, o3.id]
    assert ids(listing("me", "type=regular")) == [o1.id, o2.id, o3.id]
    assert ids(listing("me", "type=EXCLUSIVE")) == []
    assert ids(listing("me", "campaign_id=8,9")) == [o2.id]
    assert ids(listing("me", "tags=food&stores=Deli")) == [o1.id]


def test_search_matches_name_in_any_language_description_tags_and_stores_ignoring_case(listing, club):
    by_name = OfferFactory(club=club, name={"en": "Summer sale", "nb": "Sommersalg"})
    by_description = OfferFactory(club=club, name="x1", description="Great SOMMER deals")
    by_tag = OfferFactory(club=club, name="x2", tags=["sommer"])
    by_store = OfferFactory(club=club, name="x3", stores=["Sommerhuset"])
    OfferFactory(club=club, name="Winter", description={"en": "cold"})

    assert sorted(ids(listing("me", "search=sommer"))) == sorted(
        [by_name.id, by_description.id, by_tag.id, by_store.id]
    )
    assert ids(listing("me", "search=EN")) == []  # language keys are not searched


def test_usable_true_lists_only_usable_offers(listing, club, member):
    usable = OfferFactory(club=club, name="a")
    OfferFactory(club=club, name="b", usable_until=NOW)
    used_up = OfferFactory(club=club, name="c", maximum_uses_per_user=1)
    OfferFactory(club=club, name="d", stock=0)
    OfferFactory(club=club, name="e", scope=Scope.STANDARD, usable_since=NOW + timedelta(days=1))
    offer_use(offer=used_up, member=member)

    assert ids(listing("me", "usable=true")) == [usable.id]
    assert len(ids(listing("me", "usable=false"))) == 5
    assert ids(listing("guest", "usable=1")) == [usable.id, used_up.id]


def test_liked_true_lists_only_liked_offers(listing, club, member):
    liked = OfferFactory(club=club)
    OfferFactory(club=club)
    OfferLike.objects.create(offer=liked, member=member)

    assert ids(listing("me", "liked=true")) == [liked.id]
    assert ids(listing("id", "liked=1")) == [liked.id]
    assert ids(listing("guest", "liked=true")) == []


# --- order_by ---------------------------------------------------------------------------------------


def test_the_default_order_is_by_name_in_the_request_language_then_id(listing, club, member):
    b = OfferFactory(club=club, name={"en": "Banana", "nb": "Appelsin"})
    a = OfferFactory(club=club, name={"en": "apple", "nb": "Eple"})
    tie = OfferFactory(club=club, name="Apple")
    unnamed = OfferFactory(club=club, name=None)

    assert ids(listing("me")) == [a.id, tie.id, b.id, unnamed.id]
    assert ids(listing("me", "", HTTP_X_LOCALE="nb")) == [b.id, tie.id, a.id, unnamed.id]
    member.language = "nb"
    member.save(update_fields=["language"])
    assert ids(listing("me")) == [b.id, tie.id, a.id, unnamed.id]
    assert ids(listing("me", "order_by=name DESC")) == [unnamed.id, a.id, tie.id, b.id]


def test_a_name_missing_in_every_wanted_language_falls_back_to_any_language(listing, member_api, club):
    offer = OfferFactory(club=club, name={"sv": "Rabatt", "de": "Angebot"})
    assert member_api.get(f"{BASE}/me/offers/{offer.id}").json()["offer"]["name"] == "Angebot"
    other = OfferFactory(club=club, name="Apfel")
    assert ids(listing("me")) == [offer.id, other.id]  # sorted as "Angebot"


def test_order_by_several_terms_with_directions(listing, club, clock):
    first = OfferFactory(club=club, name="same", usable_since=NOW - timedelta(days=2))
    clock.shift(timedelta(seconds=1))
    second = OfferFactory(club=club, name="same", usable_since=NOW - timedelta(days=1))
    clock.shift(timedelta(seconds=1))
    open_start = OfferFactory(club=club, name="other")

    assert ids(listing("me", "order_by=created_at DESC")) == [open_start.id, second.id, first.id]
    assert ids(listing("me", "order_by=usable_since asc")) == [first.id, second.id, open_start.id]
    assert ids(listing("me", "order_by=usable_since DESC")) == [open_start.id, second.id, first.id]
    assert ids(listing("me", "order_by=name DESC, created_at DESC")) == [second.id, first.id, open_start.id]
    assert ids(listing("me", "order_by=usable_until")) == [first.id, second.id, open_start.id]  # all null: by id


def test_order_by_usable_uses_left_and_liked_run_in_member_contexts(listing, club, member):
    unusable = OfferFactory(club=club, name="a", stock=0)
    unlimited = OfferFactory(club=club, name="b")
    three = OfferFactory(club=club, name="c", maximum_uses_per_user=3)
    one = OfferFactory(club=club, name="d", stock=1)
    OfferLike.objects.create(offer=three, member=member)

    assert ids(listing("me", "order_by=usable DESC")) == [unlimited.id, three.id, one.id, unusable.id]
    assert ids(listing("me", "order_by=usable ASC, name DESC")) == [unusable.id, one.id, three.id, unlimited.id]
    assert ids(listing("me", "order_by=uses_left")) == [unusable.id, one.id, three.id, unlimited.id]
    assert ids(listing("me", "order_by=uses_left DESC")) == [unlimited.id, three.id, one.id, unusable.id]
    assert ids(listing("id", "order_by=liked DESC")) == [three.id, unusable.id, unlimited.id, one.id]


def test_order_by_collection_position_needs_exactly_one_collection(listing, club):
    collection = CollectionFactory(club=club)
    o1, o2, o3 = (OfferFactory(club=club, name=n, collections=[collection]) for n in ("a", "b", "c"))
    collection.offers_order = [o3.id, 999999, o1.id]
    collection.save(update_fields=["offers_order"])

    query = f"collection_ids={collection.id}&order_by=collection_position"
    assert ids(listing("me", query)) == [o3.id, o1.id, o2.id]  # offers missing from the order go last
    assert ids(listing("guest", query + " DESC")) == [o2.id, o1.id, o3.id]

    other = CollectionFactory(club=club)
    response = listing("me", f"collection_ids={collection.id},{other.id}&order_by=collection_position")
    assert response.status_code == 422
    assert response.json()["details"]["order_by"][0]["error"] == "inclusion"


@pytest.mark.parametrize("order_by", ["price", "name SIDEWAYS", "name ASC DESC", "name,", "collection_position"])
def test_an_unknown_order_by_answers_422_inclusion(listing, club, order_by):
    response = listing("me", f"order_by={order_by}")
    assert (response.status_code, response.json()) == (
        422,
        {
            "error": "Invalid parameters",
            "details": {
                "order_by": [
                    {
                        "value": order_by,
                        "error": "inclusion",
                        "options": {
                            "in": ["name", "usable_since", "usable_until", "created_at", "usable", "uses_left", "liked"]
                        },
                        "message": "must be one of: name, usable_since, usable_until, created_at, usable, "
                        "uses_left, liked",
                    }
                ]
            },
        },
    )


@pytest.mark.parametrize("attribute", ["usable", "uses_left", "liked"])
def test_member_only_order_attributes_are_refused_for_guests(listing, club, attribute):
    response = listing("guest", f"order_by={attribute}")
    assert response.status_code == 422
    assert response.json()["details"]["order_by"][0]["options"] == {
        "in": ["name", "usable_since", "usable_until", "created_at"]
    }


# --- Parameters and pagination -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "key", "leaf"),
    [
        (
            "scope=vip",
            "scope",
            {
                "value": "vip",
                "error": "inclusion",
                "options": {"in": ["standard", "informational", "parking", "carbon_offset", "reward"]},
                "message": "must be one of: standard, informational, parking, carbon_offset, reward",
            },
        ),
        (
            "type=gift",
            "type",
            {
                "value": "gift",
                "error": "inclusion",
                "options": {"in": ["REGULAR", "EXCLUSIVE", "BIRTHDAY", "WELCOME"]},
                "message": "must be one of: REGULAR, EXCLUSIVE, BIRTHDAY, WELCOME",
            },
        ),
        (
            "per_page=101",
            "per_page",
            {
                "value": 101,
                "error": "less_or_equal_to",
                "options": {"number": 100},
                "message": "must be less than or equal to 100",
            },
        ),
        (
            "page_no=0",
            "page_no",
            {
                "value": 0,
                "error": "greater_or_equal_to",
                "options": {"number": 1},
                "message": "must be greater than or equal to 1",
            },
        ),
        (
            "usable=yes",
            "usable",
            {"value": "yes", "error": "not_a_boolean", "options": {}, "message": "must be a boolean"},
        ),
    ],
)
def test_invalid_query_parameters_answer_the_422_tree(listing, club, query, key, leaf):
    response = listing("me", query)
    assert (response.status_code, response.json()) == (
        422,
        {"error": "Invalid parameters", "details": {key: [leaf]}},
    )


def test_an_invalid_list_element_is_reported_by_index(listing, club):
    response = listing("me", "ids[]=1&ids[]=x")
    assert response.status_code == 422
    assert response.json()["details"] == {
        "ids": {"1": [{"value": "x", "error": "not_an_integer", "options": {}, "message": "must be an integer"}]}
    }


def test_ids_beyond_64_bits_are_refused_before_reaching_sql(listing, club):
    response = listing("me", f"ids[]={2**63}&collection_ids[]={2**64}&campaign_id[]={-(2**64)}")
    assert response.status_code == 422
    details = response.json()["details"]
    assert {key: (leaves["0"][0]["error"], leaves["0"][0]["options"]) for key, leaves in details.items()} == {
        "ids": ("less_or_equal_to", {"number": 2**63 - 1}),
        "collection_ids": ("less_or_equal_to", {"number": 2**63 - 1}),
        "campaign_id": ("greater_or_equal_to", {"number": -(2**63)}),
    }


@pytest.mark.parametrize("locale", ['nb"); DROP TABLE x; --', "a\\b", "x" * 300, "nb-NO;q=0.9, en", ""])
def test_odd_locales_fall_back_without_errors(listing, club, locale):
    offer = OfferFactory(club=club, name={"en": "Shoes", "nb": "Sko"})
    response = listing("me", "", HTTP_X_LOCALE=locale)
    assert ids(response) == [offer.id]
    assert response.json()["offers"][0]["name"] == ("Sko" if locale.startswith("nb-NO") else "Shoes")


def test_pages_split_the_ordered_list(listing, club):
    offers = [OfferFactory(club=club, name=f"o{i}") for i in range(5)]

    page = listing("me", "per_page=2&page_no=3&include_pagination_info=1").json()

    assert [o["id"] for o in page["offers"]] == [offers[4].id]
    assert page["pagination_info"] == {
        "total_count": 5,
        "per_page": 2,
        "total_pages": 3,
        "current_page": 3,
        "next_page": None,
        "prev_page": 2,
        "is_first_page": False,
        "is_last_page": True,
        "is_out_of_range": False,
    }
    beyond = listing("me", "per_page=2&page_no=9&include_pagination_info=true").json()
    assert beyond["offers"] == []
    assert beyond["pagination_info"]["is_out_of_range"] is True
    assert ids(listing("me", "per_page=2&page_no=2")) == [offers[2].id, offers[3].id]


# --- Query count -------------------------------------------------------------------------------------


@pytest.fixture
def thousand_offers(club, member):
    """1 000 published offers for `member`: some exclusive and granted, some liked, some used, each with
    tags, stores, a collection and a file."""
    collection = CollectionFactory(club=club)
    offers = Offer.objects.bulk_create(
        [
            Offer(
                club=club,
                status="published",
                name={"en": f"Offer {i:04d}", "nb": f"Tilbud {i:04d}"},
                type=OfferType.EXCLUSIVE if i % 10 == 0 else OfferType.REGULAR,
                maximum_uses_per_user=5 if i % 3 == 0 else None,
                stock=100 if i % 4 == 0 else None,
                periodic_timespan="day" if i % 5 == 0 else None,
                periodic_limit=2 if i % 5 == 0 else None,
            )
            for i in range(1000)
        ]
    )
    OfferTag.objects.bulk_create([OfferTag(offer=o, value=f"tag{o.id % 7}") for o in offers])
    OfferStore.objects.bulk_create([OfferStore(offer=o, value=f"store{o.id % 5}") for o in offers])
    CollectionOffer.objects.bulk_create([CollectionOffer(offer=o, collection=collection) for o in offers])
    OfferFileFactory._meta.model.objects.bulk_create(
        [OfferFileFactory.build(offer=o, url=f"https://cdn.example.com/{o.id}.jpg") for o in offers]
    )
    OfferGrant.objects.bulk_create([OfferGrant(offer=o, member=member) for o in offers if o.type != "REGULAR"])
    OfferLike.objects.bulk_create([OfferLike(offer=o, member=member) for o in offers[::7]])
    OfferUsage.objects.bulk_create([OfferUsage(offer=o, member=member, used_at=NOW) for o in offers[::11]])
    return offers


@pytest.mark.parametrize("per_page", [10, 100])
def test_the_list_makes_a_fixed_number_of_queries_whatever_the_page_size(
    listing, thousand_offers, django_assert_max_num_queries, per_page
):
    query = f"per_page={per_page}&include_pagination_info=true&order_by=usable DESC, uses_left&usable=false"
    # Client token, club, access token; COUNT; the page's ids; the member's figures; the content rows; tags and
    # stores; collections; files (the relations are one statement on PostgreSQL, where a warm worker reads no
    # content at all: tests/offers/test_content_cache.py).
    with django_assert_max_num_queries(10):
        response = listing("me", query)
    body = response.json()
    assert len(body["offers"]) == per_page
    assert body["pagination_info"]["total_count"] == 1000
    assert all(o["tags"] and o["stores"] and o["collection_ids"] and o["files"] for o in body["offers"])


def test_the_guest_list_makes_a_fixed_number_of_queries(listing, thousand_offers, django_assert_max_num_queries):
    # Client token, club; the page's ids; the figures; the content rows; tags and stores; collections; files.
    with django_assert_max_num_queries(8):
        response = listing("guest", "per_page=100")
    assert len(response.json()["offers"]) == 100
