"""Fixtures starting real PgBouncer and gunicorn processes (tests/production/servers.py)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.production.servers import PGBOUNCER, PgBouncer


@pytest.fixture
def postgresql(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the server processes share the test database (CI runs it)")


@pytest.fixture
def pgbouncer_factory(postgresql):
    """pgbouncer_factory(pool_mode=…, extra=…) -> a started PgBouncer; all are stopped after the test."""
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (Debian package `pgbouncer`; .ci/run installs it)")
    started: list[PgBouncer] = []

    def start(**kwargs) -> PgBouncer:
        bouncer = PgBouncer(**kwargs).start()
        started.append(bouncer)
        return bouncer

    yield start
    for bouncer in started:
        bouncer.stop()
