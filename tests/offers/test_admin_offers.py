"""The offers admin (Django test client, signed-in superuser): list columns, filters, search, each action and
the forms, asserting what lands in the database."""

from datetime import UTC, datetime

import pytest
import time_machine

from loyalty.models import MemberGroupMembership
from offers.models import (
    AudienceGrant,
    Collection,
    CollectionOffer,
    Offer,
    OfferGrant,
    OfferStatus,
    OfferTag,
    OfferType,
)
from offers.services.use import offer_use
from tests.factories import MemberFactory, MemberGroupFactory
from tests.offers.factories import CollectionFactory, OfferFactory

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
CHANGELIST = "/admin/offers/offer/"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def listed(response) -> list[int]:
    assert response.status_code == 200
    return sorted(o.pk for o in response.context["cl"].result_list)


def act(admin_client, action, offers, **extra):
    return admin_client.post(
        CHANGELIST, {"action": action, "_selected_action": [o.pk for o in offers], **extra}, follow=False
    )


# --- List ------------------------------------------------------------------------------------------


def test_the_list_shows_status_scope_type_window_and_uses_over_stock(admin_client, club, member):
    limited = OfferFactory(club=club, internal_name="Limited", stock=10, usable_since=NOW)
    OfferFactory(club=club, internal_name="Endless", status=OfferStatus.DRAFT)
    offer_use(offer=Offer.objects.get(pk=limited.pk), member=member)

    response = admin_client.get(CHANGELIST)

    html = response.content.decode()
    assert response.status_code == 200
    for text in ("Limited", "Endless", "1 / 10", "0 / ∞", "2030-05-01 12:00 → …", "always", "published", "draft"):
        assert text in html, text


def test_filters_narrow_the_list(admin_client, club):
    collection = CollectionFactory(club=club)
    group = MemberGroupFactory(club=club)
    a = OfferFactory(club=club, scope="parking", type=OfferType.EXCLUSIVE, collections=[collection], audience=group)
    b = OfferFactory(club=club, status=OfferStatus.DRAFT, archived_at=NOW)
    c = OfferFactory(club=club)

    assert listed(admin_client.get(f"{CHANGELIST}?status__exact=draft")) == [b.pk]
    assert listed(admin_client.get(f"{CHANGELIST}?scope__exact=parking")) == [a.pk]
    assert listed(admin_client.get(f"{CHANGELIST}?type__exact=EXCLUSIVE")) == [a.pk]
    assert listed(admin_client.get(f"{CHANGELIST}?archived=yes")) == [b.pk]
    assert listed(admin_client.get(f"{CHANGELIST}?archived=no")) == [a.pk, c.pk]
    assert listed(admin_client.get(f"{CHANGELIST}?collection={collection.pk}")) == [a.pk]
    assert listed(admin_client.get(f"{CHANGELIST}?audience={group.pk}")) == [a.pk]
    assert listed(admin_client.get(f"{CHANGELIST}?audience=none")) == [b.pk, c.pk]


def test_search_finds_names_tags_and_ids(admin_client, club):
    shoes = OfferFactory(club=club, name={"en": "Red shoes"}, internal_name="x", tags=["summer"])
    other = OfferFactory(club=club, name="Coffee", internal_name="y")

    assert listed(admin_client.get(f"{CHANGELIST}?q=shoes")) == [shoes.pk]
    assert listed(admin_client.get(f"{CHANGELIST}?q=summer")) == [shoes.pk]
    assert listed(admin_client.get(f"{CHANGELIST}?q={other.pk}")) == [other.pk]


# --- Actions ---------------------------------------------------------------------------------------


def test_publish_and_unpublish(admin_client, club):
    offers = [OfferFactory(club=club, status=OfferStatus.DRAFT) for _ in range(2)]

    assert act(admin_client, "publish", offers).status_code == 302
    assert set(Offer.objects.values_list("status", flat=True)) == {"published"}

    act(admin_client, "unpublish", offers[:1])
    assert dict(Offer.objects.values_list("pk", "status")) == {offers[0].pk: "draft", offers[1].pk: "published"}


def test_archive_and_unarchive(admin_client, club):
    offer = OfferFactory(club=club)

    act(admin_client, "archive", [offer])
    assert Offer.objects.get(pk=offer.pk).archived_at == NOW

    act(admin_client, "unarchive", [offer])
    assert Offer.objects.get(pk=offer.pk).archived_at is None


