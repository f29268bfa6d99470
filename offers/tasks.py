"""Celery tasks of the offers app: thin, idempotent wrappers around services."""

from __future__ import annotations

import time
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from kit.jobs import job_heartbeat, job_run
from loyalty.models import Member
from offers.birthday import offers_grant_birthday
from offers.services import grants


@shared_task(name="offers.grant_welcome_offers")
def grant_welcome_offers(member_id: int) -> int:
    """Grant the club's WELCOME offers to a new member. Idempotent: an offer the member ever held is skipped."""
    member = Member.objects.select_related("club").filter(pk=member_id).first()
    if member is None:  # deleted before the task ran
        return 0
    return len(grants.offers_grant_welcome(member=member))


@shared_task(name="offers.tasks.grant_birthday_offers")
def grant_birthday_offers(now: str | None = None) -> dict:
    """Grant BIRTHDAY offers to the members whose birthday is today in their club's time zone (beat, hourly).
    Idempotent: BirthdayGrant (offer, member, year) is unique, so a rerun or a duplicate beat grants nothing
    twice. Stops after SCHEDULED_JOB_TIME_BUDGET_SECONDS and enqueues its continuation (same instant)."""
    instant = datetime.fromisoformat(now) if now else timezone.now()

    def run() -> dict:
        result = offers_grant_birthday(
            now=instant,
            on_batch=lambda members: job_heartbeat(),
            deadline=time.monotonic() + settings.SCHEDULED_JOB_TIME_BUDGET_SECONDS,
        )
        outcome = {"granted": result.granted, "already_granted": result.already_granted, "refused": result.refused}
        return outcome if result.finished else {**outcome, "continues": True}

    outcome = job_run(name="birthday-offers", func=run, lease_seconds=settings.SCHEDULED_JOB_LEASE_SECONDS)
    if outcome.get("continues"):
        grant_birthday_offers.delay(now=instant.isoformat())
    return outcome


@shared_task(name="offers.run_audience_grant")
def run_audience_grant(audience_grant_id: int) -> int:
    """Grant an offer to a group's members, chunk by chunk (`AudienceGrant`). Works for at most the job time
    budget, then queues its own continuation (the cursor is saved with each chunk). Idempotent: a rerun or a
    duplicate delivery continues after the cursor, and no member is granted twice by one call."""
    from django.conf import settings

    budget = getattr(settings, "SCHEDULED_JOB_TIME_BUDGET_SECONDS", 240)
    call = grants.audience_grant_run(audience_grant_id=audience_grant_id, time_budget=budget)
    if call is not None and call.status != call.Status.DONE:
        run_audience_grant.delay(audience_grant_id)
    return call.granted_count if call is not None else 0


@shared_task(name="offers.make_image_sizes")
def make_image_sizes(file_id: int) -> int:
    """Make the `base` and `thumbnail` sizes of an uploaded original. Idempotent: it replaces earlier ones."""
    from offers.images import image_sizes_make

    return len(image_sizes_make(file_id=file_id))


@shared_task(name="offers.render_offer_image")
def render_offer_image(offer_id: int) -> bool:
    """Draw an offer's image from its `image_template`. Idempotent: it replaces the previous drawing."""
    from offers.services.image_templates import offer_image_render

    return offer_image_render(offer_id=offer_id)
