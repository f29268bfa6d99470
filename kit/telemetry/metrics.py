"""The Prometheus series of the API and the workers, and how they are collected.

Under gunicorn (several worker processes) and Celery prefork every process keeps its own values; with
PROMETHEUS_MULTIPROC_DIR set before start-up, prometheus_client writes them to memory-mapped files in that
folder and a scrape adds up every process of the host (`registry()`). Without it (a single process, tests)
the values live in the process and the default registry serves them.

Business counters (`business_event`) count only what was committed: they are bumped after the commit
(kit.telemetry.commit), so a rolled-back use or a failed batch counts nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.registry import Collector

from kit.telemetry.commit import after_commit

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Unlabelled series open their file when defined (below), so the folder must exist by then.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# Request latencies of an OLTP API: most answers take milliseconds, anything past 10 s is an incident.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Jobs and tasks: from a webhook drain (milliseconds) to a time-boxed expiration run (minutes).
_JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)

HTTP_REQUESTS = Counter(
    "loyalty_http_requests",
    "HTTP requests answered, by URL pattern name (route), method and status code.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "loyalty_http_request_duration_seconds",
    "Time from the request reaching Django to the response leaving it, by route, method and status.",
    ["route", "method", "status"],
    buckets=_LATENCY_BUCKETS,
)
OFFER_USES = Counter(
    "loyalty_offer_uses", "Committed offer uses; authorized=true for uses with an authorization.", ["authorized"]
)
OFFER_GRANTS = Counter("loyalty_offer_grants", "Committed offer grants.")
POINTS_EARNED = Counter("loyalty_points_earned", "Points added by committed earnings and positive corrections.")
POINTS_SPENT = Counter("loyalty_points_spent", "Points taken by committed spending and negative corrections.")
POINTS_EXPIRED = Counter("loyalty_points_expired", "Points expired by committed expiration batches.")
DOMAIN_EVENTS = Counter("loyalty_domain_events", "Committed domain events (webhook event types), by type.", ["type"])
JOB_RUNS = Counter("loyalty_job_runs", "Job runs, by job and outcome (ok, failed, skipped).", ["job", "status"])
JOB_DURATION = Histogram(
    "loyalty_job_duration_seconds", "Duration of job runs that did work, by job name.", ["job"], buckets=_JOB_BUCKETS
)
CELERY_TASKS = Counter(
    "loyalty_celery_tasks", "Celery tasks finished, by task and state (success, failure, retry).", ["task", "state"]
)
CELERY_TASK_DURATION = Histogram(
    "loyalty_celery_task_duration_seconds", "Run time of Celery tasks, by task name.", ["task"], buckets=_JOB_BUCKETS
)
CELERY_TASKS_PUBLISHED = Counter("loyalty_celery_tasks_published", "Celery tasks enqueued, by task name.", ["task"])


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


# Collectors that read a shared truth (the database) at scrape time, so they need no per-process files:
# registered by the apps that own the data (webhooks: the outbox depth).
_scrape_collectors: list[Callable[[], Collector]] = []


def register_scrape_collector(factory: Callable[[], Collector]) -> None:
    if factory not in _scrape_collectors:
        _scrape_collectors.append(factory)


def registry(*, scrape_collectors: bool = True) -> CollectorRegistry:
    """What a scrape serves: every process of the host in multiprocess mode, else this process; plus the
    database-backed collectors (the API serves those; a worker's own endpoint leaves them out, or every
    target would report the same outbox and sums across targets would count it twice)."""
    if multiprocess_dir():
        collected = CollectorRegistry()
        _multiprocess.MultiProcessCollector(collected)
    else:
        collected = CollectorRegistry(auto_describe=True)
        collected.register(_Forward(REGISTRY))
    for factory in _scrape_collectors if scrape_collectors else ():
        collected.register(factory())
    return collected


def multiprocess_dir_reset() -> None:
    """Empty the folder before the first process of a group starts: files of a previous run would be
    added to the sums."""
    folder = multiprocess_dir()
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    own = f"_{os.getpid()}.db"  # this process defined its series already: its files are open
    for name in os.listdir(folder):
        if name.endswith(".db") and not name.endswith(own):
            os.remove(os.path.join(folder, name))


def mark_process_dead(pid: int) -> None:
    if multiprocess_dir():
        _multiprocess.mark_process_dead(pid)


def exposition() -> bytes:
    return generate_latest(registry())


class _Forward(Collector):
    """The default registry's metrics, inside a registry of our own (to add the scrape-time collectors)."""

    def __init__(self, source: CollectorRegistry):
        self.source = source

    def collect(self) -> Iterable:
        return self.source.collect()


# --- Business counters ------------------------------------------------------------------------------


def _points(data: dict, key: str = "transaction") -> int:
    # points.earned / points.spent carry the transaction (signed amount); points.expired the sum.
    value = data.get(key)
    if isinstance(value, dict):
        value = value.get("amount")
    try:
        return abs(int(value or 0))
    except (TypeError, ValueError):
        return 0


def _count(type: str, data: dict) -> None:
    DOMAIN_EVENTS.labels(type=type).inc()
    if type == "offer.used":
        OFFER_USES.labels(authorized="true" if data.get("authorized") else "false").inc()
    elif type == "offer.granted":
        OFFER_GRANTS.inc()
    elif type == "points.earned":
        POINTS_EARNED.inc(_points(data))
    elif type == "points.spent":
        POINTS_SPENT.inc(_points(data))
    elif type == "points.expired":
        POINTS_EXPIRED.inc(_points(data, "points"))


def business_event(*, type: str, data: dict) -> None:
    """Count a domain event once the caller's transaction commits (nothing if it rolls back)."""
    after_commit(lambda: _count(type, data))


def business_events(*, type: str, datas: list[dict]) -> None:
    """`business_event` for a batch of events of one type (one commit hook)."""

    def count_all() -> None:
        for data in datas:
            _count(type, data)

    after_commit(count_all)


def job_observed(*, job: str, status: str, seconds: float | None) -> None:
    JOB_RUNS.labels(job=job, status=status).inc()
    if seconds is not None:
        JOB_DURATION.labels(job=job).observe(seconds)
