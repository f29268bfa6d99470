"""Reads for the core app. Every lookup a request makes is club-scoped and raises its own not-found."""

from __future__ import annotations

from datetime import datetime

from loyalty.exceptions import ResourceNotFound
from loyalty.models import ClientToken, LoyaltyClub, Member, MemberGroupMembership, MemberOAuthToken
from loyalty.secrets import digest


def client_token_get_active(*, secret: str | None) -> ClientToken | None:
    if not secret:
        return None
    return ClientToken.objects.filter(token_digest=digest(secret), revoked_at__isnull=True).first()


def club_find_by_slug(*, slug: str) -> LoyaltyClub | None:
    return LoyaltyClub.objects.filter(slug=slug).first()


def member_get(*, club: LoyaltyClub, member_id: int | str) -> Member:
    """The member with this id in this club; a member of another club is "not found" too."""
    try:
        member_pk = int(member_id)
    except (TypeError, ValueError):
        raise ResourceNotFound("Member", member_id) from None
    member = Member.objects.filter(club=club, pk=member_pk).first() if 0 < member_pk < 2**63 else None
    if member is None:
        raise ResourceNotFound("Member", member_id)
    return member


def member_access_token_find(*, secret: str, club: LoyaltyClub, now: datetime) -> MemberOAuthToken | None:
    """A live access token of this club (not revoked, not expired), with its member."""
    return (
        MemberOAuthToken.objects.select_related("member")
        .filter(access_digest=digest(secret), club=club, revoked_at__isnull=True, access_expires_at__gt=now)
        .first()
    )


def member_in_group(*, member_id: int, group_id: int) -> bool:
    """Is member M in group G? One index lookup on (member, group)."""
    return MemberGroupMembership.objects.filter(member_id=member_id, group_id=group_id).exists()


def member_ensure_not_banned(*, member: Member, now: datetime | None = None) -> None:
    """467 `Member is banned!` with `banned_until` while now < banned_until."""
    from django.utils import timezone

    from loyalty.exceptions import MemberBanned

    if member.banned_until is not None and (now or timezone.now()) < member.banned_until:
        raise MemberBanned(member.banned_until)
