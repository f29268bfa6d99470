"""The PostgreSQL backend's health check (kit.db.postgresql): no round trip for a healthy connection,
a dropped one replaced before the request uses it."""

from __future__ import annotations

import time

import pytest
from django.db import DataError, close_old_connections, connection, connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _backend_pid(wrapper) -> int:
    return wrapper.connection.info.backend_pid


def _terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the server's FATAL message and FIN reach the client's socket


def _last_query(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0]


@pytest.fixture
def other():
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def test_the_backend_is_ours_and_still_postgresql():
    wrapper = connections["default"]
    assert wrapper.vendor == "postgresql"
    assert type(wrapper).__module__ == "kit.db.postgresql.base"


def test_a_healthy_connection_is_usable_without_a_query(other):
    with other.cursor() as cursor:
        cursor.execute("SELECT 'health-check-marker'")
    pid = _backend_pid(other)

    assert other.is_usable() is True
    assert "health-check-marker" in _last_query(pid)  # no SELECT 1 reached the server


def test_a_connection_the_server_dropped_is_not_usable_and_is_replaced(other):
    pid = _backend_pid(other)
    _terminate(pid)

    assert other.is_usable() is False
    other.health_check_enabled, other.health_check_done = True, False
    with other.cursor() as cursor:  # Django closes it and connects again before the first query
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


def test_a_closed_connection_is_not_usable(other):
    other.connection.close()
    assert other.is_usable() is False


def test_a_request_after_the_server_dropped_the_persistent_connection_succeeds(api, club):
    """The real stack: a persistent connection (CONN_MAX_AGE) dropped between two requests."""
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = 600
    try:
        client = api
        assert client.get(f"/v3/{club.slug}").status_code == 200
        pid = _backend_pid(connection)
        # Terminated from another session: the request's own connection must not run anything meanwhile.
        killer = connections.create_connection("default")
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        killer.close()
        time.sleep(0.2)
        # What the request_started signal does under a real server (the test client disconnects it).
        close_old_connections()

        response = client.get(f"/v3/{club.slug}")

        assert response.status_code == 200
        assert _backend_pid(connection) != pid
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = 0
        connection.close()


def test_inside_a_transaction_a_healthy_connection_stays_usable_and_a_failed_one_does_not(other):
    """As `SELECT 1` would answer: fine inside a transaction, not after an error aborted it."""
    other.set_autocommit(False)
    with other.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert other.is_usable() is True
    with pytest.raises(DataError), other.cursor() as cursor:
        cursor.execute("SELECT 1/0")
    assert other.is_usable() is False
    other.rollback()
    other.set_autocommit(True)
    assert other.is_usable() is True
