"""Celery tasks of the offers app: thin, idempotent wrappers around services."""

from __future__ import annotations

from celery import shared_task

from loyalty.models import Member
from offers import services


@shared_task(name="offers.grant_welcome_offers")
def grant_welcome_offers(member_id: int) -> int:
    """Grant the club's WELCOME offers to a new member. Idempotent: an offer the member ever held is skipped."""
    member = Member.objects.select_related("club").filter(pk=member_id).first()
    if member is None:  # deleted before the task ran
        return 0
    return len(services.offers_grant_welcome(member=member))
