"""Celery application. Tasks are thin wrappers around services; see each app's tasks.py and docs/operations.md.

Delivery is at least once: a task is acknowledged only after it finished (`acks_late`) and is redelivered if
the worker running it dies (`reject_on_worker_lost`). Every task is therefore idempotent, and errors that
are worth another try (the database or the broker briefly unreachable, a deadlock, SQLite busy) are
retried with exponential backoff and jitter by the base class below.
"""

import logging
import os
import threading
import time

from celery import Celery, Task
from celery.signals import worker_init, worker_ready
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

from kit.telemetry import tasks as telemetry_tasks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
logger = logging.getLogger("kit.jobs")

# Errors that say "not now" rather than "never": connection loss, deadlock / serialization failure (both
# OperationalError on PostgreSQL), "database is locked" on SQLite, a broker that is down while a task
# enqueues a follow-up. Integrity and programming errors are not in the list: retrying cannot fix them.
TRANSIENT_ERRORS = (DatabaseOperationalError, DatabaseInterfaceError, BrokerOperationalError, ConnectionError)


class LoyaltyTask(Task):
    """Base of every task (`@shared_task` included): retried on transient errors, 2 s, 4 s, 8 s … ≤ 5 min."""

    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True
    max_retries = 6


app = Celery("loyalty", task_cls=LoyaltyTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    # No result backend is used, so beat must not install its `celery.backend_cleanup` entry.
    result_expires=None,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    # Long jobs (points expiration, birthday grants) stop themselves well inside these limits and enqueue
    # their own continuation (see rewards.tasks), so no task is ever killed mid-batch by a limit.
    task_soft_time_limit=300,
    task_time_limit=360,
    broker_connection_retry_on_startup=True,
    # The DatabaseScheduler reads the schedules from the database (a data migration creates the defaults,
    # staff edit them in the admin). Nothing is defined here on purpose: beat would re-apply it on every
    # start, overwriting what staff changed.
    beat_schedule={},
    # Keep the settings' LOGGING (LOG_FORMAT, the request id on every line) in the worker too: Celery would
    # otherwise replace the root logger's handlers with its own plain format.
    worker_hijack_root_logger=False,
)
app.autodiscover_tasks()


@worker_init.connect
def _verify_database(sender=None, **kwargs) -> None:
    """Refuse to start on a configuration the database backend refuses (an undeclared pooler)."""
    from django.core.exceptions import ImproperlyConfigured

    from kit.db.postgresql.base import verify_at_start

    try:
        verify_at_start()
    except ImproperlyConfigured as exc:
        logger.critical("%s", exc)
        # Celery logs and ignores a receiver's Exception; SystemExit stops the worker.
        raise SystemExit(f"refused: {exc}") from exc


@worker_ready.connect
def _start_job_sweeper(sender=None, **kwargs) -> None:
    """Resume scheduled jobs whose worker died (kit.jobs.jobs_resume_lost), from every worker.

    A thread of the worker's main process: the pool's processes may all be busy with long tasks, and a
    sweep must not wait behind them. Each sweep uses a connection of its own and closes it."""
    from django.conf import settings

    interval = settings.SCHEDULED_JOB_SWEEP_SECONDS
    if interval <= 0:
        return
    threading.Thread(target=_sweep_forever, args=(interval,), name="job-sweeper", daemon=True).start()


def _sweep_forever(interval: float) -> None:
    from django.db import connection

    from kit.jobs import jobs_resume_lost

    while True:
        time.sleep(interval)
        try:
            jobs_resume_lost(send=app.send_task)
        except Exception:  # the database or the broker is away: the next sweep tries again
            logger.exception("job sweep failed")
        finally:
            connection.close()


telemetry_tasks.connect()
