"""Celery tasks of the rewards program: thin wrappers around services, scheduled by beat (docs/operations.md).

Each runs under `job_run` (one lease per job: a duplicate beat or a redelivered message is recorded as a
skipped run) and renews its lease after every batch, so a worker that dies blocks the job only for
SCHEDULED_JOB_LEASE_SECONDS. A run works for at most SCHEDULED_JOB_TIME_BUDGET_SECONDS, then enqueues its
continuation (with the same `as_of`) once its lease is released. The services' database guards make any
overlap harmless.
"""

from __future__ import annotations

import time
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from kit.jobs import job_heartbeat, job_run
from rewards.services import points_expire_due
from rewards.services.expiration import due_lots
from rewards.services.expiry_warnings import points_expiring_warn

EXPIRATION_JOB = "points-expiration"
WARNINGS_JOB = "points-expiry-warnings"


def _instant(value: str | None) -> datetime:
    return datetime.fromisoformat(value) if value else timezone.now()


def _deadline() -> float:
    return time.monotonic() + settings.SCHEDULED_JOB_TIME_BUDGET_SECONDS


@shared_task(name="rewards.tasks.expire_points")
def expire_points(as_of: str | None = None) -> dict:
    """Expire every lot due at `as_of` (ISO 8601; default now). Idempotent: a rerun, a duplicate delivery
    or a concurrent run finds nothing left to expire (UNIQUE (lot, expiry round) is the last guard)."""
    instant = _instant(as_of)

    def run() -> dict:
        deadline = _deadline()
        result = points_expire_due(
            as_of=instant,
            batch_size=settings.POINTS_EXPIRATION_BATCH_SIZE,
            on_batch=lambda scanned, batch: job_heartbeat(),
            deadline=deadline,
        )
        outcome = {"expired_lots": result.lots, "expired_points": result.points}
        if time.monotonic() >= deadline and due_lots(as_of=instant).exists():
            outcome["continues"] = True
        return outcome

    outcome = job_run(name=EXPIRATION_JOB, func=run, lease_seconds=settings.SCHEDULED_JOB_LEASE_SECONDS)
    if outcome.get("continues"):
        expire_points.delay(as_of=instant.isoformat())
    return outcome


@shared_task(name="rewards.tasks.warn_expiring_points")
def warn_expiring_points(now: str | None = None) -> dict:
    """Emit `points.expiring` to members with points expiring within POINTS_EXPIRING_WARNING_DAYS (daily).
    Idempotent: a member already warned today (club's local date) is skipped by the ExpiryWarning guard."""
    instant = _instant(now)

    def run() -> dict:
        result = points_expiring_warn(
            now=instant,
            days=settings.POINTS_EXPIRING_WARNING_DAYS,
            on_batch=lambda warned: job_heartbeat(),
            deadline=_deadline(),
        )
        return {"warned_members": result.warned, **({} if result.finished else {"continues": True})}

    outcome = job_run(name=WARNINGS_JOB, func=run, lease_seconds=settings.SCHEDULED_JOB_LEASE_SECONDS)
    if outcome.get("continues"):
        warn_expiring_points.delay(now=instant.isoformat())
    return outcome
