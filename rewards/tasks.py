"""Celery tasks of the rewards program: thin wrappers around services (scheduling is configured elsewhere)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from rewards.services import points_expire_due


@shared_task(name="rewards.tasks.expire_points")
def expire_points() -> dict:
    """Expire every lot due now. Idempotent: a rerun (or a duplicate delivery) finds nothing left to expire."""
    result = points_expire_due(as_of=timezone.now())
    return {"expired_lots": result.lots, "expired_points": result.points}
