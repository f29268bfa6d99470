"""Celery tasks of the core app: thin wrappers around services, idempotent under at-least-once delivery."""

from __future__ import annotations

from celery import shared_task

from kit.jobs import job_run
from loyalty.idempotency import idempotency_keys_purge as _idempotency_keys_purge


@shared_task(name="loyalty.tasks.idempotency_keys_purge")
def idempotency_keys_purge() -> dict:
    """Delete expired idempotency keys (hourly). Running it twice or concurrently deletes nothing twice."""
    return job_run(name="idempotency-keys-purge", func=lambda: {"deleted": _idempotency_keys_purge()})
