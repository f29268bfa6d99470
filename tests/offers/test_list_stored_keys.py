"""Issue 21, target 1: the lists by name read the stored sort key (`Offer.name_sort`) and the meta walks the
club's tag and store values; their answers are those of the computed expressions, through the HTTP API.

Each catalogue mixes offers written by the catalog service (stored key, rows with their club) and offers
made by the factory (no key, tag rows without a club), so both parts of every answer are exercised."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.models import LoyaltyClub
from offers.models import Collection, Offer, OfferTag, OfferType
from offers.services import catalog
from offers.texts import languages_signature, name_order_key, text_for
from tests.factories import MemberGroupFactory
from tests.offers.conftest import BASE
from tests.offers.factories import CollectionFactory, OfferFactory

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
NAMES = [
    {"en": "banana", "nb": "Appelsin"},
    {"nb": "Eple"},  # no English: the Norwegian text for an English request
    "Cherry",
    {"de": "Zitrone", "fr": "citron"},  # neither: the alphabetically first language (de)
    "Date",
    "date",  # the same key as "Date": ties by id
    {"en": "Date", "nb": "Daddel"},
    None,  # no name: last ascending, first descending
    {"en": "apple", "nb": "eple"},
    {"fr": "abricot"},
]


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _create(club, name, **attrs):
    return catalog.offer_create(club=club, attrs={"name": name, "status": "published", **attrs})


@pytest.fixture
def catalogue(club):
    """Offers of every kind of name, by the service and by the factory, and some no member list shows."""
    offers = []
    for i, name in enumerate(NAMES):
        offers.append(_create(club, name, tags=[f"tag{i % 3}"], stores=[f"store{i % 2}"]))
        offers.append(OfferFactory(club=club, name=name, tags=[f"tag{i % 4}"], stores=["factory store"]))
    group = MemberGroupFactory(club=club)
    hidden = [
        _create(club, "Aardvark draft", status="draft", tags=["draft tag"]),
        _create(club, "Aardvark archived", tags=["archived tag"]),
        _create(club, "Aardvark audience", audience_id=group.id, tags=["audience tag"], stores=["audience store"]),
        _create(club, "Aardvark exclusive", type=OfferType.EXCLUSIVE, tags=["exclusive tag"]),
        _create(club, "Aardvark expired", visible_until=NOW - timedelta(days=1), tags=["expired tag"]),
        _create(club, "Aardvark parking", scope="parking", tags=["parking tag"]),
    ]
    catalog.offers_archive(offers=[hidden[1]])
    return offers, hidden


def _expected(offers, languages, *, descending=False):
    """The order of SPEC §4.4 computed in Python: the name in the languages, lower-cased (the names here are
    ASCII), nulls last (first descending), then by id."""
    keys = {o.pk: text_for(o.name, languages) for o in offers}
    keys = {pk: key.lower() if key is not None else None for pk, key in keys.items()}
    by_id = sorted(keys)
    # A stable sort keeps ascending ids among equal keys, in both directions.
    present = sorted((pk for pk in by_id if keys[pk] is not None), key=lambda pk: keys[pk], reverse=descending)
    absent = [pk for pk in by_id if keys[pk] is None]
    return absent + present if descending else present + absent


def _ids(response):
    assert response.status_code == 200, response.json()
    return [o["id"] for o in response.json()["offers"]]


@pytest.mark.parametrize("locale", [None, "en", "nb", "de-AT", "fr"])
@pytest.mark.parametrize("order", ["", "name DESC", "name ASC"])
def test_the_member_list_by_name_is_the_order_of_the_computed_name(member_api, club, member, catalogue, locale, order):
    offers, _ = catalogue
    headers = {"HTTP_X_LOCALE": locale} if locale else {}
    languages = [x for x in (locale, locale.split("-")[0] if locale else None, member.language, "en") if x]

    default = _ids(member_api.get(f"{BASE}/me/offers?order_by={order}", **headers))
    with_info = member_api.get(f"{BASE}/me/offers?order_by={order}&include_pagination_info=true", **headers)

    expected = _expected(offers, list(dict.fromkeys(languages)), descending="DESC" in order)
    assert default == expected
    assert _ids(with_info) == expected  # the path that also counts
    assert with_info.json()["pagination_info"]["total_count"] == len(offers)


@pytest.mark.parametrize("order", ["", "name DESC"])
def test_pages_of_the_member_list_are_slices_of_the_whole_order(member_api, catalogue, order):
    whole = _ids(member_api.get(f"{BASE}/me/offers?order_by={order}"))

    pages = [_ids(member_api.get(f"{BASE}/me/offers?order_by={order}&per_page=3&page_no={n}")) for n in range(1, 9)]

    assert [pk for page in pages for pk in page] == whole
    assert all(len(page) == 3 for page in pages[:6]) and len(pages[6]) == 2 and pages[7] == []
    info = member_api.get(f"{BASE}/me/offers?order_by={order}&per_page=3&page_no=7&include_pagination_info=true")
    assert _ids(info) == pages[6]
    assert info.json()["pagination_info"] == {
        "total_count": 20,
        "per_page": 3,
        "total_pages": 7,
        "current_page": 7,
        "next_page": None,
        "prev_page": 6,
        "is_first_page": False,
        "is_last_page": True,
        "is_out_of_range": False,
    }


def test_the_guest_list_by_name_shows_what_a_guest_sees_in_that_order(api, catalogue):
    offers, _ = catalogue

    assert _ids(api.get(f"{BASE}/guest/offers")) == _expected(offers, ["en"])


def test_uses_left_and_filters_are_unchanged_by_the_stored_key(member_api, club, member, catalogue):
    offers, _ = catalogue
    limited = _create(club, "Aaa limited", maximum_uses_per_user=3, tags=["limited"])
    member_api.post(f"{BASE}/me/offers/{limited.id}/use", {}, format="json")

    body = member_api.get(f"{BASE}/me/offers").json()["offers"]
    filtered = member_api.get(f"{BASE}/me/offers?tags=limited&usable=true").json()["offers"]

    assert body[0]["id"] == limited.id
    assert body[0]["usage"]["uses_left"] == 2 and body[0]["usage"]["max_uses"] == 3
    assert [o["id"] for o in filtered] == [limited.id]
    assert [o["id"] for o in body[1:]] == _expected(offers, ["en"])


def test_a_name_written_by_the_service_moves_the_offer_in_the_list(member_api, club, catalogue):
    offers, _ = catalogue
    first = _ids(member_api.get(f"{BASE}/me/offers"))[0]

    catalog.offer_update(offer=Offer.objects.get(pk=first), attrs={"name": {"en": "zzz last", "nb": "a"}})

    listed = _ids(member_api.get(f"{BASE}/me/offers"))
    assert listed.index(first) > 0
    assert listed == _expected(list(Offer.objects.filter(pk__in=[o.pk for o in offers])), ["en"])


@pytest.mark.parametrize("how", ["queryset", "raw SQL"])
def test_a_name_written_outside_the_service_moves_the_offer_too(member_api, club, catalogue, how):
    """The stored key of a name written by `.update()` or raw SQL is dropped (offers.sql.NAME_KEY_RESET_V1):
    the offer is sorted on its computed name, never by the key of its old name."""
    offers, _ = catalogue
    first = _ids(member_api.get(f"{BASE}/me/offers"))[0]
    if how == "queryset":
        Offer.objects.filter(pk=first).update(name={"en": "zzz last"})
    else:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE offers_offer SET name = %s WHERE id = %s", ['{"en": "zzz last"}', first])

    assert Offer.objects.values_list("name_sort", "name_sort_language").get(pk=first) == (None, None)
    listed = _ids(member_api.get(f"{BASE}/me/offers"))
    assert listed.index(first) > 0
    assert listed == _expected(list(Offer.objects.filter(pk__in=[o.pk for o in offers])), ["en"])


def test_a_write_that_keeps_the_name_keeps_the_key(club, catalogue):
    written = Offer.objects.filter(name_sort__isnull=False).first()
    key = (written.name_sort, written.name_sort_language)
    Offer.objects.filter(pk=written.pk).update(description="other text", name=written.name)
    assert Offer.objects.values_list("name_sort", "name_sort_language").get(pk=written.pk) == key


def test_after_the_default_language_changes_the_lists_sort_on_the_computed_name(member_api, api, club, catalogue):
    offers, _ = catalogue
    LoyaltyClub.objects.filter(pk=club.pk).update(default_language="nb")  # the stored keys are of English now

    listed = _ids(member_api.get(f"{BASE}/me/offers"))
    managed = api.get("/v3/infinity-mall/offers?per_page=100").json()["offers"]

    member_languages = ["nb"]  # the member has no language of their own
    assert listed == _expected(offers, member_languages)
    catalog.offers_name_keys_refresh(club=LoyaltyClub.objects.get(pk=club.pk))
    assert _ids(member_api.get(f"{BASE}/me/offers")) == listed
    assert [o["id"] for o in managed] == [
        o["id"] for o in api.get("/v3/infinity-mall/offers?per_page=100").json()["offers"]
    ]


def _keys_of(club) -> set[str | None]:
    return set(Offer.objects.filter(club=club).values_list("name_sort_language", flat=True))


def test_a_default_language_changed_through_the_api_rewrites_the_stored_keys(member_api, api, club, catalogue):
    offers, _ = catalogue
    assert languages_signature(["nb"]) not in _keys_of(club)

    response = api.put("/v3/infinity-mall", {"loyalty_club": {"default_language": "nb"}}, format="json")

    assert response.status_code == 200, response.content
    assert _keys_of(club) == {languages_signature(["nb"])}  # the lists walk the index again
    assert _ids(member_api.get(f"{BASE}/me/offers")) == _expected(offers, ["nb"])


def test_a_default_language_changed_in_the_admin_rewrites_the_stored_keys(admin_client, club, catalogue):
    assert languages_signature(["nb"]) not in _keys_of(club)
    page = admin_client.get(f"/admin/loyalty/loyaltyclub/{club.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {name: ("" if value is None else value) for name, value in data.items()}
    data.update(default_language="nb")

    response = admin_client.post(f"/admin/loyalty/loyaltyclub/{club.pk}/change/", data)

    assert response.status_code == 302, response.content[:2000]
    assert LoyaltyClub.objects.get(pk=club.pk).default_language == "nb"
    assert _keys_of(club) == {languages_signature(["nb"])}


# --- The management list ------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", [None, "nb", "fr"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_the_management_list_by_name_is_the_order_of_the_computed_name(api, club, catalogue, locale, direction):
    offers, hidden = catalogue
    headers = {"HTTP_X_LOCALE": locale} if locale else {}
    listed = [o for o in [*offers, *hidden] if o.archived_at is None and o.pk != hidden[1].pk]
    languages = list(dict.fromkeys(x for x in (locale, "en") if x))
    expected = _expected(listed, languages, descending=direction == "desc")

    pages = [
        api.get(f"/v3/infinity-mall/offers?sort_direction={direction}&per_page=7&page_no={n}", **headers).json()
        for n in (1, 2, 3, 4, 5)
    ]

    assert [o["id"] for page in pages for o in page["offers"]] == expected
    assert [page["pagination_info"]["total_count"] for page in pages] == [len(expected)] * 5
    assert pages[4]["offers"] == [] and pages[4]["pagination_info"]["is_out_of_range"]
    archived = api.get("/v3/infinity-mall/offers?only_archived=true").json()
    assert [o["id"] for o in archived["offers"]] == [hidden[1].pk]


# --- The meta --------------------------------------------------------------------------------------------


def test_the_meta_lists_the_values_of_visible_offers_only(member_api, api, club, catalogue):
    offers, _ = catalogue
    collection = CollectionFactory(club=club)
    empty = CollectionFactory(club=club)
    catalog.offer_update(offer=offers[0], attrs={"collection_ids": [collection.id]})

    me = member_api.get(f"{BASE}/me/offers/meta").json()
    guest = api.get(f"{BASE}/guest/offers/meta").json()

    visible_tags = sorted({f"tag{i % 3}" for i in range(len(NAMES))} | {f"tag{i % 4}" for i in range(len(NAMES))})
    assert me["tags"] == visible_tags == guest["tags"]
    assert me["stores"] == ["factory store", "store0", "store1"] == guest["stores"]
    assert [c["id"] for c in me["collections"]] == [collection.id]
    assert Collection.objects.filter(pk=empty.pk).exists()
    assert OfferTag.objects.filter(club__isnull=True).count() == len(NAMES)  # both parts were read


def test_the_meta_shows_the_audience_offer_to_its_members(member_api, club, member, catalogue):
    _, hidden = catalogue
    from loyalty.models import MemberGroupMembership

    MemberGroupMembership.objects.create(group_id=hidden[2].audience_id, member=member)

    meta = member_api.get(f"{BASE}/me/offers/meta").json()

    assert "audience tag" in meta["tags"] and "audience store" in meta["stores"]
    assert not {"draft tag", "archived tag", "exclusive tag", "expired tag", "parking tag"} & set(meta["tags"])


# --- The stored key is the computed one ------------------------------------------------------------------

_texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00", exclude_categories=["Cs"]), max_size=8
)
_names = st.one_of(
    st.none(),
    _texts,
    st.dictionaries(st.sampled_from(["en", "nb", "de", "sv", "fr"]), st.one_of(_texts, st.integers(), st.none())),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_names, language=st.sampled_from(["en", "nb", "de", "xx"]))
def test_the_stored_key_is_the_key_the_list_computes(club, name, language):
    LoyaltyClub.objects.filter(pk=club.pk).update(default_language=language)
    club.refresh_from_db()
    offer = catalog.offer_create(club=club, attrs={"name": name})

    row = Offer.objects.filter(pk=offer.pk).annotate(computed=name_order_key([language])).values().get()

    assert row["name_sort"] == row["computed"]
    assert row["name_sort_language"] == language
    assert (offer.name_sort, offer.name_sort_language) == (row["name_sort"], language)
