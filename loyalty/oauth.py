"""Member OAuth tokens (SPEC §2.2): random secrets stored as digests, TTLs from the club."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from loyalty.models import Member, MemberOAuthToken
from loyalty.secrets import digest, new_secret


@dataclass(frozen=True)
class IssuedPair:
    row: MemberOAuthToken
    access_token: str
    refresh_token: str


@transaction.atomic
def oauth_tokens_issue(*, member: Member, family: uuid.UUID | None = None, now: datetime | None = None) -> IssuedPair:
    """A new access/refresh pair for the member, in a new family unless one is given (rotation)."""
    now = now or timezone.now()
    club = member.club
    access, refresh = new_secret(), new_secret()
    row = MemberOAuthToken.objects.create(
        member=member,
        club_id=member.club_id,
        family=family or uuid.uuid4(),
        access_digest=digest(access),
        refresh_digest=digest(refresh),
        access_expires_at=now + timedelta(seconds=club.access_token_ttl_seconds),
        refresh_expires_at=now + timedelta(seconds=club.refresh_token_ttl_seconds),
        created_at=now,
    )
    return IssuedPair(row=row, access_token=access, refresh_token=refresh)
