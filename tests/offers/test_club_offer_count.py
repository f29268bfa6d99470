"""The management list's total comes from the club's kept offer counts (`ClubOfferCount`, PostgreSQL triggers,
offers.sql CLUB_OFFER_COUNT_V1): exact after the API, the ORM's bulk, upsert and queryset writes, raw SQL,
rolled-back savepoints, TRUNCATE, a club's deletion and concurrent writers — never a COUNT over the catalogue.
Writes with the triggers off are reported by reconcile_balances and mended by offers_counts_refresh; until then the
list checks the kept total against each page and counts when the two disagree."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.models import LoyaltyClub
from offers.invariants import offers_reconcile
from offers.models import ClubOfferCount, Offer
from tests.factories import LoyaltyClubFactory
from tests.offers.factories import OfferFactory

pytestmark = pytest.mark.postgres

URL = "/v3/infinity-mall/offers"
NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def kept() -> dict[tuple[int, bool], int]:
    return {(c.club_id, c.archived): c.offers for c in ClubOfferCount.objects.all() if c.offers}


def actual() -> dict[tuple[int, bool], int]:
    counts: dict[tuple[int, bool], int] = {}
    for club_id, archived_at in Offer.objects.values_list("club_id", "archived_at"):
        key = (club_id, archived_at is not None)
        counts[key] = counts.get(key, 0) + 1
    return counts


def totals(api) -> tuple[int, int, int]:
    """(live, with archived, only archived) as the management list answers them."""
    out = []
    for query in ("", "?with_archived=true", "?only_archived=true"):
        response = api.get(URL + query)
        assert response.status_code == 200, response.json()
        out.append(response.json()["pagination_info"]["total_count"])
    return tuple(out)


@pytest.mark.django_db
def test_the_total_is_the_kept_count_not_a_count_of_offers(api, club):
    OfferFactory.create_batch(3, club=club)
    with CaptureQueriesContext(connection) as queries:
        response = api.get(URL)
    assert response.json()["pagination_info"]["total_count"] == 3
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "offers_offer" in q["sql"]]
    assert [q for q in queries if "offers_cluboffercount" in q["sql"]]


@pytest.mark.django_db
def test_filtered_lists_still_count_what_matches(api, club):
    OfferFactory.create_batch(2, club=club, tags=["a"])
    OfferFactory.create_batch(3, club=club)
    assert api.get(URL + "?tags=a").json()["pagination_info"]["total_count"] == 2
    assert api.get(URL + "?sort_by=created_at").json()["pagination_info"]["total_count"] == 5


@pytest.mark.django_db
def test_every_way_of_writing_offers_keeps_the_counts(api, club, other_club):
    made = api.post(URL, {"offers": [{"name": "A"}, {"name": "B"}, {"name": "C"}]}, format="json")
    assert made.status_code == 200, made.json()
    assert totals(api) == (3, 3, 0)
    ids = sorted(Offer.objects.filter(club=club).values_list("id", flat=True))

    assert api.post(f"{URL}/archive", {"ids": ids[:2]}, format="json").status_code == 200
    assert totals(api) == (1, 3, 2)
    assert api.post(f"{URL}/unarchive", {"ids": ids[:1]}, format="json").status_code == 200
    assert totals(api) == (2, 3, 1)

    Offer.objects.bulk_create([Offer(club=club, name="bulk", internal_name="bulk") for _ in range(5)])
    assert totals(api) == (7, 8, 1)
    Offer.objects.filter(club=club, name="bulk").update(archived_at=NOW)
    assert totals(api) == (2, 8, 6)
    Offer.objects.filter(club=club, name="bulk").update(stock=3)  # neither club nor archived state
    assert totals(api) == (2, 8, 6)
    Offer.objects.filter(club=club, name="bulk").delete()
    assert totals(api) == (2, 3, 1)

    with connection.cursor() as cursor:
        cursor.execute("UPDATE offers_offer SET club_id = %s WHERE id = %s", [other_club.pk, ids[2]])
    assert totals(api) == (1, 2, 1)
    assert kept()[(other_club.pk, False)] == 1

    assert api.delete(URL, {"ids": ids[:1]}, format="json").status_code == 200
    assert totals(api) == (0, 1, 1)
    assert kept() == actual()


@pytest.mark.django_db
def test_deleting_a_club_brings_its_counts_to_zero():
    doomed = LoyaltyClubFactory()
    OfferFactory.create_batch(4, club=doomed)
    OfferFactory(club=doomed, archived_at=NOW)
    assert kept() == actual() == {(doomed.pk, False): 4, (doomed.pk, True): 1}
    LoyaltyClub.objects.filter(pk=doomed.pk).delete()
    assert kept() == actual() == {}


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["insert", "archive", "unarchive", "delete", "move", "touch"]), st.integers(0, 5)),
        max_size=12,
    )
)
def test_any_sequence_of_writes_keeps_the_counts(club, other_club, steps):
    clubs = [club.pk, other_club.pk]
    for action, n in steps:
        mine = Offer.objects.filter(pk__in=Offer.objects.order_by("id").values("id")[:n])
        if action == "insert":
            Offer.objects.bulk_create([Offer(club_id=clubs[i % 2], name="x", internal_name="x") for i in range(n)])
        elif action == "archive":
            mine.update(archived_at=NOW)
        elif action == "unarchive":
            mine.update(archived_at=None)
        elif action == "delete":
            mine.delete()
        elif action == "move":
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE offers_offer SET club_id = CASE WHEN club_id = %s THEN %s ELSE %s END WHERE id <= "
                    "(SELECT COALESCE(MIN(id), 0) + %s FROM offers_offer)",
                    [clubs[0], clubs[1], clubs[0], n],
                )
        else:
            mine.update(uses_count=n)
        assert kept() == actual()
    Offer.objects.all().delete()
    assert kept() == {}


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_club_lose_no_count(club):
    OfferFactory.create_batch(10, club=club)
    archivable = list(Offer.objects.values_list("id", flat=True))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            barrier.wait()
            for i in range(10):
                if k == 0:
                    Offer.objects.filter(pk=archivable[i]).update(archived_at=NOW)
                elif k == 1:
                    Offer.objects.filter(pk=archivable[i]).update(archived_at=None)
                else:
                    Offer.objects.create(club=club, name=f"{k}-{i}", internal_name="c")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(actual().values()) == 30
    assert kept() == actual()


@pytest.mark.django_db
def test_upserts_rolled_back_savepoints_and_truncate_keep_the_counts(club):
    first = OfferFactory(club=club)
    Offer.objects.bulk_create(
        [
            Offer(pk=first.pk, club=club, name="again", internal_name="x", archived_at=NOW),
            Offer(club=club, name="new", internal_name="x"),
        ],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["name", "archived_at"],
    )
    assert kept() == actual() == {(club.pk, True): 1, (club.pk, False): 1}

    with pytest.raises(RuntimeError), transaction.atomic():
        OfferFactory.create_batch(3, club=club)
        Offer.objects.filter(pk=first.pk).update(archived_at=None)
        raise RuntimeError("rolled back")
    assert kept() == actual() == {(club.pk, True): 1, (club.pk, False): 1}

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks may be pending at a TRUNCATE
        cursor.execute("TRUNCATE offers_offer CASCADE")
    assert kept() == actual() == {}
    OfferFactory(club=club)
    assert kept() == actual() == {(club.pk, False): 1}


@pytest.mark.django_db
def test_writes_with_the_triggers_off_are_reported_and_refreshed(club):
    OfferFactory.create_batch(2, club=club)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM offers_offer WHERE club_id = %s", [club.pk])
        cursor.execute("SET LOCAL session_replication_role = origin")
    found = offers_reconcile(club=club).mismatches
    assert found == [{"club_id": club.pk, "check": "club_offer_count", "archived": False, "expected": 0, "actual": 2}]

    call_command("offers_counts_refresh")
    assert offers_reconcile(club=club).mismatches == []
    assert kept() == actual() == {}


class _TriggersOff:
    """Writes inside the block fire no trigger (as a restore or a bulk load with triggers off would do)."""

    def __enter__(self):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")

    def __exit__(self, *exc):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = origin")


def page(api, query: str) -> tuple[list[int], int]:
    response = api.get(URL + query)
    assert response.status_code == 200, response.json()
    body = response.json()
    return [offer["id"] for offer in body["offers"]], body["pagination_info"]["total_count"]


@pytest.mark.django_db
@pytest.mark.parametrize("sort", ["", "&sort_by=created_at"])
def test_a_count_gone_low_still_serves_every_page_and_the_true_total(api, club, sort, caplog):
    OfferFactory.create_batch(3, club=club)
    with _TriggersOff():
        OfferFactory.create_batch(4, club=club)  # the kept count still says 3
    assert kept() == {(club.pk, False): 3}
    every = set(Offer.objects.filter(club=club).values_list("id", flat=True))

    ids, total = page(api, f"?per_page=2&page_no=1{sort}")
    assert (len(ids), total) == (2, 3)  # a full page inside the kept total cannot tell: the kept total stands
    seen = set(ids)
    for page_no in (2, 3, 4):
        ids, total = page(api, f"?per_page=2&page_no={page_no}{sort}")
        assert total == 7
        assert len(ids) == (2 if page_no < 4 else 1)
        seen.update(ids)
    assert seen == every
    assert "the kept offer count is stale (kept 3, counted 7)" in caplog.text
    assert page(api, f"?per_page=2&page_no=5{sort}") == ([], 7)

    call_command("offers_counts_refresh")
    assert page(api, f"?per_page=2&page_no=1{sort}")[1] == 7


@pytest.mark.django_db
@pytest.mark.parametrize("sort", ["", "&sort_by=created_at"])
def test_a_count_gone_high_gives_the_true_total_on_the_short_page(api, club, sort, caplog):
    offers = OfferFactory.create_batch(5, club=club)
    with _TriggersOff():
        Offer.objects.filter(pk__in=[o.pk for o in offers[:2]]).delete()  # the kept count still says 5
    ids, total = page(api, f"?per_page=2&page_no=2{sort}")
    assert (len(ids), total) == (1, 3)  # the short page shows the list ends sooner than the kept total says
    assert page(api, f"?per_page=2&page_no=3{sort}") == ([], 3)
    assert "the kept offer count is stale (kept 5, counted 3)" in caplog.text

    call_command("offers_counts_refresh")
    assert offers_reconcile(club=club).mismatches == []


@pytest.mark.django_db
def test_a_right_count_costs_no_count_on_any_page_inside_the_list(api, club):
    OfferFactory.create_batch(5, club=club)
    for page_no in (1, 2, 3):
        with CaptureQueriesContext(connection) as queries:
            ids, total = page(api, f"?per_page=2&page_no={page_no}")
        assert total == 5 and len(ids) == (2 if page_no < 3 else 1)
        assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "offers_offer" in q["sql"]]
