"""loyalty.db.arrays.pg_array: the text of an array parameter, read back by PostgreSQL as the same values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from loyalty.db.arrays import pg_array


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
