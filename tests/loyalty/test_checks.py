"""The database checks of loyalty.checks, and the DATABASE_PLAN_CACHE_MODE setting behind them."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection

from loyalty.checks import postgresql_autovacuum

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


def server_autovacuum() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        return cursor.fetchone()[0]


@postgresql_only
def test_autovacuum_off_with_prepared_statements_warns_as_the_server_says():
    with options(server_side_binding=True, options="-c jit=off -c plan_cache_mode=auto"):
        problems = postgresql_autovacuum(databases=["default"])
    if server_autovacuum() == "on":
        assert problems == []
    else:
        assert [p.id for p in problems] == ["loyalty.W001"]
        assert "DATABASE_PLAN_CACHE_MODE=force_custom_plan" in problems[0].hint


@postgresql_only
@pytest.mark.parametrize(
    "changes",
    [{"server_side_binding": False}, {"server_side_binding": True, "options": "-c plan_cache_mode=force_custom_plan"}],
)
def test_no_warning_when_no_plan_is_kept(changes):
    with options(**changes):
        assert postgresql_autovacuum(databases=["default"]) == []


def test_the_check_only_runs_for_the_databases_it_is_given():
    assert postgresql_autovacuum(databases=None) == []


@postgresql_only
def test_the_plan_cache_mode_setting_reaches_the_server():
    configured = settings.DATABASES["default"]["OPTIONS"]["options"].split("plan_cache_mode=")[1].split()[0]
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == configured


def _settings_with(**env: str) -> subprocess.CompletedProcess:
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS']['options'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
            **env,
        },
        capture_output=True,
        text=True,
    )


def test_plan_cache_mode_is_passed_to_postgresql():
    done = _settings_with(DATABASE_PLAN_CACHE_MODE="force_custom_plan")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["-c", "jit=off", "-c", "plan_cache_mode=force_custom_plan"]


def test_an_unknown_plan_cache_mode_stops_the_start():
    done = _settings_with(DATABASE_PLAN_CACHE_MODE="sometimes")
    assert done.returncode != 0
    assert "DATABASE_PLAN_CACHE_MODE must be auto, force_custom_plan or force_generic_plan" in done.stderr
