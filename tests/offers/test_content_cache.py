"""The rendered offer content kept per content revision (offers/api/content.py) through the HTTP API: a warm
worker reads no content, and every kind of change — by the service, by a queryset update, by raw SQL, to
the offer row or to its tags, stores, collection links and files — is seen by the very next request,
exactly as a worker with nothing cached renders it. PostgreSQL only: the revisions are kept by triggers."""

from __future__ import annotations

import itertools
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offers import sql
from offers.api import content
from offers.models import CollectionOffer, Offer, OfferFile, OfferStore, OfferTag
from offers.services import catalog
from tests.offers.conftest import BASE
from tests.offers.factories import CollectionFactory, OfferFactory, OfferFileFactory

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="content revisions are kept by triggers")

LIST = f"{BASE}/me/offers"


@pytest.fixture(autouse=True)
def cache_on(settings):
    settings.OFFERS_CONTENT_CACHE_ENTRIES = 100
    content.clear()
    yield
    content.clear()


@pytest.fixture
def offers(club):
    made = []
    for i in range(3):
        offer = OfferFactory(
            club=club,
            name={"en": f"Offer {i}", "nb": f"Tilbud {i}"},
            tags=[f"tag {i}"],
            stores=[f"store {i}"],
            collections=[CollectionFactory(club=club)],
        )
        OfferFileFactory(offer=offer)
        made.append(offer)
    return made


def _get(client, url, **headers):
    """(body, statements run) of one GET."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, response.content
    return response.json(), len(queries)


def _fresh(client, url, **headers):
    """The body a worker with nothing cached answers."""
    content.clear()
    return _get(client, url, **headers)[0]


def _revision(offer) -> int:
    return Offer.objects.values_list("content_revision", flat=True).get(pk=offer.pk)


def test_the_trigger_watches_every_rendered_column(db):
    """What the renderer can read (`content_rows` selects exactly these columns) is what bumps the revision."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = %s", ["offers_offer_content_revision_update"]
        )
        (definition,) = cursor.fetchone()
        watched = set(re.findall(r"old\.(\w+)", definition, flags=re.IGNORECASE))
        assert watched == set(sql.OFFER_CONTENT_COLUMNS)
        cursor.execute(
            "SELECT tgrelid::regclass::text, count(*) FROM pg_trigger WHERE tgname LIKE %s GROUP BY 1",
            ["%_content_%ed"],
        )
        assert dict(cursor.fetchall()) == {table: 3 for table in sql.CONTENT_REVISION_RELATIONS}


def test_a_warm_list_reads_no_content_and_answers_the_same(member_api, offers):
    cold, cold_statements = _get(member_api, LIST)
    warm, warm_statements = _get(member_api, LIST)
    assert warm == cold
    assert [o["id"] for o in warm["offers"]] == [o.pk for o in offers]
    assert warm_statements == cold_statements - 2  # neither the content rows nor their relations


def test_a_warm_detail_reads_no_content_and_answers_the_same(member_api, offers):
    url = f"{LIST}/{offers[0].pk}"
    cold, cold_statements = _get(member_api, url)
    warm, warm_statements = _get(member_api, url)
    assert warm == cold
    assert warm_statements == cold_statements - 2


def test_languages_are_rendered_apart(member_api, offers):
    _get(member_api, LIST)
    english, _ = _get(member_api, LIST, **{"X-Locale": "en"})
    norwegian, warm_statements = _get(member_api, LIST, **{"X-Locale": "nb"})
    again, again_statements = _get(member_api, LIST, **{"X-Locale": "nb"})
    assert [o["name"] for o in english["offers"]] == ["Offer 0", "Offer 1", "Offer 2"]
    assert [o["name"] for o in norwegian["offers"]] == ["Tilbud 0", "Tilbud 1", "Tilbud 2"]
    assert again == norwegian
    assert again_statements == warm_statements - 2


