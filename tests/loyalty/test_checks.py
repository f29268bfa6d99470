"""The database check loyalty.W001 and the DATABASE_PLAN_CACHE_MODE setting behind it."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager

import pytest
from django.db import connection

from kit.checks import postgresql_autovacuum

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL settings")


@contextmanager
def options(**changes):
    saved = dict(connection.settings_dict["OPTIONS"])
    connection.settings_dict["OPTIONS"].update(changes)
    try:
        yield
    finally:
        connection.settings_dict["OPTIONS"].clear()
        connection.settings_dict["OPTIONS"].update(saved)


def server(setting: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [setting])
        return cursor.fetchone()[0]


def session_set(setting: str, value: str) -> bool:
    """SET for this test's transaction (undone by its rollback); False when the role may not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SAVEPOINT check_set")
            cursor.execute(f"SET {setting} = {value}")
            cursor.execute("RELEASE SAVEPOINT check_set")
        return True
    except Exception:
        with connection.cursor() as cursor:
            cursor.execute("ROLLBACK TO SAVEPOINT check_set")
        return False


def w001(**option_changes) -> list[str]:
    with options(**{"server_side_binding": True, **option_changes}):
        return [problem.id for problem in postgresql_autovacuum(databases=["default"])]


@postgresql_only
def test_the_check_warns_as_the_server_is_configured():
    stale = server("plan_cache_mode") != "force_custom_plan" and "off" in (server("autovacuum"), server("track_counts"))
    assert w001() == (["loyalty.W001"] if stale else [])


@postgresql_only
def test_statistics_not_collected_warn_and_fresh_plans_or_no_prepared_statements_silence_it():
    if not session_set("track_counts", "off"):  # superuser only
        pytest.skip("the test role may not change track_counts")
    assert w001() == ["loyalty.W001"]
    with options(server_side_binding=True):
        [problem] = postgresql_autovacuum(databases=["default"])
    assert "track_counts=off" in problem.msg
    assert "DATABASE_PLAN_CACHE_MODE=force_custom_plan" in problem.hint
    assert w001(server_side_binding=False) == []
    assert session_set("plan_cache_mode", "force_custom_plan")
    assert w001() == []


def test_the_check_only_runs_for_the_databases_it_is_given():
    assert postgresql_autovacuum(databases=None) == []


def _run_with(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
            **env,
        },
        capture_output=True,
        text=True,
    )


OPTIONS = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS']['options'])"


def test_without_a_plan_cache_mode_the_server_setting_stands():
    done = _run_with(OPTIONS, DATABASE_PLAN_CACHE_MODE="")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["-c", "jit=off"]


def test_a_plan_cache_mode_is_passed_to_postgresql():
    done = _run_with(OPTIONS, DATABASE_PLAN_CACHE_MODE="force_custom_plan")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["-c", "jit=off", "-c", "plan_cache_mode=force_custom_plan"]


def test_an_unknown_plan_cache_mode_stops_the_start():
    done = _run_with(OPTIONS, DATABASE_PLAN_CACHE_MODE="sometimes")
    assert done.returncode != 0
    assert "DATABASE_PLAN_CACHE_MODE must be auto, force_custom_plan or force_generic_plan" in done.stderr


@postgresql_only
def test_the_plan_cache_mode_reaches_the_server_session():
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    show = (
        "from django.db import connection; c = connection.cursor(); "
        "c.execute(\"SELECT current_setting('plan_cache_mode')\"); print(c.fetchone()[0])"
    )
    done = _run_with(show, DATABASE_URL=url, DATABASE_PLAN_CACHE_MODE="force_custom_plan")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "force_custom_plan"
