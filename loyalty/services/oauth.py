"""Member OAuth (SPEC §2.2): password and refresh-token grants, revocation. Tokens are random secrets stored
as digests; TTLs come from the club. Refreshing rotates the pair; a rotated refresh token presented again
revokes its whole family (reuse detection)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kit.errors import MemberCredentialsInvalid, RefreshTokenInvalid
from loyalty import selectors
from loyalty.models import LoyaltyClub, Member, MemberOAuthToken
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


@functools.cache
def _dummy_hash() -> str:
    """A hash to check against when there is no member (or no password), so that answer takes as long as
    a wrong password for a real member."""
    return make_password("a password nobody has")


def oauth_password_grant(
    *, club: LoyaltyClub, identifier_type: str, identifier: str | int, password: str
) -> IssuedPair:
    """Sign a member in by id, email (case-insensitive) or msisdn (normalised) and password.

    461 alike for an unknown member, a member without a password and a wrong password, and in constant
    time: the password is always run through the hasher. Locks nothing; writes the new token row (and an
    upgraded hash when the hasher's parameters changed)."""
    member = selectors.member_find_by_identifier(club=club, identifier_type=identifier_type, identifier=identifier)
    encoded = member.password if member is not None and member.password else _dummy_hash()

    def upgrade(raw: str) -> None:
        Member.objects.filter(pk=member.pk).update(password=make_password(raw))

    valid = check_password(password, encoded, setter=upgrade if encoded is not _dummy_hash() else None)
    if member is None or not member.password or not valid:
        raise MemberCredentialsInvalid()
    member.club = club
    return oauth_tokens_issue(member=member)


def oauth_refresh_grant(*, club: LoyaltyClub, refresh_token: str, now: datetime | None = None) -> IssuedPair:
    """Rotate: the presented refresh token's pair is retired (its access token dies too) and a new pair
    joins the same family. 462 for an unknown, expired, rotated or revoked token; a rotated or revoked one
    also revokes the whole family. The revocation commits before the 462 is raised."""
    issued = _refresh_rotate(club=club, refresh_token=refresh_token, now=now or timezone.now())
    if issued is None:
        raise RefreshTokenInvalid()
    return issued


@transaction.atomic
def _refresh_rotate(*, club: LoyaltyClub, refresh_token: str, now: datetime) -> IssuedPair | None:
    """Locks the presented token row (FOR UPDATE) so that two concurrent refreshes with one token cannot
    both rotate it: the second waits, then sees it rotated and treats it as reuse."""
    row = (
        MemberOAuthToken.objects.select_for_update(of=("self",))
        .select_related("member")
        .filter(refresh_digest=digest(refresh_token), club=club)
        .first()
    )
    if row is None:
        return None
    if row.rotated_at is not None or row.revoked_at is not None:
        MemberOAuthToken.objects.filter(family=row.family, revoked_at__isnull=True).update(revoked_at=now)
        return None
    if row.refresh_expires_at <= now:
        return None
    row.rotated_at = row.revoked_at = now
    row.save(update_fields=["rotated_at", "revoked_at"])
    member = row.member
    member.club = club
    return oauth_tokens_issue(member=member, family=row.family, now=now)


@transaction.atomic
def oauth_token_revoke(*, club: LoyaltyClub, token: str, now: datetime | None = None) -> None:
    """Revoke the pair that `token` (access or refresh) belongs to, if it is one of this club's. Silent
    otherwise (RFC 7009: the answer never tells whether the token existed). Locks nothing beyond the row."""
    secret_digest = digest(token)
    MemberOAuthToken.objects.filter(
        Q(access_digest=secret_digest) | Q(refresh_digest=secret_digest), club=club, revoked_at__isnull=True
    ).update(revoked_at=now or timezone.now())


@transaction.atomic
def oauth_member_tokens_revoke(*, member: Member, except_family: uuid.UUID | None = None) -> int:
    """Revoke every live token of the member, except those of `except_family`. Returns how many."""
    tokens = MemberOAuthToken.objects.filter(member=member, revoked_at__isnull=True)
    if except_family is not None:
        tokens = tokens.exclude(family=except_family)
    return tokens.update(revoked_at=timezone.now())
