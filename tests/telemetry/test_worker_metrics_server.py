"""A Celery worker's own metrics endpoint (`CELERY_METRICS_BIND`, kit.telemetry.tasks.metrics_serve) asks for
METRICS_TOKEN as the API's `GET /metrics` does. Real HTTP on a free port; the real worker is in
tests/integration/test_request_id_in_worker.py."""

from __future__ import annotations

import socket

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter

from kit.telemetry.tasks import metrics_serve


@pytest.fixture
def served():
    registry = CollectorRegistry()
    Counter("loyalty_probe", "A counter of this test.", registry=registry).inc(3)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = metrics_serve("127.0.0.1", port, registry=registry)
    yield f"http://127.0.0.1:{port}/metrics"
    server.shutdown()
    server.server_close()


def test_without_a_token_the_endpoint_is_open(served, settings):
    settings.METRICS_TOKEN = ""
    response = requests.get(served, timeout=5)
    assert response.status_code == 200
    assert "loyalty_probe_total 3.0" in response.text


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "s3cret", "Basic s3cret", "Bearer "])
def test_with_a_token_a_scrape_without_it_gets_401(served, settings, authorization):
    settings.METRICS_TOKEN = "s3cret"
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = requests.get(served, headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "loyalty_probe" not in response.text


def test_with_a_token_the_bearer_reads_the_metrics(served, settings):
    settings.METRICS_TOKEN = "s3cret"
    response = requests.get(served, headers={"Authorization": "Bearer s3cret"}, timeout=5)
    assert response.status_code == 200
    assert "loyalty_probe_total 3.0" in response.text
