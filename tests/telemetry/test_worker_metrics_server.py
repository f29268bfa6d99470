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
    server = metrics_serve("127.0.0.1", 0, registry=registry)
    yield f"http://127.0.0.1:{server.server_port}/metrics"
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


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_bind_address_is_served(settings):
    settings.METRICS_TOKEN = ""
    registry = CollectorRegistry()
    Counter("loyalty_probe", "A counter of this test.", registry=registry).inc()
    server = metrics_serve("::1", 0, registry=registry)
    try:
        response = requests.get(f"http://[::1]:{server.server_port}/metrics", timeout=5)
        assert response.status_code == 200
        assert "loyalty_probe_total 1.0" in response.text
    finally:
        server.shutdown()
        server.server_close()
