"""A real Celery worker process against a real broker (Redis), sharing the PostgreSQL test database.

Tests using `celery_worker_process` must be `@pytest.mark.django_db(transaction=True)` so that what they
write is committed and visible to the worker. They are skipped, with the reason shown, when the database is
not PostgreSQL (the in-memory SQLite test database cannot be shared) or no Redis answers.

Each worker consumes a queue of its own (`CELERY_TASK_DEFAULT_QUEUE`), so the tasks it enqueues itself come
back to it, and test runs sharing one Redis (other checkouts, other databases) never take each other's tasks.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

REDIS_URL = os.environ.get("LOYALTY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
AMQP_URL = os.environ.get("LOYALTY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
ROOT = Path(__file__).resolve().parents[2]


def _amqp_reachable(url: str) -> bool:
    try:
        from kombu import Connection

        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def _redis_reachable(url: str) -> bool:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return True
    except Exception:
        return False


class WorkerProcess:
    """`celery -A config worker` as a child process; `kill()` sends SIGKILL like a crash would."""

    def __init__(self, *, database_name: str, log_path: Path, broker_url: str = REDIS_URL):
        self.database_name = database_name
        self.broker_url = broker_url
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.queue = f"loyalty-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.node = f"{self.queue}@{socket.gethostname()}"
        # Not the current app: shared tasks called by later tests must keep resolving to the project app.
        self.producer = Celery("loyalty-test-producer", broker=broker_url, set_as_current=False)
        self.producer.conf.update(
            task_serializer="json",
            accept_content=["json"],
            broker_connection_retry=False,
            task_default_queue=self.queue,
        )

    def start(self, *, concurrency: int = 1, env: dict[str, str] | None = None) -> None:
        """Start the worker (again, after `kill()`); `env` adds settings, e.g. a short job lease."""
        settings = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": (
                f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
                f"/{self.database_name}"
            ),
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={concurrency}",
                "--pool=prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                self.node,
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early, see {self.log_path}")
            if self.producer.control.ping(destination=[self.node], timeout=0.5):
                return
        raise RuntimeError(f"worker did not become ready, see {self.log_path}")

    def send(self, name: str, *args, **kwargs):
        return self.producer.send_task(name, args=args, kwargs=kwargs, queue=self.queue)

    def purge_queue(self) -> None:
        """Drop this worker's queue (and kombu's priority sub-queues) from the broker."""
        if self.broker_url.startswith("amqp"):
            with self.producer.connection_for_write() as conn:
                conn.default_channel.queue_delete(self.queue)
            return
        client = self.producer.connection_for_write().channel().client
        keys = list(client.scan_iter(match=f"{self.queue}*"))
        if keys:
            client.delete(*keys)

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a machine crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker process must share the test database (CI runs it)")
    if not _redis_reachable(REDIS_URL):
        pytest.skip(f"no Redis broker reachable at {REDIS_URL} (set LOYALTY_TEST_REDIS_URL; CI runs it)")
    worker = WorkerProcess(database_name=connection.settings_dict["NAME"], log_path=tmp_path / "worker.log")
    yield worker
    worker.stop()
    worker.purge_queue()


@pytest.fixture
def worker_on(transactional_db, tmp_path):
    """worker_on("redis" | "amqp") -> a WorkerProcess on that broker (skipped when it is not reachable)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker process must share the test database (CI runs it)")
    workers: list[WorkerProcess] = []

    def make(broker: str) -> WorkerProcess:
        url = {"redis": REDIS_URL, "amqp": AMQP_URL}[broker]
        reachable = _redis_reachable(url) if broker == "redis" else _amqp_reachable(url)
        if not reachable:
            pytest.skip(f"no {broker} broker reachable at {url} (CI runs it)")
        worker = WorkerProcess(
            database_name=connection.settings_dict["NAME"], log_path=tmp_path / f"worker-{broker}.log", broker_url=url
        )
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()
        worker.purge_queue()


def wait_until(predicate, *, timeout: float = 60, interval: float = 0.2):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
