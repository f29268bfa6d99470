"""Offers management (SPEC §5): the admin offer JSON, batch create and full-replace update with per-item errors,
get, clone, archive / unarchive, delete — through the real URLs, headers and permits."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from offers.models import (
    Collection,
    CollectionOffer,
    Offer,
    OfferFile,
    OfferGrant,
    OfferStatus,
    OfferStore,
    OfferTag,
    OfferType,
)
from offers.services.use import offer_use
from tests.factories import LoyaltyClubFactory, MemberFactory, MemberGroupFactory
from tests.offers.conftest import BASE
from tests.offers.factories import CollectionFactory, OfferFactory

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
URL = "/v3/infinity-mall/offers"
NOW_JSON = "2030-05-01T12:00:00.000Z"

DEFAULT_SCHEMAS = {
    kind: {
        "header": {"type": "reference", "value": "$.name"},
        "body": {"type": "reference", "value": "$.description"},
        "caption": {"type": "reference", "value": "$.stores"},
    }
    for kind in ("list", "details")
}


def default_offer(offer_id: int, **changes) -> dict:
    """The admin JSON of an offer created with an empty payload (SPEC §5.1 defaults), then `changes`."""
    return {
        "id": offer_id,
        "scope": "standard",
        "type": "REGULAR",
        "status": "draft",
        "name": None,
        "description": None,
        "internal_name": None,
        "internal_description": None,
        "external_url": None,
        "read_more": None,
        "activation_texts": None,
        "usable_since": None,
        "usable_until": None,
        "visible_since": None,
        "visible_until": None,
        "collection_ids": [],
        "tags": [],
        "stores": [],
        "audience_id": None,
        "campaign_id": None,
        "files": [],
        "extras": {},
        "display_schemas": DEFAULT_SCHEMAS,
        "maximum_uses_per_user": None,
        "maximum_grants_per_user": None,
        "periodic_usage": None,
        "stock": None,
        "usage_authorization_token": None,
        "usage_authorization_token_required": False,
        "uses_count": 0,
        "grants_count": 0,
        "created_at": NOW_JSON,
        "updated_at": NOW_JSON,
        "archived_at": None,
        **changes,
    }


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def create(api):
    def _create(*items, client=None):
        return (client or api).post(URL, {"offers": list(items)}, format="json")

    return _create


@pytest.fixture
def replace(api):
    def _replace(*items, client=None):
        return (client or api).put(URL, {"offers": list(items)}, format="json")

    return _replace


def get_offer(api, offer_id) -> dict:
    response = api.get(f"{URL}/{offer_id}")
    assert response.status_code == 200, response.json()
    return response.json()["offer"]


def full_payload(club) -> dict:
    collection = CollectionFactory(club=club)
    group = MemberGroupFactory(club=club)
    return {
        "scope": "Parking",
        "type": "exclusive",
        "status": "published",
        "name": {"en": "Two for one", "nb": "To for en"},
        "description": "Only today",
        "internal_name": "2-for-1 May",
        "internal_description": "Campaign notes",
        "external_url": "https://example.com/offer",
        "read_more": {"button_title": "More", "url": "https://example.com", "title": "Title", "text": {"en": "T"}},
        "activation_texts": {"modal": "Show this", "button": "Activate", "description": "Desc"},
        "usable_since": "2030-05-01T00:00:00Z",
        "usable_until": "2030-06-01T00:00:00+02:00",
        "visible_since": "2030-04-01T00:00:00",
        "visible_until": None,
        "collection_ids": [collection.id],
        "tags": ["shoes", "2 + 1"],
        "stores": ["M&H"],
        "audience_id": group.id,
        "campaign_id": 77,
        "files": [{"url": "https://cdn.example.com/a.jpg", "width": 600, "height": 800}],
        "extras": {"brand": "ACME", "nested": [1, {"a": None}]},
        "display_schemas": {"list": {"caption": {"type": "inline", "value": "Today only"}}},
        "maximum_uses_per_user": 2,
        "maximum_grants_per_user": 3,
        "periodic_usage": {"timespan": "WEEK", "limit": 1},
        "stock": 100,
        "usage_authorization_token": "secret",
        "usage_authorization_token_required": True,
        # Read-only attributes are ignored.
        "uses_count": 50,
        "grants_count": 50,
        "archived_at": "2030-01-01T00:00:00Z",
        "id": 12345,
    }


def full_offer_json(offer_id, payload) -> dict:
    return default_offer(
        offer_id,
        scope="parking",
        type="EXCLUSIVE",
        status="published",
        name={"en": "Two for one", "nb": "To for en"},
        description="Only today",
        internal_name="2-for-1 May",
        internal_description="Campaign notes",
        external_url="https://example.com/offer",
        read_more={"button_title": "More", "url": "https://example.com", "title": "Title", "text": {"en": "T"}},
        activation_texts={"modal": "Show this", "button": "Activate", "description": "Desc"},
        usable_since="2030-05-01T00:00:00.000Z",
        usable_until="2030-05-31T22:00:00.000Z",
        visible_since="2030-04-01T00:00:00.000Z",  # a naive time is read in the club's time zone (UTC)
        collection_ids=payload["collection_ids"],
        tags=["shoes", "2 + 1"],
        stores=["M&H"],
        audience_id=payload["audience_id"],
        campaign_id=77,
        files=[
            {
                "url": "https://cdn.example.com/a.jpg",
                "width": 600,
                "height": 800,
                "kind": "offer_default",
                "size_type": "original",
            }
        ],
        extras={"brand": "ACME", "nested": [1, {"a": None}]},
        display_schemas={
            "list": {**DEFAULT_SCHEMAS["list"], "caption": {"type": "inline", "value": "Today only"}},
            "details": DEFAULT_SCHEMAS["details"],
        },
        maximum_uses_per_user=2,
        maximum_grants_per_user=3,
        periodic_usage={"timespan": "week", "limit": 1},
        stock=100,
        usage_authorization_token="secret",
        usage_authorization_token_required=True,
    )


# --- Create -----------------------------------------------------------------------------------------


def test_an_empty_payload_creates_a_draft_with_the_defaults(create, api, club):
    response = create({})

    assert response.status_code == 200
    offer = Offer.objects.get()
    assert response.json() == {"success": True, "ids": [offer.id], "errors": {}}
    assert get_offer(api, offer.id) == default_offer(offer.id)
    assert offer.club_id == club.id


def test_every_attribute_is_stored_and_shown_in_the_admin_shape(create, api, club):
    payload = full_payload(club)

    response = create(payload)

    offer_id = response.json()["ids"][0]
    assert response.json() == {"success": True, "ids": [offer_id], "errors": {}}
    assert get_offer(api, offer_id) == full_offer_json(offer_id, payload)
    # The member API filters on these tables: they follow the payload.
    assert sorted(OfferTag.objects.filter(offer_id=offer_id).values_list("value", flat=True)) == ["2 + 1", "shoes"]
    assert list(OfferStore.objects.filter(offer_id=offer_id).values_list("value", flat=True)) == ["M&H"]
    assert (
        list(CollectionOffer.objects.filter(offer_id=offer_id).values_list("collection_id", flat=True))
        == (payload["collection_ids"])
    )
    stored = Offer.objects.get(pk=offer_id)
    assert (stored.periodic_timespan, stored.periodic_limit, stored.uses_count, stored.archived_at) == (
        "week",
        1,
        0,
        None,
    )


def test_a_batch_of_three_with_an_invalid_second_item_creates_the_others_and_reports_index_1(create, club):
    collection = CollectionFactory(club=club)

    response = create(
        {"name": "First"},
        {"name": "Second", "collection_ids": [collection.id, collection.id]},
        {"name": "Third"},
    )

    assert response.status_code == 200
    first, third = Offer.objects.order_by("id")
    assert (first.name, third.name) == ("First", "Third")
    assert response.json() == {
        "success": True,
        "ids": [first.id, third.id],
        "errors": {"1": {"collection_ids": ["list must contain unique values"]}},
    }


def test_a_batch_where_every_item_fails_is_not_a_success(create, club):
    response = create({"stock": 0}, "not an object")

    assert response.status_code == 200
    assert response.json() == {
        "success": False,
        "ids": [],
        "errors": {"0": {"stock": ["must be greater than 0"]}, "1": {"base": ["must be an object"]}},
    }
    assert not Offer.objects.exists()


def test_rules_of_the_admin_offer_are_reported_per_field(create, club, other_club):
    foreign_collection = CollectionFactory(club=other_club)
    foreign_group = MemberGroupFactory(club=other_club)

    response = create(
        {
            "usable_since": "2030-06-01T00:00:00Z",
            "usable_until": "2030-06-01T00:00:00Z",
            "visible_since": "2030-06-02T00:00:00Z",
            "visible_until": "2030-06-01T00:00:00Z",
            "maximum_uses_per_user": 0,
            "maximum_grants_per_user": -1,
            "stock": 0,
            "periodic_usage": {"timespan": "day", "limit": 0},
            "tags": ["a", "a"],
            "stores": ["x", "x"],
            "collection_ids": [foreign_collection.id, 999],
            "audience_id": foreign_group.id,
        }
    )

    assert response.json()["errors"] == {
        "0": {
            "usable_until": ["must be after usable_since"],
            "visible_until": ["must be after visible_since"],
            "maximum_uses_per_user": ["must be greater than 0"],
            "maximum_grants_per_user": ["must be greater than 0"],
            "stock": ["must be greater than 0"],
            "periodic_usage.limit": ["must be greater than 0"],
            "tags": ["list must contain unique values"],
            "stores": ["list must contain unique values"],
            "collection_ids": [f"contains unknown collections: {foreign_collection.id}, 999"],
            "audience_id": ["is not a known members group"],
        }
    }
    assert not Offer.objects.exists()


def test_shapes_and_types_are_reported_with_nested_fields_flattened(create, club):
    response = create(
        {
            "scope": "galaxy",
            "type": "SPECIAL",
            "status": "PUBLISHED",
            "name": 5,
            "usable_since": "yesterday",
            "tags": "shoes",
            "stores": [""],
            "files": [{"url": "ftp://example.com/a.jpg"}, {"width": 5}],
            "extras": [],
            "display_schemas": {"list": {"header": {"type": "reference", "value": "$.nothing.here"}}},
            "periodic_usage": {"timespan": "fortnight"},
            "usage_authorization_token_required": "yes",
            "campaign_id": True,
            "read_more": {"title": ["x"]},
        }
    )

    assert response.json()["errors"] == {
        "0": {
            "scope": ["must be one of: standard, informational, parking, carbon_offset, reward"],
            "type": ["must be one of: REGULAR, EXCLUSIVE, BIRTHDAY, WELCOME"],
            "status": ["must be one of: draft, published"],
            "name": ["is in invalid format (string or {language: string} object)"],
            "usable_since": ["is not a valid ISO 8601 time"],
            "tags": ["must be an array"],
            "stores.0": ["must be filled"],
            "files.0.url": ["is in invalid format (http(s) URL)"],
            "files.1.url": ["is missing"],
            "extras": ["must be an object"],
            "display_schemas.list.header.value": ["is in invalid format (JSONPath)"],
            "periodic_usage.timespan": ["must be one of: minute, hour, day, week, month, year"],
            "periodic_usage.limit": ["is missing"],
            "usage_authorization_token_required": ["must be a boolean"],
            "campaign_id": ["must be an integer"],
            "read_more.title": ["is in invalid format (string or {language: string} object)"],
        }
    }


def test_text_postgresql_cannot_store_is_an_item_error_not_a_500(api, club):
    body = '{"offers": [{"extras": {"a\\u0000": "b"}}, {"name": {"en": "\\ud800"}}, {"tags": ["a\\u0000"]}]}'
    response = api.post(URL, body, content_type="application/json")

    assert response.status_code == 200
    unsafe = ["is in invalid format (text without NUL or surrogate characters)"]
    assert response.json()["errors"] == {"0": {"extras": unsafe}, "1": {"name": unsafe}, "2": {"tags.0": unsafe}}


def test_the_batch_envelope_is_checked_as_a_whole(api, club):
    too_many = api.post(URL, {"offers": [{}] * 101}, format="json")
    not_a_list = api.post(URL, {"offers": {"name": "x"}}, format="json")
    missing = api.post(URL, {}, format="json")

    assert too_many.status_code == 422
    assert too_many.json()["details"] == {
        "offers": [
            {
                "value": [{}] * 101,
                "error": "size_too_large",
                "options": {"number": 100},
                "message": "size cannot be greater than 100",
            }
        ]
    }
    assert not_a_list.json()["details"]["offers"][0]["error"] == "must_be_an_array"
    assert missing.json() == {
        "error": "Invalid parameters",
        "details": {"offers": [{"value": None, "error": "presence", "options": {}, "message": "is missing"}]},
    }
    assert not Offer.objects.exists()


# --- Update (PUT replaces the whole offer) ---------------------------------------------------------


def test_put_resets_every_attribute_left_out_to_its_default(create, replace, api, club):
    offer_id = create(full_payload(club)).json()["ids"][0]

    response = replace({"id": offer_id, "name": "Renamed"})

    assert response.status_code == 200
    assert response.json() == {"success": True, "errors": {}}
    assert get_offer(api, offer_id) == default_offer(offer_id, name="Renamed")
    assert not OfferTag.objects.exists()
    assert not OfferStore.objects.exists()
    assert not CollectionOffer.objects.exists()
    assert not OfferFile.objects.exists()


def test_put_replaces_lists_and_the_member_api_sees_it_at_once(create, replace, api, member_api, club):
    old, new = CollectionFactory(club=club), CollectionFactory(club=club)
    offer_id = create({"status": "published", "tags": ["old"], "collection_ids": [old.id]}).json()["ids"][0]

    replace({"id": offer_id, "status": "published", "tags": ["new", "newer"], "collection_ids": [new.id]})

    def member_ids(query):
        return [o["id"] for o in member_api.get(f"{BASE}/me/offers?{query}").json()["offers"]]

    assert member_ids("tags=old") == []
    assert member_ids("tags=newer") == [offer_id]
    assert member_ids(f"collection_ids={old.id}") == []
    assert member_ids(f"collection_ids={new.id}") == [offer_id]
    assert get_offer(api, offer_id)["tags"] == ["new", "newer"]


def test_put_reports_unknown_missing_and_foreign_ids_per_item(create, replace, club, other_club):
    foreign = OfferFactory(club=other_club, name="Theirs")
    offer_id = create({"name": "Mine"}).json()["ids"][0]

    response = replace(
        {"name": "no id"}, {"id": 999999, "name": "x"}, {"id": foreign.id}, {"id": offer_id, "name": "Ok"}
    )

    assert response.json() == {
        "success": True,
        "errors": {
            "0": {"id": ["is missing"]},
            "1": {"id": ["Offer#999999 not found"]},
            "2": {"id": [f"Offer#{foreign.id} not found"]},
        },
    }
    assert Offer.objects.get(pk=foreign.pk).name == "Theirs"
    assert Offer.objects.get(pk=offer_id).name == "Ok"


def test_the_type_is_fixed_and_the_stock_cannot_drop_below_the_uses_once_used(replace, api, club, member):
    offer = OfferFactory(club=club, type=OfferType.REGULAR, stock=10)
    for _ in range(3):
        offer_use(offer=Offer.objects.get(pk=offer.pk), member=MemberFactory(club=club))

    refused = replace({"id": offer.id, "type": "EXCLUSIVE", "stock": 2})
    accepted = replace({"id": offer.id, "type": "regular", "stock": 3, "name": "Still regular"})

    assert refused.json() == {
        "success": False,
        "errors": {
            "0": {
                "type": ["cannot be changed once the offer has been used"],
                "stock": ["must be greater than or equal to 3 (the uses so far)"],
            }
        },
    }
    assert accepted.json() == {"success": True, "errors": {}}
    stored = Offer.objects.get(pk=offer.pk)
    assert (stored.type, stored.stock, stored.uses_count, stored.name) == ("REGULAR", 3, 3, "Still regular")


def test_put_keeps_uploaded_files_a_client_echoes_back(replace, api, club):
    offer = OfferFactory(club=club)
    original = OfferFile.objects.create(offer=offer, file="offers/a.png", width=2000, height=1000)
    base = OfferFile.objects.create(
        offer=offer, file="offers/a-base.png", width=1080, height=540, size_type="base", source=original
    )
    files = get_offer(api, offer.id)["files"]

    response = replace({"id": offer.id, "files": [files[0], {"url": "https://cdn.example.com/new.jpg"}]})

    assert response.json() == {"success": True, "errors": {}}
    assert [f["url"] for f in get_offer(api, offer.id)["files"]] == [
        files[0]["url"],
        files[1]["url"],  # the size made from the kept original stays with it
        "https://cdn.example.com/new.jpg",
    ]
    assert set(OfferFile.objects.filter(offer=offer, url="").values_list("pk", flat=True)) == {original.pk, base.pk}


# --- Get ----------------------------------------------------------------------------------------------


def test_get_shows_drafts_and_archived_offers_but_not_other_clubs(api, club, other_club):
    archived = OfferFactory(club=club, status=OfferStatus.DRAFT, archived_at=NOW, name="Old")
    foreign = OfferFactory(club=other_club)

    assert get_offer(api, archived.id)["archived_at"] == NOW_JSON
    response = api.get(f"{URL}/{foreign.id}")
    assert (response.status_code, response.json()) == (404, {"error": f"Offer#{foreign.id} not found"})


# --- Clone --------------------------------------------------------------------------------------------


def test_clones_are_drafts_with_zero_counters_and_new_ids_in_request_order(create, api, club, member):
    source_id = create({**full_payload(club), "type": "REGULAR", "maximum_uses_per_user": 5}).json()["ids"][0]
    other = OfferFactory(club=club, name="Other", status=OfferStatus.PUBLISHED, archived_at=NOW)
    source = Offer.objects.get(pk=source_id)
    group_member = MemberFactory(club=club)
    source.audience.members.add(group_member)
    offer_use(offer=source, member=group_member, authorization_token="secret")

    response = api.post(f"{URL}/clone", {"ids": [other.id, source_id, other.id]}, format="json")

    assert response.status_code == 200
    new_ids = response.json()["ids"]
    assert new_ids == sorted(set(new_ids)) and len(new_ids) == 3 and new_ids[0] > max(source_id, other.id)
    expected = get_offer(api, source_id)
    assert expected["uses_count"] == 1
    assert get_offer(api, new_ids[1]) == {
        **expected,
        "id": new_ids[1],
        "status": "draft",
        "uses_count": 0,
        "grants_count": 0,
    }
    assert get_offer(api, new_ids[0]) == {
        **get_offer(api, other.id),
        "id": new_ids[0],
        "status": "draft",
        "archived_at": None,
    }
    assert not OfferGrant.objects.filter(offer_id__in=new_ids).exists()


def test_cloning_an_unknown_offer_clones_nothing(api, club):
    offer = OfferFactory(club=club)

    response = api.post(f"{URL}/clone", {"ids": [offer.id, 424242]}, format="json")

    assert (response.status_code, response.json()) == (404, {"error": "Offer#424242 not found"})
    assert Offer.objects.count() == 1


# --- Archive, unarchive ---------------------------------------------------------------------------


def test_archived_offers_are_invisible_to_members_and_cannot_be_used(api, member_api, club, clock):
    offer = OfferFactory(club=club, name="Shoes")
    assert [o["id"] for o in member_api.get(f"{BASE}/me/offers").json()["offers"]] == [offer.id]

    response = api.post(f"{URL}/archive", {"ids": [offer.id]}, format="json")

    assert (response.status_code, response.json()) == (200, {})
    assert Offer.objects.get(pk=offer.pk).archived_at == NOW
    assert member_api.get(f"{BASE}/me/offers").json()["offers"] == []
    assert member_api.get(f"{BASE}/me/offers/{offer.id}").status_code == 404
    use = member_api.post(f"{BASE}/me/offers/{offer.id}/use", {}, format="json")
    assert (use.status_code, use.json()) == (404, {"error": f"Offer#{offer.id} not found"})
    assert member_api.get(f"{BASE}/guest/offers").json()["offers"] == []

    clock.shift(timedelta(hours=1))
    api.post(f"{URL}/archive", {"ids": [offer.id]}, format="json")
    assert Offer.objects.get(pk=offer.pk).archived_at == NOW  # archiving again keeps the date

    assert api.post(f"{URL}/unarchive", {"ids": [offer.id]}, format="json").json() == {}
    assert Offer.objects.get(pk=offer.pk).archived_at is None
    assert member_api.post(f"{BASE}/me/offers/{offer.id}/use", {}, format="json").status_code == 200


def test_draft_offers_are_invisible_to_members_until_published(create, replace, member_api, club):
    offer_id = create({"name": "Soon"}).json()["ids"][0]
    assert member_api.get(f"{BASE}/me/offers/{offer_id}").status_code == 404

    replace({"id": offer_id, "name": "Now", "status": "published"})

    assert member_api.get(f"{BASE}/me/offers/{offer_id}").json()["offer"]["name"] == "Now"


# --- Delete -------------------------------------------------------------------------------------------


def test_delete_removes_unused_offers_and_archives_used_ones(api, club, member):
    unused = OfferFactory(club=club, tags=["t"])
    used = OfferFactory(club=club)
    collection = CollectionFactory(club=club, offers_order=[used.id, unused.id])
    CollectionOffer.objects.create(collection=collection, offer=unused)
    offer_use(offer=Offer.objects.get(pk=used.pk), member=member)

    response = api.delete(URL, {"ids": [unused.id, used.id]}, format="json")

    assert (response.status_code, response.json()) == (200, {})
    assert not Offer.objects.filter(pk=unused.pk).exists()
    assert not OfferTag.objects.exists()
    kept = Offer.objects.get(pk=used.pk)
    assert (kept.archived_at, kept.uses_count) == (NOW, 1)
    assert Collection.objects.get(pk=collection.pk).offers_order == [used.id]


def test_delete_with_an_unknown_id_deletes_nothing(api, club, other_club):
    mine = OfferFactory(club=club)
    theirs = OfferFactory(club=other_club)

    response = api.delete(URL, {"ids": [mine.id, theirs.id]}, format="json")

    assert (response.status_code, response.json()) == (404, {"error": f"Offer#{theirs.id} not found"})
    assert Offer.objects.count() == 2


@pytest.mark.parametrize("path", ["clone", "archive", "unarchive"])
def test_id_lists_are_checked(api, club, path):
    response = api.post(f"{URL}/{path}", {"ids": [1, "x", 0]}, format="json")

    assert response.status_code == 422
    assert response.json()["details"] == {
        "ids": {
            "1": [{"value": "x", "error": "not_an_integer", "options": {}, "message": "must be an integer"}],
            "2": [
                {
                    "value": 0,
                    "error": "greater_or_equal_to",
                    "options": {"number": 1},
                    "message": "must be greater than or equal to 1",
                }
            ],
        }
    }


# --- Permits, feature, clubs -------------------------------------------------------------------------

ENDPOINTS = [
    ("get", URL, "Offers:Api:Offers:List"),
    ("post", URL, "Offers:Api:Offers:Create"),
    ("put", URL, "Offers:Api:Offers:Update"),
    ("delete", URL, "Offers:Api:Offers:Destroy"),
    ("get", f"{URL}/1", "Offers:Api:Offers:Get"),
    ("post", f"{URL}/clone", "Offers:Api:Offers:Clone"),
    ("post", f"{URL}/archive", "Offers:Api:Offers:Archive"),
    ("post", f"{URL}/unarchive", "Offers:Api:Offers:Archive"),
    ("post", f"{URL}/grant", "Offers:Api:Offers:Grant"),
    ("get", f"{URL}/collections", "Offers:Api:Collections:List"),
    ("post", f"{URL}/collections", "Offers:Api:Collections:Create"),
    ("get", f"{URL}/collections/1", "Offers:Api:Collections:Get"),
    ("put", f"{URL}/collections/1", "Offers:Api:Collections:Update"),
    ("delete", f"{URL}/collections/1", "Offers:Api:Collections:Destroy"),
]


@pytest.mark.parametrize(("method", "url", "permit"), ENDPOINTS)
def test_each_endpoint_needs_its_permit(client_with, club, method, url, permit):
    others = [p for _, _, p in ENDPOINTS if p != permit]

    response = getattr(client_with(*others), method)(url, {}, format="json")

    assert (response.status_code, response.json()) == (403, {"error": f"Missing permit: {permit}"})


@pytest.mark.parametrize(("method", "url", "permit"), ENDPOINTS)
def test_each_endpoint_answers_402_when_offers_are_disabled(api, club, method, url, permit):
    club.offers_enabled = False
    club.save(update_fields=["offers_enabled"])

    response = getattr(api, method)(url, {}, format="json")

    assert (response.status_code, response.json()) == (402, {"error": "Offers are not enabled for the Loyalty Club"})


def test_the_permit_alone_is_enough(client_with, club):
    client = client_with("Offers:Api:Offers:Create")

    response = client.post(URL, {"offers": [{"name": "x"}]}, format="json")

    assert response.status_code == 200
    assert response.json()["success"] is True


def test_offers_are_created_in_the_club_of_the_path(issue_token, club):
    from tests.conftest import make_client

    other = LoyaltyClubFactory(slug="second-mall")
    client = make_client(issue_token(policies=["FullAccess"], clubs=[club, other]))

    response = client.post("/v3/second-mall/offers", {"offers": [{"name": "There"}]}, format="json")

    assert Offer.objects.get(pk=response.json()["ids"][0]).club_id == other.id
    assert client.get(f"{URL}/{response.json()['ids'][0]}").status_code == 404


# --- No input is a 500 ------------------------------------------------------------------------------

ODD_ITEMS = [
    None,
    [],
    {"files": [1]},
    {"read_more": {"title": {"en": 5}}},
    {"periodic_usage": []},
    {"display_schemas": {"list": {"header": {"type": "reference", "value": "$["}}}},
    {"usable_since": "0001-01-01T00:00:00+14:00"},
    {"usable_until": "9999-12-31T23:59:59-14:00"},
    {"campaign_id": 2**63},
    {"stock": 1e20},
    {"audience_id": 2**64},
    {"type": None, "scope": 5, "status": []},
    {"name": {"": "x"}},
    {"tags": [None]},
]


@pytest.mark.parametrize("method", ["post", "put"])
def test_odd_items_are_item_errors_never_a_500(api, club, method):
    response = getattr(api, method)(URL, {"offers": ODD_ITEMS}, format="json")

    assert response.status_code == 200
    assert sorted(response.json()["errors"], key=int) == [str(i) for i in range(len(ODD_ITEMS))]
    assert not Offer.objects.exists()


def test_instants_outside_the_utc_calendar_are_invalid_times(create, club):
    response = create({"usable_since": "0001-01-01T00:00:00+14:00"})

    assert response.json()["errors"] == {"0": {"usable_since": ["is not a valid ISO 8601 time"]}}


def test_any_offset_python_accepts_is_stored_as_its_utc_instant(create, api, club):
    offer_id = create({"usable_since": "2030-05-01T12:00:00+17:49"}).json()["ids"][0]

    assert get_offer(api, offer_id)["usable_since"] == "2030-04-30T18:11:00.000Z"


def test_an_impossible_date_is_an_invalid_time(create, club):
    response = create({"visible_until": "2030-02-30T00:00:00Z"})

    assert response.json()["errors"] == {"0": {"visible_until": ["is not a valid ISO 8601 time"]}}
