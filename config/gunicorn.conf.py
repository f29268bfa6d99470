"""Production gunicorn settings: `gunicorn -c config/gunicorn.conf.py config.wsgi:application`.

Measured on 2 cores with PostgreSQL on the same host (docs/benchmarks.md): the API is CPU-bound Python with
short database waits. Single-threaded (sync) workers spread the load evenly: a sync worker accepts a
connection only when it is free. cores + 1 of them keep the cores busy while one waits on PostgreSQL; more
only compete with PostgreSQL for the same cores (2 × cores + 1 gave 0.88-0.95 of the throughput on mixed
traffic and 1.3-1.7 times its p99). With the database on other machines, waits are longer and
GUNICORN_WORKERS up to 2 × cores + 1 may pay. Threaded workers (GUNICORN_THREADS > 1, gthread) keep
connections alive, but a worker accepts every connection it is offered, so a few keep-alive clients can all
land on one process and its GIL (one worker at 50 % CPU, the others idle: 94 against 146 uses/s). Run sync
workers behind a buffering reverse proxy (nginx), which also shields them from slow clients.
Every value can be overridden with the GUNICORN_* variables below or on the command line.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 1))
worker_class = "gthread" if threads > 1 else "sync"
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", 1000))  # gthread: connections per worker
keepalive = 30  # gthread only: a sync worker closes the connection after each response
# A worker is replaced after this many requests (with jitter, so they do not all restart at once): bounds
# the memory a long-lived process can accumulate.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 20000))
max_requests_jitter = max_requests // 10


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value in ("1", "true", "yes", "on")


# The master loads the application once and every worker forks from it (GUNICORN_PRELOAD, default on): a
# worker then starts with almost no CPU (three of them: 0.01 s) instead of ~0.8 s of imports each. That was
# paid each time max_requests replaced one, on the cores that serve: under mixed traffic with replacements
# every 2 500 requests, p99 was 475-652 ms without and 57-61 ms with (docs/benchmarks.md). Code is never
# reloaded in place: a deploy restarts the whole process (SIGTERM, docs/operations.md), and a HUP with preload
# reloads the settings, not the code.
preload_app = _flag("GUNICORN_PRELOAD", True)
timeout = 30
# Rolling restarts (docs/operations.md): on SIGTERM a worker first drains for GUNICORN_DRAIN_SECONDS — it
# keeps serving, but /readyz answers 503, so the load balancer's health check takes the node out while no
# request is refused — then stops accepting and finishes the requests in flight. The drain should cover the
# balancer's failing checks (interval × fall); graceful_timeout leaves the longest request 30 s after it.
drain_seconds = float(os.environ.get("GUNICORN_DRAIN_SECONDS", 10))
graceful_timeout = int(drain_seconds) + 30


def on_starting(server):
    """Metrics of several workers (docs/operations.md "Observability"): with PROMETHEUS_MULTIPROC_DIR set,
    every worker writes its series to files there and a scrape of any worker adds them up. Files of the
    previous run would be added too, so the folder is emptied before the first worker starts."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from kit.telemetry.metrics import multiprocess_dir_reset

        multiprocess_dir_reset()


def child_exit(server, worker):
    # A replaced worker's counters stay in the sums (its files remain); only its live gauges go.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# The cyclic collector's gen-0 threshold in a worker (see post_worker_init).
gc_gen0_threshold = int(os.environ.get("GUNICORN_GC_GEN0_THRESHOLD", 10_000))


def _load_views_and_freeze():
    """Import every view module now rather than during the first request, then move everything loaded out of
    the cyclic collector's reach (`gc.freeze`)."""
    import gc

    from django.urls import get_resolver

    _ = get_resolver().url_patterns
    gc.collect()
    gc.freeze()


def when_ready(server):
    """With preload, in the master before the first fork: leave no database or cache connection for the
    workers to share, and load and freeze the application once for all of them, so that no worker's collector
    walks it (and none writes the collector's bookkeeping into the pages the workers share)."""
    if not preload_app:
        return
    from django.core.cache import caches
    from django.db import connections

    connections.close_all()
    caches.close_all()
    _load_views_and_freeze()


def post_worker_init(worker):
    """Load every view module (the master did, with preload), then tune the cyclic garbage collector of the worker.

    A request allocates tens of thousands of short-lived containers (ORM rows, JSON dicts) but makes few
    reference cycles, so the default gen-0 threshold (700 allocations) runs collections many times per
    request, each also walking the long-lived objects of the loaded application. Freezing what the worker
    holds after start-up moves those objects out of every collection, and a higher gen-0 threshold makes
    collections rare. The cycles a request does leave (DRF's request, view and response refer to each other)
    wait for the next collection: at 50 000 that was ~100 requests' worth, ~14 MB a worker; at 10 000 the
    workers hold ~98 MB instead of ~112 at the same throughput, while 3 000 costs throughput
    (GUNICORN_GC_GEN0_THRESHOLD; measured effect: docs/benchmarks.md).
    """
    import gc

    if not preload_app:
        _load_views_and_freeze()
    gc.set_threshold(gc_gen0_threshold, 20, 100)

    # gunicorn's own answers (a malformed request line or header, a URI above limit_request_line) are HTML
    # pages; it has no setting for their format, so its one writer of them is replaced in the worker.
    from gunicorn import util

    from kit.api.connection import server_error_write

    util.write_error = server_error_write
    _drain_on_sigterm(worker)


def pre_request(worker, req):
    """Lets the API ask for `Connection: close` (kit.api.connection)."""
    from kit.api.connection import server_request_started

    server_request_started(req)


# Every this many requests a worker gives its C heap's free pages back (kit.memory; 0: never).
malloc_trim_every = int(os.environ.get("GUNICORN_MALLOC_TRIM_EVERY", 500))
if malloc_trim_every < 0:
    raise ValueError(f"GUNICORN_MALLOC_TRIM_EVERY must be 0 (never) or a positive count, not {malloc_trim_every}")
_trim = None


def post_request(worker, req, environ, resp):
    global _trim
    from kit.api.connection import server_request_finished

    server_request_finished()
    if _trim is None:
        from kit.memory import EveryN, heap_trim

        _trim = EveryN(malloc_trim_every, heap_trim)
    _trim.tick()


def _drain_on_sigterm(worker):
    """Replace the worker's SIGTERM handler (gunicorn's: stop accepting now) with drain, then that."""
    import contextlib
    import signal
    import threading

    from config.health import start_draining

    stop = signal.getsignal(signal.SIGTERM)

    def stop_after_drain(sig, frame):
        if getattr(worker, "draining", False):
            return
        worker.draining = True
        start_draining()
        worker.log.info("draining for %ss before the graceful stop", drain_seconds)

        def stop_now():
            stop(sig, None)
            # Wake a sync worker that waits for a connection, so it sees at once that it must stop.
            with contextlib.suppress(AttributeError, OSError):
                os.write(worker.PIPE[1], b".")

        timer = threading.Timer(drain_seconds, stop_now)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, stop_after_drain)
