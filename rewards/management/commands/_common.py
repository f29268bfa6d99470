"""Arguments of the rewards management commands (`--club` is read by loyalty.management.arguments)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.utils import timezone

from loyalty.models import LoyaltyClub


def parse_as_of(value: str | None, club: LoyaltyClub | None) -> datetime:
    """ISO 8601; a naive time is read in the club's time zone (UTC without --club), as the API does."""
    if value is None:
        return timezone.now()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise CommandError(f"--as-of is not an ISO 8601 time: {value}") from None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, club.tzinfo if club is not None else UTC)
    return parsed
