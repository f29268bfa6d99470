"""Health endpoints for load balancers and orchestrators (docs/operations.md).

* `/livez`: the process is alive and serves requests. Nothing else is checked, so a database or broker
  outage never gets healthy processes restarted.
* `/readyz`: send traffic here? The database answers, and the process is not draining. The broker is
  reported in the body but does not fail readiness: the API works without it (tasks enqueued after a commit
  are logged when the broker is down, periodic jobs catch up), and a broker outage must not pull every node
  out of the load balancer at once.
* `/healthz`: the original check, kept as documented: the database, and the broker when a real one is
  configured; 503 if either fails.

Draining: on SIGTERM, gunicorn's workers (config/gunicorn.conf.py) call `start_draining()`, answer `/readyz`
with 503 for GUNICORN_DRAIN_SECONDS while still serving everything else, so the load balancer takes the node
out before it stops accepting connections; then the graceful shutdown finishes the requests in flight.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.db import connection
from django.http import JsonResponse

_draining = threading.Event()

# The broker check runs on every readiness probe; with the broker down it must not hold a sync worker long.
BROKER_TIMEOUT_SECONDS = 1


def start_draining() -> None:
    _draining.set()


def is_draining() -> bool:
    return _draining.is_set()


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # any failure means "not ready"; the class name helps the operator
        return f"error: {exc.__class__.__name__}"


def _broker(timeout: float) -> str:
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return "embedded"
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"


def livez(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    checks = {"database": _database(), "broker": _broker(BROKER_TIMEOUT_SECONDS)}
    if is_draining():
        checks["draining"] = "yes"
    ready = checks["database"] == "ok" and not is_draining()
    return JsonResponse(
        {"status": "ok" if ready else "error", "ready": ready, "checks": checks}, status=200 if ready else 503
    )


def healthz(request):
    """The database answers, and the broker when a real one is configured (README)."""
    checks = {"database": _database(), "broker": _broker(2)}
    healthy = checks["database"] == "ok" and checks["broker"] in ("ok", "embedded")
    return JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)
