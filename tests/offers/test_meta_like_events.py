"""Meta (SPEC §4.7), like / unlike and offer events (§4.10)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from offers.models import OfferEvent, OfferGrant, OfferLike, OfferType, Scope
from tests.factories import MemberGroupFactory
from tests.offers.conftest import BASE
from tests.offers.factories import CollectionFactory, OfferFactory, OfferFileFactory

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


# --- Meta ------------------------------------------------------------------------------------------


def test_meta_lists_the_distinct_sorted_tags_stores_and_collections_of_listable_offers(ctx_client, club, member):
    club.activated_seconds_time = 35
    club.save(update_fields=["activated_seconds_time"])
    summer = CollectionFactory(
        club=club,
        title={"en": "Summer", "nb": "Sommer"},
        short_description="Sun",
        description="Hot deals",
        offers_order=[3, 1, 2],
    )
    winter = CollectionFactory(club=club, title="Winter")
    hidden = CollectionFactory(club=club, title="Hidden")
    OfferFileFactory(
        collection=summer,
        url="https://cdn.example.com/c.jpg",
        width=600,
        height=300,
        kind="collection_cover_default",
        size_type="original",
    )
    OfferFactory(club=club, tags=["great deal", "-50%"], stores=["M&H"], collections=[winter, summer])
    OfferFactory(club=club, tags=["-50%", "2 + 1"], stores=["Doo Doo", "M&H"])
    OfferFactory(club=club, tags=["draft"], status="draft", collections=[hidden])
    exclusive = OfferFactory(club=club, type=OfferType.EXCLUSIVE, tags=["vip"], stores=["Gold"])
    OfferGrant.objects.create(offer=exclusive, member=member)
    OfferFactory(club=club, scope=Scope.PARKING, tags=["parking"])

    client, prefix = ctx_client("me")
    response = client.get(f"{prefix}/offers/meta")

    assert response.status_code == 200
    assert response.json() == {
        "tags": ["-50%", "2 + 1", "great deal", "vip"],
        "stores": ["Doo Doo", "Gold", "M&H"],
        "collections": [
            {
                "id": summer.id,
                "title": "Summer",
                "short_title": "Sun",
                "description": "Hot deals",
                "short_description": "Sun",
                "offers_order": [3, 1, 2],
                "files": [
                    {
                        "url": "https://cdn.example.com/c.jpg",
                        "width": 600,
                        "height": 300,
                        "kind": "collection_cover_default",
                        "size_type": "original",
                    }
                ],
            },
            {
                "id": winter.id,
                "title": "Winter",
                "short_title": None,
                "description": None,
                "short_description": None,
                "offers_order": [],
                "files": [],
            },
        ],
        "activated_seconds_time": 35,
    }
    guest_client, guest_prefix = ctx_client("guest")
    guest = guest_client.get(f"{guest_prefix}/offers/meta").json()
    assert guest["tags"] == ["-50%", "2 + 1", "great deal"]
    assert guest_client.get(f"{guest_prefix}/offers/meta?scope=parking").json()["tags"] == ["parking"]
    id_client, id_prefix = ctx_client("id")
    assert id_client.get(f"{id_prefix}/offers/meta", HTTP_X_LOCALE="nb").json()["collections"][0]["title"] == "Sommer"


def test_meta_of_a_club_without_offers_is_empty(ctx_client, club):
    client, prefix = ctx_client("guest")
    assert client.get(f"{prefix}/offers/meta").json() == {
        "tags": [],
        "stores": [],
        "collections": [],
        "activated_seconds_time": 30,
    }


def test_meta_queries_are_constant(ctx_client, club, django_assert_max_num_queries):
    collections = [CollectionFactory(club=club) for _ in range(5)]
    for i in range(20):
        OfferFactory(club=club, tags=[f"t{i}"], stores=[f"s{i}"], collections=collections)
    client, prefix = ctx_client("me")
    with django_assert_max_num_queries(7):  # token, club, access token; tags, stores, collections, files
        assert len(client.get(f"{prefix}/offers/meta").json()["collections"]) == 5


# --- Like / unlike ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ctx", ["me", "id"])
def test_like_and_unlike_are_idempotent(ctx_client, club, member, ctx):
    offer = OfferFactory(club=club)
    client, prefix = ctx_client(ctx)

    for _ in range(2):
        response = client.put(f"{prefix}/offers/{offer.id}/like")
        assert (response.status_code, response.json()) == (200, {})
    assert OfferLike.objects.filter(offer=offer, member=member).count() == 1
    assert client.get(f"{prefix}/offers/{offer.id}").json()["offer"]["liked"] is True

    for _ in range(2):
        response = client.put(f"{prefix}/offers/{offer.id}/unlike")
        assert (response.status_code, response.json()) == (200, {})
    assert not OfferLike.objects.exists()


def test_liking_an_invisible_offer_answers_404(ctx_client, club):
    offer = OfferFactory(club=club, status="draft")
    client, prefix = ctx_client("me")
    assert client.put(f"{prefix}/offers/{offer.id}/like").json() == {"error": f"Offer#{offer.id} not found"}


def test_a_banned_member_may_still_like(ctx_client, club, member):
    member.banned_until = NOW + timedelta(days=1)
    member.save(update_fields=["banned_until"])
    client, prefix = ctx_client("me")
    assert client.put(f"{prefix}/offers/{OfferFactory(club=club).id}/like").status_code == 200


def test_guests_cannot_like(api, club):
    offer = OfferFactory(club=club)
    assert api.put(f"{BASE}/guest/offers/{offer.id}/like").status_code == 404


# --- Events -----------------------------------------------------------------------------------------

EVENT_PATHS = [
    ("/v3/infinity-mall/members/me/events/offers_clicked", OfferEvent.Kind.CLICKED),
    ("/v3/infinity-mall/offers/events/offers_clicked", OfferEvent.Kind.CLICKED),
    ("/v3/infinity-mall/members/me/events/offers_seen", OfferEvent.Kind.SEEN),
    ("/v3/infinity-mall/offers/events/offers_seen", OfferEvent.Kind.SEEN),
]


@pytest.mark.parametrize(("path", "kind"), EVENT_PATHS)
def test_events_are_stored_for_the_signed_in_member(member_api, club, member, path, kind):
    club.timezone = "Europe/Oslo"
    club.save(update_fields=["timezone"])
    a, b = OfferFactory(club=club), OfferFactory(club=club)
    context = {"collections_ids": [1], "tags": ["x"], "stores": [], "search_string": "sko", "utm": {"source": "p"}}

    response = member_api.post(
        path,
        {
            "events": [
                {"offer_id": a.id, "created_at": "2030-04-30T10:00:00Z", "context": context},
                {"offer_id": str(b.id), "created_at": "2030-04-30T12:00:00"},
                {"offer_id": a.id},
            ]
        },
        format="json",
    )

    assert (response.status_code, response.json()) == (200, {})
    events = list(OfferEvent.objects.order_by("id"))
    assert [(e.offer_id, e.member_id, e.kind) for e in events] == [
        (a.id, member.id, kind),
        (b.id, member.id, kind),
        (a.id, member.id, kind),
    ]
    assert [e.created_at for e in events] == [
        datetime(2030, 4, 30, 10, 0, tzinfo=UTC),
        datetime(2030, 4, 30, 10, 0, tzinfo=UTC),  # naive: read in the club's timezone (UTC+2)
        NOW,
    ]
    assert events[0].context == context


def test_events_for_unknown_offers_answer_422_with_their_index(member_api, club, other_club):
    known = OfferFactory(club=club)
    foreign = OfferFactory(club=other_club)

    response = member_api.post(
        EVENT_PATHS[0][0],
        {"events": [{"offer_id": known.id}, {"offer_id": 99999999}, {"offer_id": str(foreign.id)}]},
        format="json",
    )

    assert (response.status_code, response.json()) == (
        422,
        {
            "error": "Invalid parameters",
            "details": {
                "events": {
                    "1": {
                        "offer_id": [
                            {"value": 99999999, "error": "invalid", "options": {}, "message": "is not a known offer"}
                        ]
                    },
                    "2": {
                        "offer_id": [
                            {
                                "value": str(foreign.id),
                                "error": "invalid",
                                "options": {},
                                "message": "is not a known offer",
                            }
                        ]
                    },
                }
            },
        },
    )
    assert not OfferEvent.objects.exists()


def test_at_most_500_events_are_accepted_in_one_call(member_api, club):
    offer = OfferFactory(club=club)
    events = [{"offer_id": offer.id}] * 501
    response = member_api.post(EVENT_PATHS[1][0], {"events": events}, format="json")
    assert (response.status_code, response.json()) == (
        422,
        {
            "error": "Invalid parameters",
            "details": {
                "events": [
                    {
                        "value": events,
                        "error": "size_too_large",
                        "options": {"number": 500},
                        "message": "size cannot be greater than 500",
                    }
                ]
            },
        },
    )
    assert member_api.post(EVENT_PATHS[1][0], {"events": events[:500]}, format="json").json() == {}
    assert OfferEvent.objects.count() == 500


@pytest.mark.parametrize(
    ("event", "key", "error_key"),
    [
        ({"offer_id": "12a"}, "offer_id", "not_an_integer"),
        ({"offer_id": True}, "offer_id", "not_an_integer"),
        ({}, "offer_id", "presence"),
        ({"offer_id": 1, "created_at": "yesterday"}, "created_at", "invalid_iso_8601_time"),
        ({"offer_id": 1, "context": "x"}, "context", "must_be_an_object"),
    ],
)
def test_malformed_events_answer_the_parameters_tree(member_api, club, event, key, error_key):
    response = member_api.post(EVENT_PATHS[0][0], {"events": [event]}, format="json")
    assert response.status_code == 422
    assert response.json()["details"]["events"]["0"][key][0]["error"] == error_key


def test_events_need_the_member_token_on_both_paths(api, club):
    for path, _ in EVENT_PATHS:
        response = api.post(path, {"events": []}, format="json")
        assert response.status_code == 460


def test_events_need_their_permit(client_with, member_bearer, club):
    client = client_with("Offers:Api:Events:Seen", "Offers:Api:Scopes:Standard", bearer=member_bearer)
    assert client.post(EVENT_PATHS[2][0], {"events": []}, format="json").status_code == 200
    response = client.post(EVENT_PATHS[0][0], {"events": []}, format="json")
    assert (response.status_code, response.json()) == (403, {"error": "Missing permit: Offers:Api:Events:Clicked"})


def test_audience_offers_do_not_leak_through_meta(ctx_client, club, member):
    group = MemberGroupFactory(club=club)
    OfferFactory(club=club, audience=group, tags=["secret"])
    client, prefix = ctx_client("me")
    assert client.get(f"{prefix}/offers/meta").json()["tags"] == []
    group.members.add(member)
    assert client.get(f"{prefix}/offers/meta").json()["tags"] == ["secret"]


@pytest.mark.parametrize(
    "created_at", ["2030-02-30T10:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
)
def test_impossible_event_times_are_invalid_not_a_500(member_api, club, created_at):
    offer = OfferFactory(club=club)

    response = member_api.post(
        f"{BASE}/me/events/offers_seen", {"events": [{"offer_id": offer.id, "created_at": created_at}]}, format="json"
    )

    assert response.status_code == 422
    assert response.json()["details"]["events"]["0"]["created_at"][0]["error"] == "invalid_iso_8601_time"


def test_an_event_time_with_any_offset_python_accepts_is_stored_in_utc(member_api, club):
    offer = OfferFactory(club=club)

    response = member_api.post(
        f"{BASE}/me/events/offers_seen",
        {"events": [{"offer_id": offer.id, "created_at": "2030-05-01T12:00:00+17:49"}]},
        format="json",
    )

    assert response.status_code == 200
    assert OfferEvent.objects.get().created_at == datetime(2030, 4, 30, 18, 11, tzinfo=UTC)
