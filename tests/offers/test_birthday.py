"""Birthday offers (SPEC §8): each published BIRTHDAY offer to the members whose birthday is today in their
club's time zone, once per member, offer and year, however often (or concurrently) the job runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from kit.models import JobRun
from offers.birthday import offers_grant_birthday
from offers.models import BirthdayGrant, Offer, OfferGrant, OfferStatus, OfferType
from offers.tasks import grant_birthday_offers
from tests.concurrency import run_in_parallel
from tests.factories import LoyaltyClubFactory, MemberFactory
from tests.offers.factories import OfferFactory

JUNE_15_MORNING = datetime(2025, 6, 15, 8, 0, tzinfo=UTC)


def run_at(when: datetime, **kwargs):
    with time_machine.travel(when, tick=False):
        return offers_grant_birthday(**kwargs)


def granted() -> list[tuple[int, int]]:
    """(offer id, member id) of every birthday grant, in order."""
    return list(OfferGrant.objects.filter(source="birthday").order_by("id").values_list("offer_id", "member_id"))


def born(club, birthday: str, **fields):
    return MemberFactory(club=club, birthday=date.fromisoformat(birthday), **fields)


def birthday_offer(club, **fields) -> Offer:
    return OfferFactory(club=club, type=OfferType.BIRTHDAY, **fields)


def test_a_run_twice_on_the_birthday_grants_each_birthday_offer_once(club):
    cake, coffee = birthday_offer(club), birthday_offer(club)
    birthday_offer(club, status=OfferStatus.DRAFT)
    birthday_offer(club, archived_at=JUNE_15_MORNING - timedelta(days=1))
    birthday_offer(club, usable_until=JUNE_15_MORNING - timedelta(hours=1))
    OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    ada = born(club, "1990-06-15")
    born(club, "1990-06-16")
    born(club, "1990-05-15")
    MemberFactory(club=club, birthday=None)

    first = run_at(JUNE_15_MORNING)
    second = run_at(JUNE_15_MORNING + timedelta(hours=9))

    assert (first.granted, first.already_granted, second.granted, second.already_granted) == (2, 0, 0, 2)
    assert granted() == [(cake.pk, ada.pk), (coffee.pk, ada.pk)]
    assert set(BirthdayGrant.objects.values_list("offer_id", "member_id", "year")) == {
        (cake.pk, ada.pk, 2025),
        (coffee.pk, ada.pk, 2025),
    }
    grant = OfferGrant.objects.filter(offer=cake).get()
    # Usable for 30 days counted from the birthday, to midnight in the club's time zone.
    assert (grant.granted_at, grant.usable_until) == (JUNE_15_MORNING, datetime(2025, 7, 15, tzinfo=UTC))
    cake.refresh_from_db()
    assert cake.grants_count == 1


def test_a_birthday_that_is_today_in_auckland_but_not_in_utc_is_granted_by_the_auckland_clubs_run(db):
    auckland = LoyaltyClubFactory(slug="auckland", timezone="Pacific/Auckland")  # UTC+12 in June
    utc = LoyaltyClubFactory(slug="utc", timezone="UTC")
    auckland_offer, utc_offer = birthday_offer(auckland), birthday_offer(utc)
    kiwi = born(auckland, "1990-06-15")
    londoner_tomorrow = born(utc, "1990-06-15")
    londoner_today = born(utc, "1990-06-14")
    now = datetime(2025, 6, 14, 13, 0, tzinfo=UTC)  # 01:00 on 15 June in Auckland, still 14 June in UTC

    assert run_at(now, club=auckland).granted == 1
    assert granted() == [(auckland_offer.pk, kiwi.pk)]
    assert run_at(now).granted == 1  # every club: the UTC club's 14 June birthdays
    assert granted() == [(auckland_offer.pk, kiwi.pk), (utc_offer.pk, londoner_today.pk)]
    assert not OfferGrant.objects.filter(member=londoner_tomorrow).exists()
    kiwi_grant = OfferGrant.objects.get(member=kiwi)
    assert kiwi_grant.usable_until == datetime(2025, 7, 14, 12, 0, tzinfo=UTC)  # 15 July 00:00 in Auckland
    assert BirthdayGrant.objects.get(member=kiwi).year == 2025


def test_29_february_birthdays_are_celebrated_on_28_february_in_common_years(club):
    offer = birthday_offer(club)
    leapling = born(club, "2000-02-29")
    feb_28 = born(club, "2001-02-28")
    march_1 = born(club, "2001-03-01")

    run_at(datetime(2025, 2, 28, 12, tzinfo=UTC))
    run_at(datetime(2025, 3, 1, 12, tzinfo=UTC))
    assert granted() == [(offer.pk, leapling.pk), (offer.pk, feb_28.pk), (offer.pk, march_1.pk)]

    run_at(datetime(2028, 2, 28, 12, tzinfo=UTC))  # a leap year: the leapling waits for the 29th
    assert granted()[3:] == [(offer.pk, feb_28.pk)]
    run_at(datetime(2028, 2, 29, 12, tzinfo=UTC))
    assert granted()[4:] == [(offer.pk, leapling.pk)]


def test_the_next_birthday_grants_again(club):
    offer = birthday_offer(club)
    ada = born(club, "1990-06-15")

    run_at(JUNE_15_MORNING)
    run_at(JUNE_15_MORNING.replace(year=2026))

    assert granted() == [(offer.pk, ada.pk), (offer.pk, ada.pk)]
    assert sorted(BirthdayGrant.objects.values_list("year", flat=True)) == [2025, 2026]


def test_a_member_who_cannot_get_the_offer_now_is_tried_again_on_the_next_run_that_day(club):
    offer = birthday_offer(club)
    ada = born(club, "1990-06-15", banned_until=JUNE_15_MORNING + timedelta(hours=2))

    assert run_at(JUNE_15_MORNING).refused == 1
    assert not BirthdayGrant.objects.exists() and granted() == []

    assert run_at(JUNE_15_MORNING + timedelta(hours=3)).granted == 1
    assert granted() == [(offer.pk, ada.pk)]


def test_the_grant_limit_of_the_offer_still_applies(club):
    birthday_offer(club, maximum_grants_per_user=1)
    born(club, "1990-06-15")

    run_at(JUNE_15_MORNING)
    assert run_at(JUNE_15_MORNING.replace(year=2026)).refused == 1
    assert len(granted()) == 1


def test_large_clubs_are_granted_in_batches(club):
    offer = birthday_offer(club)
    members = [born(club, "1990-06-15") for _ in range(5)]
    batches = []

    assert run_at(JUNE_15_MORNING, batch_size=2, on_batch=batches.append).granted == 5

    assert batches == [2, 2, 1]
    assert granted() == [(offer.pk, m.pk) for m in members]


def test_the_task_runs_under_its_job_name_and_a_duplicate_run_grants_nothing(club):
    offer = birthday_offer(club)
    ada = born(club, "1990-06-15")

    with time_machine.travel(JUNE_15_MORNING, tick=False):
        assert grant_birthday_offers.delay().get() == {"granted": 1, "already_granted": 0, "refused": 0}
        assert grant_birthday_offers.delay().get() == {"granted": 0, "already_granted": 1, "refused": 0}

    assert list(JobRun.objects.values_list("name", "status")) == [("birthday-offers", "ok")] * 2
    assert granted() == [(offer.pk, ada.pk)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_grant_each_member_each_offer_exactly_once():
    club = LoyaltyClubFactory(slug="party")
    offers = [birthday_offer(club), birthday_offer(club)]
    members = [born(club, "1990-06-15") for _ in range(12)]

    with time_machine.travel(JUNE_15_MORNING):
        results = run_in_parallel([lambda: offers_grant_birthday(batch_size=5)] * 4)

    assert not any(isinstance(r, Exception) for r in results), results
    assert sum(r.granted for r in results) == 24
    assert sorted(granted()) == sorted((o.pk, m.pk) for o in offers for m in members)
    assert [Offer.objects.get(pk=o.pk).grants_count for o in offers] == [12, 12]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the index exists on PostgreSQL only")
def test_the_day_s_birthday_members_are_found_through_the_birthday_index(club):
    """The query the job runs matches the expression index of migration loyalty 0006 (when PostgreSQL may
    not scan the table, it must still find a plan: that plan is the index)."""
    from django.test.utils import CaptureQueriesContext

    from loyalty.models import Member
    from offers.birthday import birthday_member_ids

    born = MemberFactory(club=club, birthday=date(1990, 2, 28))
    # A club big enough that reading all its members through the club index costs more than the day's few.
    others = MemberFactory.build_batch(3000, club=club)
    for i, member in enumerate(others):
        member.birthday = date(1980, 3, 1) + timedelta(days=i % 300)  # 1 March to 25 December
    Member.objects.bulk_create(others, batch_size=1000)
    with CaptureQueriesContext(connection) as queries:
        found = birthday_member_ids(club=club, local_day=date(2027, 2, 28))  # 28 and 29 February
    assert found == [born.pk]
    [query] = queries.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE loyalty_member")  # statistics of the rows above, index expressions included
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + query["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "member_club_birthday_md" in plan, plan