def test_clone_makes_drafts_with_zero_counters(admin_client, club, member):
    offer = OfferFactory(club=club, internal_name="Original", tags=["a"], stock=5)
    offer_use(offer=Offer.objects.get(pk=offer.pk), member=member)

    act(admin_client, "clone", [offer])

    clone = Offer.objects.exclude(pk=offer.pk).get()
    assert (clone.internal_name, clone.status, clone.uses_count, clone.stock) == ("Original", "draft", 0, 5)
    assert list(OfferTag.objects.filter(offer=clone).values_list("value", flat=True)) == ["a"]


def test_grant_to_a_group_asks_for_the_group_then_grants_each_member_once(admin_client, club):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    group = MemberGroupFactory(club=club, name="VIP")
    members = [MemberFactory(club=club) for _ in range(3)]
    MemberGroupMembership.objects.bulk_create([MemberGroupMembership(group=group, member=m) for m in members])

    form = act(admin_client, "grant_to_group", [offer])
    assert form.status_code == 200
    assert "VIP" in form.content.decode()
    assert not OfferGrant.objects.exists()

    done = act(admin_client, "grant_to_group", [offer], apply="Grant", group=group.pk, usable_for_seconds=3600)

    assert done.status_code == 302
    assert sorted(OfferGrant.objects.filter(offer=offer).values_list("member_id", flat=True)) == [m.pk for m in members]
    assert AudienceGrant.objects.get().status == "done"


def test_grant_to_a_group_refuses_regular_offers(admin_client, club):
    offer = OfferFactory(club=club)
    group = MemberGroupFactory(club=club)
    MemberGroupMembership.objects.create(group=group, member=MemberFactory(club=club))

    response = act(admin_client, "grant_to_group", [offer], apply="Grant", group=group.pk)

    assert response.status_code == 302
    assert not OfferGrant.objects.exists()


def test_deleting_a_used_offer_archives_it(admin_client, club, member):
    used = OfferFactory(club=club)
    unused = OfferFactory(club=club)
    offer_use(offer=Offer.objects.get(pk=used.pk), member=member)

    act(admin_client, "delete_selected", [used, unused], post="yes")

    assert list(Offer.objects.values_list("pk", "archived_at")) == [(used.pk, NOW)]


# --- Forms -----------------------------------------------------------------------------------------


