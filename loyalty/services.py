"""Writes for the core app: clubs and API client tokens. (Members, OAuth and groups: see members.py.)"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from loyalty.models import ClientToken, LoyaltyClub
from loyalty.permits import POLICIES
from loyalty.secrets import digest, new_secret


@dataclass(frozen=True)
class IssuedToken:
    token: ClientToken
    secret: str  # shown once; never stored


@transaction.atomic
def client_token_issue(
    *,
    name: str,
    permits: list[str] | None = None,
    policies: list[str] | None = None,
    loyalty_club_ids: list[int] | None = None,
    product: str | None = None,
) -> IssuedToken:
    """Create a client token. Locks nothing (a new row). Returns the secret once."""
    secret = new_secret()
    token = ClientToken.objects.create(
        name=name,
        token_digest=digest(secret),
        token_prefix=secret[:8],
        permits=sorted(set(permits or [])),
        policies=sorted(set(policies or [])),
        loyalty_club_ids=sorted(set(loyalty_club_ids)) if loyalty_club_ids is not None else None,
        product=product or None,
    )
    return IssuedToken(token=token, secret=secret)


@transaction.atomic
def client_token_update(*, token: ClientToken, **fields) -> ClientToken:
    """Partial update of name / permits / policies / loyalty_club_ids / product."""
    for key in ("permits", "policies"):
        if key in fields:
            fields[key] = sorted(set(fields[key] or []))
    if fields.get("loyalty_club_ids") is not None:
        fields["loyalty_club_ids"] = sorted(set(fields["loyalty_club_ids"]))
    if "product" in fields:
        fields["product"] = fields["product"] or None
    for key, value in fields.items():
        setattr(token, key, value)
    token.__dict__.pop("_effective_permits", None)
    token.save(update_fields=[*fields, "updated_at"])
    return token


@transaction.atomic
def client_token_revoke(*, token: ClientToken) -> ClientToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
    return token


@transaction.atomic
def club_update(*, club: LoyaltyClub, **fields) -> LoyaltyClub:
    """Partial update of the club's settings (slug is read-only)."""
    for key, value in fields.items():
        setattr(club, key, value)
    club.save(update_fields=[*fields, "updated_at"])
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


def policy_names() -> list[str]:
    return sorted(POLICIES)
