"""gunicorn preloads the application (config/gunicorn.conf.py, GUNICORN_PRELOAD): the master imports it once and
the workers fork from it, holding no database connection of the master's; workers replaced by max_requests
serve from their first request."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from tests.production.servers import Gunicorn, direct_database, django_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(child) for child in f.read().split()]


def _maps_psycopg(pid: int) -> bool:
    """Whether the process has imported the database driver's compiled part (the application, loaded)."""
    return any("psycopg" in line for line in Path(f"/proc/{pid}/maps").read_text().splitlines())


def _connections(pid: int) -> list[str]:
    """The remote `address:port` (hex, as /proc/net/tcp gives it) of each TCP connection the process holds
    that is not a listening socket."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    remotes = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and fields[3] != "0A":  # 0A: LISTEN
                remotes.append(fields[2])
    return remotes


def _postgres_sockets(pid: int) -> int:
    """The process's open TCP connections to the test database's port."""
    return sum(remote.endswith(f":{direct_database()['port']:04X}") for remote in _connections(pid))


def _headers(token: str) -> dict[str, str]:
    return {"X-Client-Authorization": token, "X-User-Agent": "pytest", "X-Product-Name": "preload-test"}


def test_the_master_loads_the_application_and_keeps_no_database_connection(club, full_token, tmp_path):
    server = Gunicorn(log_path=tmp_path / "gunicorn.log", env=django_env(), workers=2).start()
    try:
        for _ in range(6):  # every worker reads the database
            response = requests.get(f"{server.base}/v3/{club.slug}", headers=_headers(full_token), timeout=10)
            assert response.status_code == 200, response.text
        master = server.proc.pid
        assert _maps_psycopg(master), "the master did not import the application"
        assert _postgres_sockets(master) == 0
        assert _connections(master) == []  # nor the broker's, the cache's or any other
        assert sum(_postgres_sockets(worker) for worker in _children(master)) >= 1
    finally:
        server.stop()


def test_without_preload_the_master_imports_nothing_of_the_application(tmp_path):
    server = Gunicorn(log_path=tmp_path / "gunicorn.log", env=django_env(GUNICORN_PRELOAD="false"), workers=1).start()
    try:
        assert not _maps_psycopg(server.proc.pid)
    finally:
        server.stop()


def test_workers_replaced_by_max_requests_answer_every_request(club, full_token, tmp_path):
    env = django_env(GUNICORN_MAX_REQUESTS="4")  # jitter 0: every worker is replaced after 4 requests
    server = Gunicorn(log_path=tmp_path / "gunicorn.log", env=env, workers=2).start()
    try:
        statuses = [
            requests.get(f"{server.base}/v3/{club.slug}", headers=_headers(full_token), timeout=20).status_code
            for _ in range(40)
        ]
        assert statuses == [200] * 40, server.log
        assert server.log.count("Autorestarting worker") >= 5, server.log
    finally:
        server.stop()