def form_data(club, **changes) -> dict:
    data = {
        "club": club.pk,
        "internal_name": "Spring",
        "internal_description": "",
        "status": "published",
        "scope": "standard",
        "type": "REGULAR",
        "name": '{"en": "Spring sale", "nb": "Vårsalg"}',
        "description": "Everything",
        "external_url": "",
        "tags": "shoes, bags",
        "stores": "M&H",
        "usable_since_0": "",
        "usable_since_1": "",
        "usable_until_0": "",
        "usable_until_1": "",
        "visible_since_0": "",
        "visible_since_1": "",
        "visible_until_0": "",
        "visible_until_1": "",
        "campaign_id": "",
        "maximum_uses_per_user": "2",
        "maximum_grants_per_user": "",
        "periodic_timespan": "day",
        "periodic_limit": "1",
        "stock": "",
        "usage_authorization_token": "",
        "read_more": "null",
        "activation_texts": "null",
        "extras": "{}",
        "display_schemas": "null",
        "files-TOTAL_FORMS": "0",
        "files-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_adding_an_offer_goes_through_the_service(admin_client, club):
    collection = CollectionFactory(club=club)

    response = admin_client.post(f"{CHANGELIST}add/", form_data(club, collection_ids=[collection.pk]))

    assert response.status_code == 302, response.context["adminform"].form.errors
    offer = Offer.objects.get()
    assert (offer.name, offer.description, offer.status, offer.periodic_timespan, offer.periodic_limit) == (
        {"en": "Spring sale", "nb": "Vårsalg"},
        "Everything",
        "published",
        "day",
        1,
    )
    assert list(OfferTag.objects.filter(offer=offer).order_by("id").values_list("value", flat=True)) == [
        "shoes",
        "bags",
    ]
    assert list(CollectionOffer.objects.values_list("collection_id", "offer_id")) == [(collection.pk, offer.pk)]


def test_the_form_reports_the_api_rules_on_its_fields(admin_client, club):
    response = admin_client.post(
        f"{CHANGELIST}add/",
        form_data(
            club,
            usable_since_0="2030-06-01",
            usable_since_1="00:00",
            usable_until_0="2030-05-01",
            usable_until_1="00:00",
            maximum_uses_per_user="0",
            periodic_limit="",
            tags="a, a",
        ),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["usable_until"] == ["must be after usable_since"]
    assert errors["maximum_uses_per_user"] == ["must be greater than 0"]
    assert errors["tags"] == ["list must contain unique values"]
    assert "periodic_limit" in errors
    assert not Offer.objects.exists()


def test_the_type_of_a_used_offer_cannot_change_in_the_form(admin_client, club, member):
    offer = OfferFactory(club=club, internal_name="Spring", maximum_uses_per_user=2)
    offer_use(offer=Offer.objects.get(pk=offer.pk), member=member)

    response = admin_client.post(f"{CHANGELIST}{offer.pk}/change/", form_data(club, type="EXCLUSIVE"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["type"] == ["cannot be changed once the offer has been used"]
    assert Offer.objects.get(pk=offer.pk).type == "REGULAR"


def test_changing_an_offer_keeps_its_counters_and_files(admin_client, club, member):
    offer = OfferFactory(club=club, internal_name="Spring", stock=10)
    offer_use(offer=Offer.objects.get(pk=offer.pk), member=member)
    from offers.models import OfferFile

    OfferFile.objects.create(offer=offer, url="https://cdn.example.com/a.jpg")

    response = admin_client.post(
        f"{CHANGELIST}{offer.pk}/change/",
        form_data(club, internal_name="Renamed", stock="20", **{"files-INITIAL_FORMS": "1", "files-TOTAL_FORMS": "1"}),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    stored = Offer.objects.get(pk=offer.pk)
    assert (stored.internal_name, stored.stock, stored.uses_count) == ("Renamed", 20, 1)
    assert OfferFile.objects.filter(offer=offer).count() == 1


def test_the_change_page_links_grants_and_uses(admin_client, club):
    offer = OfferFactory(club=club)

    html = admin_client.get(f"{CHANGELIST}{offer.pk}/change/").content.decode()

    assert f"/admin/offers/offergrant/?offer__id__exact={offer.pk}" in html
    assert f"/admin/offers/offerusage/?offer__id__exact={offer.pk}" in html


def test_grants_usages_and_audience_calls_are_read_only(admin_client):
    for model in ("offergrant", "offerusage", "audiencegrant"):
        assert admin_client.get(f"/admin/offers/{model}/").status_code == 200
        assert admin_client.get(f"/admin/offers/{model}/add/").status_code == 403


# --- Collections -----------------------------------------------------------------------------------


def test_collection_order_is_editable_and_checked(admin_client, club, other_club):
    a, b = OfferFactory(club=club), OfferFactory(club=club)
    theirs = OfferFactory(club=other_club)
    collection = CollectionFactory(club=club, title="Shoes")
    url = f"/admin/offers/collection/{collection.pk}/change/"
    base = {"title": "Shoes", "description": "", "short_description": ""}

    refused = admin_client.post(url, {**base, "offers_order": f"{a.pk}, {theirs.pk}"})
    saved = admin_client.post(url, {**base, "offers_order": f"{b.pk}, {a.pk}"})

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["offers_order"] == [f"contains unknown offers: {theirs.pk}"]
    assert saved.status_code == 302
    assert Collection.objects.get(pk=collection.pk).offers_order == [b.pk, a.pk]


def test_adding_a_collection(admin_client, club):
    response = admin_client.post(
        "/admin/offers/collection/add/",
        {"club": club.pk, "title": '{"en": "Shoes"}', "description": "", "short_description": "", "offers_order": ""},
    )

    assert response.status_code == 302
    assert list(Collection.objects.values_list("club_id", "title", "offers_order")) == [(club.pk, {"en": "Shoes"}, [])]


def test_json_text_postgresql_cannot_store_is_a_form_error(admin_client, club):
    response = admin_client.post(f"{CHANGELIST}add/", form_data(club, extras='{"a": "\\u0000"}'))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["extras"] == [
        "Text cannot contain NUL or lone surrogate characters."
    ]


def test_grant_calls_stay_listed_after_their_group_is_deleted(admin_client, club):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    kept, gone = MemberGroupFactory(club=club, name="Kept"), MemberGroupFactory(club=club, name="Gone")
    calls = [AudienceGrant.objects.create(club=club, offer=offer, group=g) for g in (kept, gone)]
    gone_id = gone.pk
    gone.delete()

    response = admin_client.get("/admin/offers/audiencegrant/")

    assert listed(response) == sorted(c.pk for c in calls)
    html = response.content.decode()
    assert f"#{kept.pk} Kept" in html and f"#{gone_id} (deleted)" in html
    assert admin_client.get(f"/admin/offers/audiencegrant/{calls[1].pk}/change/").status_code == 200
