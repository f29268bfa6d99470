"""Metrics under gunicorn with two workers (PROMETHEUS_MULTIPROC_DIR): any worker's scrape adds up both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.telemetry.conftest import Scrape, parse

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn(tmp_path):
    port = _free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"stale: from a previous run, removed at start")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        # Requests to unknown paths need no tables: an empty SQLite file is enough.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
    }
    env.pop("METRICS_TOKEN", None)
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((tmp_path / "gunicorn.log").read_text()) from None
            time.sleep(0.2)
    requests.get(f"{base}/nope-warmup", timeout=60)  # answered once a worker has loaded the application
    yield base, metrics_dir
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    log.close()


def _worker_files(metrics_dir: Path) -> set[str]:
    return {p.name for p in metrics_dir.glob("counter_*.db")}


@pytest.mark.slow
def test_every_scrape_of_any_worker_sums_the_requests_of_all_workers(gunicorn):
    base, metrics_dir = gunicorn
    assert "counter_99999.db" not in _worker_files(metrics_dir)  # the stale file was removed on start
    sent = 0
    # Until both workers answered some: then neither one alone holds the total.
    while len(_worker_files(metrics_dir)) < 2 or sent < 20:
        assert sent < 500, "the second worker never answered"
        assert requests.get(f"{base}/nope", timeout=5).status_code == 404
        sent += 1

    totals = set()
    for _ in range(6):
        response = requests.get(f"{base}/metrics", timeout=5)
        assert response.status_code == 200
        scrape = Scrape(parse(response.text))
        totals.add(scrape.value("loyalty_http_requests_total", route="<unmatched>", method="GET", status="404"))
    # +1: the warm-up request of the fixture.
    assert totals == {sent + 1}
