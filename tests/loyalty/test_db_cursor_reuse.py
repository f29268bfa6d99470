"""The PostgreSQL backend keeps the last closed cursor of a connection for the next `cursor()`
(kit.db.postgresql.ReusableCursorMixin): one holder at a time, nothing of the previous statement left in it, and
never across connections, row factories or time zones."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import ProgrammingError
from psycopg.rows import dict_row

from kit.db.postgresql.base import ReusableCursorMixin

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _raw(wrapper):
    return wrapper.cursor


def test_a_closed_cursor_serves_the_next_statement_with_nothing_of_the_last():
    with connection.cursor() as cursor:
        cursor.execute("SELECT generate_series(1, 1000)")
        assert cursor.fetchone() == (1,)  # rows left unread
        first = _raw(cursor)
    assert isinstance(first, ReusableCursorMixin)
    assert connection._idle_cursor is first
    with connection.cursor() as cursor:
        assert _raw(cursor) is first
        assert connection._idle_cursor is None  # one holder at a time
        assert cursor.description is None and cursor.rowcount == -1 and cursor.pgresult is None
        cursor.execute("SELECT %s::int, %s::text", [7, "x"])
        assert cursor.fetchall() == [(7, "x")]


def test_a_second_cursor_opened_meanwhile_is_a_new_one():
    with connection.cursor() as outer, connection.cursor() as inner:
        assert _raw(outer) is not _raw(inner)
        outer.execute("SELECT 1")
        inner.execute("SELECT 2")
        assert (outer.fetchone(), inner.fetchone()) == ((1,), (2,))
    assert connection._idle_cursor is not None  # the first to close; the other really closed


def test_the_orm_reads_through_a_reused_cursor_as_through_a_new_one(club):
    from loyalty.models import LoyaltyClub

    for _ in range(3):
        assert list(LoyaltyClub.objects.values_list("slug", flat=True)) == [club.slug]
        assert LoyaltyClub.objects.get(pk=club.pk).name == club.name


def test_an_error_leaves_the_cursor_usable():
    with pytest.raises(ProgrammingError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 3")
        assert cursor.fetchone() == (3,)


def test_a_cursor_whose_row_factory_changed_is_not_reused():
    with connection.cursor() as cursor:
        _raw(cursor).row_factory = dict_row
        cursor.execute("SELECT 1 AS one")
        assert cursor.fetchone() == {"one": 1}
        changed = _raw(cursor)
    assert connection._idle_cursor is not changed and changed.closed
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 AS one")
        assert cursor.fetchone() == (1,)


def test_a_new_connection_never_gets_the_old_ones_cursor():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        old = _raw(cursor)
    connection.close()
    assert connection._idle_cursor is None
    with connection.cursor() as cursor:
        assert _raw(cursor) is not old
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] == connection.connection.info.backend_pid


def test_server_side_cursors_are_never_kept(club):
    from loyalty.models import LoyaltyClub

    assert [c.slug for c in LoyaltyClub.objects.iterator(chunk_size=10)] == [club.slug]  # a named cursor
    assert not getattr(connection._idle_cursor, "name", None)
