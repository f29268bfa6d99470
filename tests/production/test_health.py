"""/livez, /readyz and /healthz (config/health.py), and gunicorn's drain and graceful stop with a real
gunicorn: on SIGTERM /readyz turns 503 while requests are still served, the request in flight finishes,
then the server exits cleanly."""

from __future__ import annotations

import signal
import threading
import time

import psycopg
import pytest
import requests

from config import health
from loyalty.models import LoyaltyClub
from tests.production.servers import Gunicorn, direct_database, django_env, free_port, wait_for


@pytest.fixture
def draining():
    health.start_draining()
    yield
    health._draining.clear()


def test_livez_answers_without_the_database(client):
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_the_database_and_the_broker(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert body["checks"]["database"] == "ok"
    assert "broker" in body["checks"]


def test_readyz_is_503_while_draining_and_livez_stays_200(client, db, draining):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["ready"] is False
    assert response.json()["checks"]["draining"] == "yes"
    assert client.get("/livez").status_code == 200


def test_healthz_keeps_its_documented_answer(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gunicorn_drains_on_sigterm_and_finishes_the_request_in_flight(club, full_token, tmp_path):
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env = django_env(CELERY_BROKER_URL=dead_broker, CELERY_TASK_ALWAYS_EAGER="false", GUNICORN_DRAIN_SECONDS="3")
    server = Gunicorn(log_path=tmp_path / "gunicorn.log", env=env, workers=2).start()
    headers = {"X-Client-Authorization": full_token, "X-User-Agent": "pytest", "X-Product-Name": "drain-test"}
    try:
        # A broker outage is reported, but the node stays in the load balancer; /healthz keeps failing on it.
        ready = requests.get(f"{server.base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["broker"].startswith("error")
        assert requests.get(f"{server.base}/healthz", timeout=10).status_code == 503

        db = direct_database()
        with psycopg.connect(f"postgresql://{db['user']}@{db['host']}:{db['port']}/{db['name']}") as holder:
            # The request in flight: it waits on a table lock that the test holds, inside one worker.
            holder.execute(f"LOCK TABLE {LoyaltyClub._meta.db_table} IN ACCESS EXCLUSIVE MODE")
            in_flight: dict = {}
            request = threading.Thread(
                target=lambda: in_flight.update(
                    response=requests.get(f"{server.base}/v3/{club.slug}", headers=headers, timeout=60)
                )
            )
            request.start()
            wait_for(
                lambda: holder.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s",
                    [db["name"]],
                ).fetchone()[0],
                timeout=20,
                what="the request waiting on the lock",
            )
            stopped_at = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)

            # Draining: the other worker still serves, and tells the load balancer to stop sending.
            def draining_answer():
                response = requests.get(f"{server.base}/readyz", timeout=5)
                return [response] if response.status_code == 503 else None  # a 503 Response is falsy

            (drained,) = wait_for(draining_answer, timeout=3, what="/readyz answering 503 while draining")
            assert drained.json()["checks"]["draining"] == "yes"
            assert requests.get(f"{server.base}/livez", timeout=5).status_code == 200
            time.sleep(3.5)  # past the drain: the workers have stopped accepting, the request is still running
            assert request.is_alive()
            holder.rollback()  # releases the lock

        request.join(timeout=30)
        assert in_flight["response"].status_code == 200, in_flight["response"].text
        assert in_flight["response"].json()["loyalty_club"]["slug"] == club.slug
        assert server.proc.wait(timeout=30) == 0, server.log
        assert time.monotonic() - stopped_at < 30
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server.base}/livez", timeout=2)
    finally:
        server.stop()
