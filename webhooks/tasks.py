"""Celery tasks of the webhooks app: thin wrappers around services, idempotent under at-least-once delivery
(acks late, see config/celery.py)."""

from __future__ import annotations

from celery import shared_task

from kit.jobs import job_run
from webhooks import services


@shared_task(name="webhooks.tasks.webhooks_deliver_due")
def webhooks_deliver_due() -> int:
    """Send the due deliveries (queued after each outbox commit, and every few seconds for retries).

    Deliberately not under `job_run`'s single lease: any number of workers may run it at once (each claims
    its own deliveries), and a run log every few seconds would drown the job log. A duplicate run only finds
    nothing to claim: delivered deliveries are never claimed again."""
    return services.deliveries_process_due()


def _events_purge_all() -> dict:
    total = 0
    while batch := services.events_purge():
        total += batch
    return {"deleted_events": total}


@shared_task(name="webhooks.tasks.webhooks_events_purge")
def webhooks_events_purge() -> dict:
    """Delete finished outbox events past their retention, in bounded batches (daily)."""
    return job_run(name="webhooks-events-purge", func=_events_purge_all)
