"""The PostgreSQL backend reads `timestamptz` with psycopg's compiled loader (kit.db.postgresql.UTCTimestamptzLoader)
and gives exactly what Django's own loader gives: the same instants, the same `datetime.timezone.utc`, the same
errors, and Django's loader itself on a session that is not in UTC."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.db.postgresql.base import UTCTimestamptzLoader

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TIMESTAMPTZ_OID = 1184

instants = st.datetimes(
    min_value=datetime.datetime(1, 1, 2),
    max_value=datetime.datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [
            datetime.UTC,
            datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
            datetime.timezone(-datetime.timedelta(hours=11)),
        ]
    ),
)
LITERALS = [
    "2026-12-07 22:35:46+00",
    "2026-03-29 02:30:00.000001+02",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "1999-12-31 23:59:59.5-03:30",
]


def _read(sql: str, params: list, *, django_loader: bool):
    if not django_loader:
        with connection.cursor() as wrapper:
            wrapper.execute(sql, params)
            return wrapper.fetchall()
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:  # a cursor of its own, never handed back for reuse
        register_tzloader(connection.timezone, cursor)  # what Django alone registers
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_the_connection_reads_timestamps_with_the_compiled_loader():
    connection.ensure_connection()
    assert connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT) is UTCTimestamptzLoader
    with connection.cursor() as wrapper:
        wrapper.execute("SELECT now()")
        (value,) = wrapper.fetchone()
        loader = wrapper.cursor._tx.get_loader(TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)
    assert type(loader.load.__self__).__module__.startswith("psycopg_binary")
    assert value.tzinfo is datetime.UTC


@settings(max_examples=80, deadline=None)
@given(values=st.lists(instants, min_size=1, max_size=20))
def test_values_equal_djangos_loader(values):
    sql = "SELECT v FROM unnest(%s::timestamptz[]) AS v"
    ours = _read(sql, [values], django_loader=False)
    theirs = _read(sql, [values], django_loader=True)
    assert ours == theirs == [(v,) for v in values]
    assert all(v.tzinfo is datetime.UTC for (v,) in ours)


@pytest.mark.parametrize("literal", LITERALS)
def test_literals_equal_djangos_loader(literal):
    sql = "SELECT %s::timestamptz"
    assert _read(sql, [literal], django_loader=False) == _read(sql, [literal], django_loader=True)


@pytest.mark.parametrize("literal", ["infinity", "-infinity", "0044-03-15 12:00:00+00 BC"])
def test_values_python_cannot_hold_fail_as_with_djangos_loader(literal):
    sql = "SELECT %s::timestamptz"
    connection.ensure_connection()
    for django_loader in (False, True):
        with pytest.raises(psycopg.DataError), connection.connection.cursor() as cursor:
            if django_loader:
                register_tzloader(connection.timezone, cursor)
            cursor.execute(sql, [literal])
            cursor.fetchall()


def test_a_session_in_another_time_zone_is_read_by_djangos_loader():
    connection.ensure_connection()
    with connection.cursor() as wrapper:
        wrapper.execute("SET TIME ZONE 'America/St_Johns'")
    try:
        sql = "SELECT %s::timestamptz"
        literal = "2026-07-01 12:00:00+00"
        ours = _read(sql, [literal], django_loader=False)
        assert ours == _read(sql, [literal], django_loader=True)
        # Django's loader keeps the wall time of the session and labels it UTC; ours does the same there.
        assert ours == [(datetime.datetime(2026, 7, 1, 9, 30, tzinfo=datetime.UTC),)]
    finally:
        with connection.cursor() as wrapper:
            wrapper.execute("SET TIME ZONE 'UTC'")


def test_the_pure_python_psycopg_keeps_djangos_loader():
    """Under PSYCOPG_IMPL=python the C loaders cannot read a connection: Django's loader must stay."""
    settings_dict = connection.settings_dict
    url = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
        f"/{settings_dict['NAME']}"
    )
    code = (
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SELECT %s::timestamptz', ['2026-12-07 22:35:46.5+00'])\n"
        "    print(repr(c.fetchone()[0]), type(connection.connection.adapters.get_loader(1184, 0)).__name__,\n"
        "          connection.connection.adapters.get_loader(1184, 0).__name__)\n"
    )
    env = {
        **os.environ,
        "PSYCOPG_IMPL": "python",
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    value, _, loader = done.stdout.strip().rpartition(" ")
    assert loader == "SpecificTzLoader"  # Django's
    assert "datetime.datetime(2026, 12, 7, 22, 35, 46, 500000, tzinfo=datetime.timezone.utc)" in value
