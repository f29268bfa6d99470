"""Command-line arguments every app's management commands share (clubs belong to loyalty, so they live here)."""

from __future__ import annotations

from django.core.management.base import CommandError

from loyalty.models import LoyaltyClub


def club_from_slug(slug: str | None) -> LoyaltyClub | None:
    """The club named by `--club`, None without it; an unknown slug stops the command with its name."""
    if slug is None:
        return None
    club = LoyaltyClub.objects.filter(slug=slug).first()
    if club is None:
        raise CommandError(f"Loyalty club not found: {slug}")
    return club
