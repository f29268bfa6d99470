"""Scheduled-job plumbing: a lease lock per job and a run log.

`job_run(name=…, func=…)` is what every periodic Celery task calls. If another process holds the job's
lease (a duplicate beat, a redelivered message, an overlapping slow run) the call records a `skipped`
run and returns at once; otherwise it records the run, its duration and its result. The work itself must
still be safe to repeat (database constraints are the last guard), the lease only avoids wasted effort.

A run whose worker died (SIGKILL, a lost machine) leaves a `running` row and a lease nobody renews. The
broker cannot be relied on to bring it back: RabbitMQ redelivers at once, while the lease still holds, so the
redelivery is skipped; Redis waits for its visibility timeout (an hour). So every worker sweeps
(`jobs_resume_lost`, every SCHEDULED_JOB_SWEEP_SECONDS, config/celery.py): a `running` run without a live
lease is lost, is marked so by exactly one sweeper (a conditional UPDATE) and its job is enqueued again, the
task and arguments taken from the job's periodic task (django-celery-beat's row of the same name). Lost work
is thus picked up within SCHEDULED_JOB_LEASE_SECONDS + SCHEDULED_JOB_SWEEP_SECONDS of the last heartbeat.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from kit.models import JobLock, JobRun
from kit.telemetry import metrics

logger = logging.getLogger("kit.jobs")

LOST = "Lost: its worker stopped before the run finished"

# (name, holder, lease_seconds) of the job running in this thread, for `job_heartbeat`.
_current_lease: ContextVar[tuple[str, str, int] | None] = ContextVar("job_lease", default=None)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def job_lock_acquire(*, name: str, holder: str, lease_seconds: int, now: datetime | None = None) -> bool:
    """Take the lease if it is free or expired: one conditional UPDATE, so exactly one contender wins."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            JobLock.objects.get_or_create(name=name, defaults={"expires_at": now})
    except IntegrityError:  # created concurrently by another contender: fine, the row exists
        pass
    won = JobLock.objects.filter(name=name, expires_at__lte=now).update(
        holder=holder, expires_at=now + timedelta(seconds=lease_seconds)
    )
    return won == 1


def job_lock_renew(*, name: str, holder: str, lease_seconds: int) -> bool:
    """Extend a lease we still hold; False when it expired and another process took it over."""
    until = timezone.now() + timedelta(seconds=lease_seconds)
    return JobLock.objects.filter(name=name, holder=holder).update(expires_at=until) == 1


def job_heartbeat() -> bool:
    """Renew the lease of the job running in this thread (call it between batches of a long job), so a
    short lease is enough: if the worker dies, the next run can take over soon. No-op outside `job_run`."""
    lease = _current_lease.get()
    if lease is None:
        return True
    name, holder, lease_seconds = lease
    return job_lock_renew(name=name, holder=holder, lease_seconds=lease_seconds)


def job_lock_release(*, name: str, holder: str) -> None:
    JobLock.objects.filter(name=name, holder=holder).update(holder="", expires_at=timezone.now())


def job_run(*, name: str, func: Callable[[], dict[str, Any] | None], lease_seconds: int = 3600) -> dict[str, Any]:
    """Run `func` under the job's lease and record it. Returns the result, or `{"skipped": …}`."""
    holder = _holder()
    if not job_lock_acquire(name=name, holder=holder, lease_seconds=lease_seconds):
        now = timezone.now()
        JobRun.objects.create(
            name=name,
            status=JobRun.SKIPPED,
            started_at=now,
            finished_at=now,
            duration_ms=0,
            result={"skipped": "another run holds the lease"},
        )
        logger.info("job %s skipped: lease held elsewhere", name)
        metrics.job_observed(job=name, status=JobRun.SKIPPED, seconds=None)
        return {"skipped": "another run holds the lease"}
    # Holding the lease, no other run of this job is alive: a run still marked running lost its worker.
    JobRun.objects.filter(name=name, status=JobRun.RUNNING).update(
        status=JobRun.FAILED, finished_at=timezone.now(), error=LOST
    )
    run = JobRun.objects.create(name=name)
    started = time.monotonic()
    token = _current_lease.set((name, holder, lease_seconds))
    try:
        result = func() or {}
    except Exception as exc:
        _finish(run, started, JobRun.FAILED, None, f"{exc.__class__.__name__}: {exc}")
        raise
    else:
        _finish(run, started, JobRun.OK, result, "")
        return result
    finally:
        _current_lease.reset(token)
        job_lock_release(name=name, holder=holder)


def _finish(run: JobRun, started: float, status: str, result: dict | None, error: str) -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.duration_ms = int((time.monotonic() - started) * 1000)
    run.result = result
    run.error = error[:5000]
    run.save(update_fields=["status", "finished_at", "duration_ms", "result", "error"])
    metrics.job_observed(job=run.name, status=status, seconds=time.monotonic() - started)


def jobs_resume_lost(*, now: datetime | None = None, send: Callable[..., Any] | None = None) -> list[str]:
    """Mark every lost run (`running`, no live lease) failed and enqueue its job again; returns the job names.

    A live run always holds a live lease: it takes the lease before it writes its row and renews it after
    every batch. A run that outlives its lease without a heartbeat is taken for lost too, and its job runs
    twice for a while, which the jobs' data guards make harmless."""
    from django.db.models import Exists, OuterRef
    from django_celery_beat.models import PeriodicTask

    now = now or timezone.now()
    live_lease = JobLock.objects.filter(name=OuterRef("name"), expires_at__gt=now)
    lost = JobRun.objects.filter(status=JobRun.RUNNING).exclude(Exists(live_lease)).values_list("pk", "name")
    resumed: list[str] = []
    for pk, name in list(lost):
        # Several workers sweep: the one whose UPDATE moves the row re-enqueues, the others see 0 rows.
        claimed = JobRun.objects.filter(pk=pk, status=JobRun.RUNNING).update(
            status=JobRun.FAILED, finished_at=now, error=LOST
        )
        if not claimed or name in resumed:
            continue
        periodic = PeriodicTask.objects.filter(name=name).first()
        if periodic is None:
            logger.warning("job %s lost its worker; no periodic task of that name to resume it with", name)
            continue
        if send is None:
            from celery import current_app

            send = current_app.send_task
        options = {"queue": periodic.queue} if periodic.queue else {}
        send(
            periodic.task, args=json.loads(periodic.args or "[]"), kwargs=json.loads(periodic.kwargs or "{}"), **options
        )
        logger.warning("job %s lost its worker mid-run; enqueued %s again", name, periodic.task)
        resumed.append(name)
    return resumed


def job_runs_latest() -> list[JobRun]:
    """The latest run of every job name (for the staff status view)."""
    latest: dict[str, JobRun] = {}
    names = JobRun.objects.values_list("name", flat=True).distinct()
    for name in names:
        run = JobRun.objects.filter(name=name).exclude(status=JobRun.SKIPPED).first()
        run = run or JobRun.objects.filter(name=name).first()
        if run is not None:
            latest[name] = run
    return [latest[n] for n in sorted(latest)]