def _raw(statement, params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


_n = itertools.count()  # a new value for every change: hypothesis repeats changes on the same offers


def _new() -> int:
    return next(_n)


CHANGES = {
    "name by the service": lambda o, club: catalog.offer_update(offer=o, attrs={"name": f"Renamed {_new()}"}),
    "description by a queryset update": lambda o, club: Offer.objects.filter(pk=o.pk).update(
        description=f"New {_new()}"
    ),
    "extras by raw SQL": lambda o, club: _raw(
        "UPDATE offers_offer SET extras = jsonb_build_object('colour', %s::int) WHERE id = %s", [_new(), o.pk]
    ),
    "usable_until by raw SQL": lambda o, club: _raw(
        "UPDATE offers_offer SET usable_until = now() + make_interval(days => %s) WHERE id = %s", [1000 + _new(), o.pk]
    ),
    "display schemas": lambda o, club: Offer.objects.filter(pk=o.pk).update(
        display_schemas={"list": {"header": {"type": "inline", "value": f"Hello {_new()}"}}}
    ),
    "read more texts": lambda o, club: Offer.objects.filter(pk=o.pk).update(read_more={"title": f"More {_new()}"}),
    "a tag added": lambda o, club: OfferTag.objects.create(offer=o, value=f"added tag {_new()}"),
    "a tag deleted by raw SQL": lambda o, club: _raw("DELETE FROM offers_offertag WHERE offer_id = %s", [o.pk]),
    "a store renamed": lambda o, club: OfferStore.objects.filter(offer=o).update(value=f"renamed store {_new()}"),
    "a collection linked": lambda o, club: CollectionOffer.objects.create(
        offer=o, collection=CollectionFactory(club=club)
    ),
    "a collection unlinked": lambda o, club: CollectionOffer.objects.filter(offer=o).delete(),
    "a file resized": lambda o, club: OfferFile.objects.filter(offer=o).update(width=_new() + 1),
    "a file added": lambda o, club: OfferFileFactory(offer=o, url=f"https://cdn.example.com/new-{_new()}.jpg"),
    "a file deleted": lambda o, club: OfferFile.objects.filter(offer=o).delete(),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_change_is_seen_by_the_next_request(member_api, club, offers, change):
    target = offers[1]
    detail = f"{LIST}/{target.pk}"
    before_list, _ = _get(member_api, LIST)
    before_detail, _ = _get(member_api, detail)
    revision = _revision(target)

    CHANGES[change](target, club)

    assert _revision(target) > revision
    after_list, _ = _get(member_api, LIST)
    after_detail, _ = _get(member_api, detail)
    assert after_list != before_list and after_detail != before_detail
    assert after_list == _fresh(member_api, LIST)
    assert after_detail == _fresh(member_api, detail)
    # The other offers kept their entries: only the changed one was read again.
    assert [o for o in after_list["offers"] if o["id"] != target.pk] == [
        o for o in before_list["offers"] if o["id"] != target.pk
    ]


def test_an_unrendered_change_keeps_the_revision(member_api, club, offers):
    """A use, a grant count, the stock, the internal name: the same rendering, so the same revision (the hot
    path of a popular offer keeps its entry)."""
    target = offers[0]
    revision = _revision(target)
    response = member_api.post(f"{LIST}/{target.pk}/use", {}, format="json")
    assert response.status_code == 200, response.content
    Offer.objects.filter(pk=target.pk).update(stock=500, internal_name="changed", grants_count=3)
    assert _revision(target) == revision


def test_a_new_offer_gets_a_revision_of_its_own(club):
    first, second = OfferFactory(club=club), OfferFactory(club=club)
    assert 0 < _revision(first) < _revision(second)


def test_a_deleted_offer_leaves_the_list_and_its_detail_answers_404(member_api, club, offers):
    _get(member_api, LIST)
    catalog.offers_delete(offers=[offers[2]])
    body, _ = _get(member_api, LIST)
    assert [o["id"] for o in body["offers"]] == [offers[0].pk, offers[1].pk]
    assert member_api.get(f"{LIST}/{offers[2].pk}").status_code == 404


def test_the_cache_is_bounded(member_api, settings, offers):
    settings.OFFERS_CONTENT_CACHE_ENTRIES = 2
    first, _ = _get(member_api, LIST)
    assert len(content._entries) == 2
    second, _ = _get(member_api, LIST)
    assert second == first == _fresh(member_api, LIST)


def test_off_renders_every_request(member_api, settings, offers):
    settings.OFFERS_CONTENT_CACHE_ENTRIES = 0
    _, cold_statements = _get(member_api, LIST)
    _, again_statements = _get(member_api, LIST)
    assert again_statements == cold_statements
    assert content._entries == {}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(sorted(CHANGES)), st.integers(0, 2)), min_size=1, max_size=6))
def test_any_sequence_of_changes_answers_what_a_cold_worker_answers(member_api, club, offers, steps):
    for change, index in steps:
        _get(member_api, LIST)  # warm the entries the change must invalidate
        CHANGES[change](Offer.objects.get(pk=offers[index].pk), club)
        warm, _ = _get(member_api, LIST)
        assert warm == _fresh(member_api, LIST)
