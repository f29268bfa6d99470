"""Writes for API client tokens: issue, update, revoke. The secret is shown once and stored as a digest."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from loyalty.models import ClientToken
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
