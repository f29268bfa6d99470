"""kit.db.arrays.pg_array: the text of an array parameter, read back by PostgreSQL as the same values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from kit.db.arrays import pg_array


def test_integers_and_aware_datetimes_render_as_array_text():
    assert pg_array([3, 1, 2]) == "{3,1,2}"
    assert pg_array([]) == "{}"
    moment = datetime(2026, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC)
    assert pg_array([moment]) == '{"2026-01-02 03:04:05.600000+00:00"}'


@pytest.mark.parametrize("value", ["1}", "1,2", 1.5, None, datetime(2026, 1, 1)])
def test_anything_but_integers_and_aware_datetimes_is_refused(value):
    with pytest.raises((TypeError, ValueError)):
        pg_array([1, value])


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_reads_back_the_same_values():
    ids = [2**62, -5, 0, 17]
    moments = [
        datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 3, 29, 3, 0, tzinfo=timezone(timedelta(hours=2))),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::bigint[], %s::timestamptz[]", [pg_array(ids), pg_array(moments)])
        got_ids, got_moments = cursor.fetchone()
    assert got_ids == ids
    assert got_moments == moments


@pytest.mark.django_db
def test_update_from_values_sets_each_row_its_own_value_and_leaves_the_others():
    """One statement for any number of rows, on either database: integers and aware datetimes."""
    from kit.db.arrays import update_from_values
    from loyalty.models import Member
    from rewards.models import Membership
    from tests.factories import MemberFactory

    members = MemberFactory.create_batch(3)
    memberships = [Membership.objects.create(member=m, balance=10) for m in members]
    update_from_values(
        table=Membership._meta.db_table,
        assignment="balance = {table}.balance - v.column2",
        rows=[(memberships[0].id, 3), (memberships[2].id, 10)],
        types=("bigint", "integer"),
    )
    assert [Membership.objects.get(pk=m.pk).balance for m in memberships] == [7, 10, 0]

    until = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    update_from_values(
        table=Member._meta.db_table,
        assignment="banned_until = v.column2",
        rows=[(members[1].id, until)],
        types=("bigint", "timestamptz"),
    )
    assert [Member.objects.get(pk=m.pk).banned_until for m in members] == [None, until, None]
    update_from_values(table=Member._meta.db_table, assignment="banned_until = v.column2", rows=[], types=("", ""))
