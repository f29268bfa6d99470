"""Writes for loyalty clubs: settings, and the bootstrap that creates a club with its first API client."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from loyalty.models import LoyaltyClub
from loyalty.services.tokens import IssuedToken, client_token_issue
from loyalty.signals import club_updated


@transaction.atomic
def club_update(*, club: LoyaltyClub, **fields) -> LoyaltyClub:
    """Partial update of the club's settings (slug is read-only). Sends `club_updated` with the fields
    written (see loyalty.signals)."""
    for key, value in fields.items():
        setattr(club, key, value)
    club.save(update_fields=[*fields, "updated_at"])
    club_updated.send(sender=LoyaltyClub, club=club, fields=set(fields))
    return club


@dataclass(frozen=True)
class Bootstrap:
    club: LoyaltyClub
    created: bool
    issued: IssuedToken


@transaction.atomic
def club_bootstrap(*, slug: str, name: str | None = None, timezone_name: str = "UTC") -> Bootstrap:
    """Create the club if missing (offers and rewards on) and issue a new FullAccess token bound to it.
    The rewards program's default configuration is created by the rewards app on first use."""
    club, created = LoyaltyClub.objects.get_or_create(
        slug=slug,
        defaults={
            "name": name or slug.replace("-", " ").title(),
            "timezone": timezone_name,
            "offers_enabled": True,
            "rewards_enabled": True,
        },
    )
    issued = client_token_issue(
        name=f"{slug} bootstrap", policies=["FullAccess"], loyalty_club_ids=[club.id], product=None
    )
    return Bootstrap(club=club, created=created, issued=issued)
