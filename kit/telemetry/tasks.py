"""Celery signal handlers: the request id travels with the tasks a request enqueues, and every task is
counted and timed. Connected by config/celery.py (`connect()`)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

from celery import signals
from django.conf import settings
from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from kit.telemetry import metrics
from kit.telemetry.access import REALM, UNAUTHORIZED_BODY, metrics_authorized
from kit.telemetry.context import CELERY_HEADER, current_request_id, request_id_var, sane_request_id

logger = logging.getLogger("kit.telemetry")

_started: dict[str, tuple[float, object]] = {}  # task id → (monotonic start, context token), per process


def _before_publish(sender=None, headers=None, **_):
    # `headers` is the message's header dict (protocol 2): what is put there reaches the worker as an
    # attribute of `task.request`. A task enqueued by a task passes the id it inherited on.
    request_id = current_request_id()
    if request_id and headers is not None and CELERY_HEADER not in headers:
        headers[CELERY_HEADER] = request_id
    metrics.CELERY_TASKS_PUBLISHED.labels(task=str(sender or "unknown")).inc()


def _message_request_id(task) -> str | None:
    request = getattr(task, "request", None)
    if request is None:
        return None
    # A worker merges custom message headers into the request; `apply(headers=…)` keeps them apart.
    value = getattr(request, CELERY_HEADER, None) or (getattr(request, "headers", None) or {}).get(CELERY_HEADER)
    if value is None and getattr(request, "is_eager", False):
        return current_request_id()  # run inline by the request itself: it is the request's work
    return sane_request_id(value)


def _prerun(task_id=None, task=None, **_):
    request_id = _message_request_id(task)
    token = request_id_var.set(request_id)
    _started[task_id] = (time.monotonic(), token)


def _postrun(task_id=None, task=None, state=None, **_):
    started, token = _started.pop(task_id, (None, None))
    name = getattr(task, "name", "unknown")
    metrics.CELERY_TASKS.labels(task=name, state=str(state or "unknown").lower()).inc()
    if started is not None:
        metrics.CELERY_TASK_DURATION.labels(task=name).observe(time.monotonic() - started)
    if token is not None:
        try:
            request_id_var.reset(token)
        except ValueError:  # set in another context (eager calls nest): just clear it
            request_id_var.set(None)


def _worker_init(**_):
    """The worker's own /metrics (CELERY_METRICS_BIND=host:port): its pool processes write to
    PROMETHEUS_MULTIPROC_DIR, the main process serves their sums. A folder of its own, not the API's:
    each group of processes empties its folder when it starts."""
    metrics.multiprocess_dir_reset()
    bind = os.environ.get("CELERY_METRICS_BIND", "")
    if not bind:
        return
    host, _, port = bind.rpartition(":")
    metrics_serve(host or "127.0.0.1", int(port), registry=metrics.registry(scrape_collectors=False))
    logger.info("worker metrics on http://%s/metrics", bind)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass  # a scrape every few seconds is not worth a line on the worker's stderr


def metrics_serve(host: str, port: int, *, registry) -> ThreadingWSGIServer:
    """Serve `registry` at http://host:port/metrics from a daemon thread, asking for METRICS_TOKEN as the
    API's `GET /metrics` does (prometheus-client's own server has no such check). The address family follows
    `host` (an IPv6 address or name works, as it did with prometheus-client's server); port 0 takes a free
    one (`server.server_port`). Returns the server (`shutdown()` stops it)."""
    exposition = make_wsgi_app(registry)

    def app(environ, start_response):
        if not metrics_authorized(environ.get("HTTP_AUTHORIZATION"), settings.METRICS_TOKEN):
            start_response("401 Unauthorized", [("Content-Type", "application/json"), ("WWW-Authenticate", REALM)])
            return [UNAUTHORIZED_BODY]
        return exposition(environ, start_response)

    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    server_class = type("_MetricsServer", (ThreadingWSGIServer,), {"address_family": family})
    server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def _pool_process_exit(pid=None, **_):
    metrics.mark_process_dead(pid or os.getpid())


def connect() -> None:
    signals.worker_init.connect(_worker_init, weak=False, dispatch_uid="telemetry-worker-init")
    signals.worker_process_shutdown.connect(_pool_process_exit, weak=False, dispatch_uid="telemetry-pool-exit")
    signals.before_task_publish.connect(_before_publish, weak=False, dispatch_uid="telemetry-publish")
    signals.task_prerun.connect(_prerun, weak=False, dispatch_uid="telemetry-prerun")
    signals.task_postrun.connect(_postrun, weak=False, dispatch_uid="telemetry-postrun")
