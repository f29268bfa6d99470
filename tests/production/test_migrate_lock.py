"""`manage.py migrate` from two processes at once on a fresh database (issue 19): one waits for the other's
advisory lock, both succeed, every migration is applied once."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import psycopg
import pytest

from kit.management.commands.migrate import MIGRATE_LOCK_KEY
from tests.production.servers import ROOT, direct_database, django_env

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def fresh_database(postgresql):
    db = direct_database()
    name = f"{db['name']}_migrate_{uuid.uuid4().hex[:8]}"
    admin_url = f"postgresql://{db['user']}@{db['host']}:{db['port']}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield {**db, "name": name, "url": f"postgres://{db['user']}@{db['host']}:{db['port']}/{name}"}
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(url: str, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT,
        env=django_env(DATABASE_URL=url),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_migrate_runs_both_succeed_one_after_the_other(fresh_database, tmp_path):
    url = fresh_database["url"].replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as holder:
        # Hold the lock, so both runs are surely underway at the same time before either may start.
        holder.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK_KEY])
        logs = [open(tmp_path / f"migrate-{i}.log", "wb") for i in range(2)]  # noqa: SIM115
        runs = [_migrate(fresh_database["url"], log) for log in logs]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            waiting = holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE %s AND pid <> pg_backend_pid()",
                ["%pg_try_advisory_lock%"],
            ).fetchone()[0]
            if waiting == 2:
                break
            time.sleep(0.2)
        tables = holder.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
        assert tables == 0, "a migrate run did not wait for the lock"
        assert all(run.poll() is None for run in runs)
        holder.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK_KEY])

        codes = [run.wait(timeout=300) for run in runs]
        for log in logs:
            log.close()
        output = [(tmp_path / f"migrate-{i}.log").read_text() for i in range(2)]
        assert codes == [0, 0], "\n\n".join(output)
        duplicates = holder.execute(
            "SELECT app, name FROM django_migrations GROUP BY app, name HAVING count(*) > 1"
        ).fetchall()
        assert duplicates == []
        assert holder.execute("SELECT count(*) FROM django_migrations").fetchone()[0] > 20
    # One of the two did the work, the other found it done.
    assert sum("No migrations to apply" in text for text in output) == 1, output
