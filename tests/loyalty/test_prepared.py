"""`kit.prepared.PreparedLookup`: the compiled-once lookups give what the ORM gives, for any values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kit.prepared import PreparedLookup
from loyalty.models import Member
from tests.factories import LoyaltyClubFactory, MemberFactory
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

FIELDS = [field.attname for field in Member._meta.concrete_fields]


def test_instances_equal_what_the_orm_loads_and_values_change_per_call():
    club, other = LoyaltyClubFactory(), LoyaltyClubFactory()
    banned = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    a = MemberFactory(club=club, birthday=date(1990, 2, 3), banned_until=banned)
    b = MemberFactory(club=club, msisdn="+4712345678")
    lookup = PreparedLookup(lambda p: Member.objects.filter(pk=p.pk, club_id=p.club_id))

    for member in (a, b):
        got = lookup.first(pk=member.pk, club_id=club.pk)
        expected = Member.objects.get(pk=member.pk)
        assert [getattr(got, f) for f in FIELDS] == [getattr(expected, f) for f in FIELDS]
        assert got._state.adding is False and got._state.db == "default"
    assert lookup.first(pk=a.pk, club_id=other.pk) is None  # another club's member: not found
    assert lookup.first(pk=10**12, club_id=club.pk) is None


def test_datetime_values_are_compared_in_the_database():
    club = LoyaltyClubFactory()
    until = datetime(2030, 1, 1, 12, tzinfo=UTC)
    member = MemberFactory(club=club, banned_until=until)
    banned_at = PreparedLookup(lambda p: Member.objects.filter(club_id=p.club_id, banned_until__gt=p.now))

    assert banned_at.all(club_id=club.pk, now=until - timedelta(microseconds=1)) == [member]
    assert banned_at.all(club_id=club.pk, now=until) == []


def test_values_list_rows_are_converted_like_the_orm():
    club = LoyaltyClubFactory()
    endpoint = WebhookEndpoint.objects.create(club=club, url="https://example.com/h", events=["offer.used"])
    WebhookEndpoint.objects.create(club=club, url="https://example.com/off", events=["x"], active=False)
    lookup = PreparedLookup(
        lambda p: WebhookEndpoint.objects.filter(club_id=p.club_id, active=True).values_list("id", "events")
    )

    assert lookup.rows(club_id=club.pk) == [[endpoint.pk, ["offer.used"]]]
    with pytest.raises(TypeError):
        lookup.first(club_id=club.pk)  # values_list rows are not model instances


def test_builds_once_then_runs_one_query_per_call():
    club = LoyaltyClubFactory()
    member = MemberFactory(club=club)
    built = []

    def build(p):
        built.append(1)
        return Member.objects.filter(pk=p.pk, club_id=p.club_id)

    lookup = PreparedLookup(build)
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            assert lookup.first(pk=member.pk, club_id=club.pk) == member
        assert len(queries) == 1
    assert len(built) == 1


def test_a_sentinel_that_does_not_reach_the_parameters_is_refused():
    # `abs()` of the value is not the sentinel itself, so the SQL could not be reused with other values.
    lookup = PreparedLookup(lambda p: Member.objects.filter(pk__in=[p.pk, 1]).filter(club_id=abs(p.club_id)))
    with pytest.raises(ValueError, match="sentinels missing"):
        lookup.first(pk=1, club_id=1)


def test_a_paged_lookup_takes_limit_and_offset_per_call():
    club = LoyaltyClubFactory()
    members = [MemberFactory(club=club) for _ in range(5)]
    page = PreparedLookup(lambda p: Member.objects.filter(club_id=p.club_id).order_by("-id"), paged=True)

    newest_first = list(reversed(members))
    assert page.all(club_id=club.pk, limit=2, offset=0) == newest_first[:2]
    assert page.all(club_id=club.pk, limit=2, offset=2) == newest_first[2:4]
    assert page.all(club_id=club.pk, limit=10, offset=4) == newest_first[4:]
    with pytest.raises(ValueError, match="must not be sliced"):
        PreparedLookup(lambda p: Member.objects.filter(club_id=p.club_id)[:3], paged=True).all(
            club_id=club.pk, limit=1, offset=0
        )


def test_json_columns_decode_like_django_including_what_orjson_refuses():
    from kit.prepared import _json_load

    assert _json_load(None, None, None) is None
    assert _json_load('{"en": "Coffee", "nb": "Kaffe"}', None, None) == {"en": "Coffee", "nb": "Kaffe"}
    assert _json_load(str(2**70), None, None) == 2**70  # beyond orjson's 64-bit integers: the json module
    assert _json_load("not json", None, None) == "not json"  # as Django's JSONField.from_db_value does
