"""The API through a real PgBouncer 1.18-style transaction pooler (issue 19): concurrent offer uses through
gunicorn, PgBouncer and PostgreSQL give exact counts and no error, and a configuration that would prepare
statements on shared server sessions is refused at start-up with a clear message."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from offers.models import OfferUsage
from tests.factories import MemberFactory
from tests.offers.factories import OfferFactory
from tests.offers.test_concurrency import assert_counters_match_rows
from tests.production.servers import ROOT, Gunicorn, direct_database, django_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MEMBERS = 30
USES_EACH = 8
STOCK = 150


def _use_all(base: str, secret: str, club_slug: str, offer_id: int, member_ids: list[int]) -> Counter:
    headers = {"X-Client-Authorization": secret, "X-User-Agent": "pytest", "X-Product-Name": "pgbouncer-test"}
    local = {}

    def use(member_id: int) -> tuple[int, str]:
        import threading

        session = local.setdefault(threading.get_ident(), requests.Session())
        response = session.post(
            f"{base}/v3/{club_slug}/members/{member_id}/offers/{offer_id}/use", json={}, headers=headers, timeout=60
        )
        try:
            error = response.json().get("error", "ok")
        except ValueError:
            error = response.text[:200]
        return response.status_code, error

    calls = [m for m in member_ids for _ in range(USES_EACH)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        return Counter(pool.map(use, calls))


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({}, id="pooler-defaults"),
        pytest.param(
            {"DATABASE_SERVER_SIDE_BINDING": "true", "DATABASE_PREPARE_THRESHOLD": "none"}, id="server-side-unprepared"
        ),
    ],
)
def test_concurrent_uses_through_pgbouncer_in_transaction_mode_are_exact(
    settings, pgbouncer_factory, club, full_token, tmp_path
):
    club.activated_seconds_time = 0  # back-to-back uses of one member are not refused as `Already active`
    club.save(update_fields=["activated_seconds_time"])
    offer = OfferFactory(club=club, stock=STOCK)
    members = [MemberFactory(club=club).id for _ in range(MEMBERS)]
    bouncer = pgbouncer_factory(pool_mode="transaction", pool_size=3)
    env = django_env(DATABASE_URL=bouncer.url(), DATABASE_POOLER="pgbouncer-transaction", **settings)
    # 2 processes × 4 threads = 8 clients (persistent connections) on 3 server connections.
    server = Gunicorn(log_path=tmp_path / "gunicorn.log", env=env, workers=2, threads=4).start()
    try:
        counted = _use_all(server.base, full_token, club.slug, offer.id, members)
    finally:
        server.stop()

    assert counted == {(200, "ok"): STOCK, (422, "Global limit exceeded"): MEMBERS * USES_EACH - STOCK}, (
        f"{counted}\n{server.log[-3000:]}"
    )
    assert OfferUsage.objects.filter(offer=offer).count() == STOCK
    assert_counters_match_rows(offer)
    assert offer.uses_count == STOCK
    # The traffic did go through PgBouncer, on its few server connections.
    with psycopg.connect(f"postgresql://{bouncer.user}@127.0.0.1:{bouncer.port}/pgbouncer", autocommit=True) as admin:
        stats = {row[0]: row for row in admin.execute("SHOW STATS").fetchall()}
    assert stats[direct_database()["name"]][1] >= MEMBERS * USES_EACH  # total_xact_count


def _connect_with(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.db import connection; connection.ensure_connection()"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_the_default_settings_through_pgbouncer_stop_with_a_clear_error(pgbouncer_factory):
    """PgBouncer 1.18 refuses the startup options a direct connection sends (`-c jit=off`)."""
    bouncer = pgbouncer_factory(pool_mode="transaction")
    done = _connect_with(django_env(DATABASE_URL=bouncer.url()))
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and "DATABASE_POOLER=pgbouncer-transaction" in done.stderr


def test_prepared_statements_through_an_undeclared_pooler_are_refused_at_start(pgbouncer_factory):
    """A pooler told to ignore the options (the usual hand edit) no longer refuses the connection: then the
    backend key gives PgBouncer away, and prepared statements on shared sessions are refused."""
    bouncer = pgbouncer_factory(pool_mode="transaction", extra="ignore_startup_parameters = options")
    done = _connect_with(django_env(DATABASE_URL=bouncer.url()))
    assert done.returncode != 0
    assert "connection pooler" in done.stderr and "DATABASE_POOLER=pgbouncer-transaction" in done.stderr

    unprepared = _connect_with(django_env(DATABASE_URL=bouncer.url(), DATABASE_PREPARE_THRESHOLD="none"))
    assert unprepared.returncode == 0, unprepared.stderr


def test_a_direct_connection_with_prepared_statements_is_not_mistaken_for_a_pooler(postgresql):
    done = _connect_with(django_env())
    assert done.returncode == 0, done.stderr


def test_behind_a_pooler_jit_is_off_through_the_database_setting(pgbouncer_factory):
    """No startup option carries jit=off through a pooler: `migrate` sets it on the database instead."""
    bouncer = pgbouncer_factory(pool_mode="transaction")
    code = (
        "import django; django.setup(); from django.db import connection; c = connection.cursor(); "
        "c.execute('SHOW jit'); print(c.fetchone()[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=django_env(DATABASE_URL=bouncer.url(), DATABASE_POOLER="pgbouncer-transaction"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "off"


def test_gunicorn_and_a_celery_worker_refuse_to_start_through_an_undeclared_pooler(pgbouncer_factory, tmp_path):
    bouncer = pgbouncer_factory(pool_mode="transaction", extra="ignore_startup_parameters = options")
    env = django_env(DATABASE_URL=bouncer.url())
    server = Gunicorn(log_path=tmp_path / "gunicorn.log", env=env, workers=1)
    with pytest.raises(AssertionError, match="gunicorn exited"):
        server.start(timeout=60)
    assert "DATABASE_POOLER=pgbouncer-transaction" in server.log

    worker = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--without-mingle"],
        cwd=ROOT,
        env={**env, "CELERY_BROKER_URL": "memory://"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode != 0
    assert "DATABASE_POOLER=pgbouncer-transaction" in worker.stdout + worker.stderr
