"""Reads for the core app. Every lookup a request makes is club-scoped and raises its own not-found."""

from __future__ import annotations

import re
from datetime import datetime

from django.db.models import Count, Q
from django.db.models.functions import Lower

from kit.errors import ResourceNotFound
from kit.prepared import PreparedLookup
from loyalty.models import ClientToken, LoyaltyClub, Member, MemberGroup, MemberGroupMembership, MemberOAuthToken
from loyalty.normalizers import msisdn_normalize
from loyalty.secrets import digest


def client_token_get_active(*, secret: str | None) -> ClientToken | None:
    if not secret:
        return None
    return ClientToken.objects.filter(token_digest=digest(secret), revoked_at__isnull=True).first()


def club_find_by_slug(*, slug: str) -> LoyaltyClub | None:
    return LoyaltyClub.objects.filter(slug=slug).first()


_member_by_id = PreparedLookup(lambda p: Member.objects.filter(pk=p.pk, club_id=p.club_id))


def member_get(*, club: LoyaltyClub, member_id: int | str) -> Member:
    """The member with this id in this club; a member of another club is "not found" too."""
    try:
        member_pk = int(member_id)
    except (TypeError, ValueError):
        raise ResourceNotFound("Member", member_id) from None
    member = _member_by_id.first(pk=member_pk, club_id=club.pk) if 0 < member_pk < 2**63 else None
    if member is None:
        raise ResourceNotFound("Member", member_id)
    return member


_TOKEN_COLUMNS = tuple(field.attname for field in MemberOAuthToken._meta.concrete_fields)
_MEMBER_COLUMNS = tuple(field.attname for field in Member._meta.concrete_fields)
_live_access_token = PreparedLookup(
    lambda p: MemberOAuthToken.objects.filter(
        access_digest=p.digest_str, club_id=p.club_id, revoked_at__isnull=True, access_expires_at__gt=p.now
    ).values_list(*_TOKEN_COLUMNS, *(f"member__{name}" for name in _MEMBER_COLUMNS))
)


def member_access_token_find(*, secret: str, club: LoyaltyClub, now: datetime) -> MemberOAuthToken | None:
    """A live access token of this club (not revoked, not expired), with its member (`token.member` loaded):
    one prepared query (see kit.prepared) joining the member, as `select_related` would."""
    rows = _live_access_token.rows(digest_str=digest(secret), club_id=club.pk, now=now)
    if not rows:
        return None
    row, split = rows[0], len(_TOKEN_COLUMNS)
    token = MemberOAuthToken.from_db("default", _TOKEN_COLUMNS, row[:split])
    token.member = Member.from_db("default", _MEMBER_COLUMNS, row[split:])
    return token


def member_in_group(*, member_id: int, group_id: int) -> bool:
    """Is member M in group G? One index lookup on (member, group)."""
    return MemberGroupMembership.objects.filter(member_id=member_id, group_id=group_id).exists()


def member_ensure_not_banned(*, member: Member, now: datetime | None = None) -> None:
    """467 `Member is banned!` with `banned_until` while now < banned_until."""
    from django.utils import timezone

    from kit.errors import MemberBanned

    if member.banned_until is not None and (now or timezone.now()) < member.banned_until:
        raise MemberBanned(member.banned_until)


# --- Members and member groups (SPEC §3.2, §3.3) --------------------------------------------------


def _positive_bigint(value: object) -> int | None:
    """An id from a path or a body: a positive 64-bit integer given as int or ASCII digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


def member_find_by_identifier(*, club: LoyaltyClub, identifier_type: str, identifier: object) -> Member | None:
    """The member of this club identified by `id`, `email` (case-insensitive) or `msisdn` (normalised first),
    or None. Never raises: the OAuth password grant answers 461 for every kind of miss."""
    members = Member.objects.filter(club=club)
    if identifier_type == "id":
        pk = _positive_bigint(identifier)
        return members.filter(pk=pk).first() if pk is not None else None
    if not isinstance(identifier, str):
        return None
    if identifier_type == "email":
        # Same expression as the unique index (lower(email), club).
        return members.annotate(email_lower=Lower("email")).filter(email_lower=identifier.strip().lower()).first()
    if identifier_type == "msisdn":
        try:
            return members.filter(msisdn=msisdn_normalize(identifier)).first()
        except ValueError:
            return None
    return None


def member_list(*, club: LoyaltyClub, search: str | None = None):
    """The club's members by id. `search`: every word must match the email, first or last name, or (for words
    with digits) the msisdn, so "ada love" and "+47 407" both narrow the list."""
    members = Member.objects.filter(club=club).order_by("id")
    for word in (search or "").split():
        match = Q(email__icontains=word) | Q(first_name__icontains=word) | Q(last_name__icontains=word)
        digits = re.sub(r"[^0-9]", "", word)
        if digits:
            match |= Q(msisdn__contains=digits)
        members = members.filter(match)
    return members


def _groups_with_counts():
    return MemberGroup.objects.annotate(members_count=Count("memberships")).order_by("id")


def group_get(*, club: LoyaltyClub, group_id: int | str):
    """The club's member group with `members_count`; a group of another club is "not found" too."""
    pk = _positive_bigint(group_id)
    group = _groups_with_counts().filter(club=club, pk=pk).first() if pk is not None else None
    if group is None:
        raise ResourceNotFound("MembersGroup", group_id)
    return group


def group_list(*, club: LoyaltyClub, search: str | None = None):
    """The club's member groups by id, each with `members_count` (one aggregate query, no N+1)."""
    groups = _groups_with_counts().filter(club=club)
    if search:
        groups = groups.filter(name__icontains=search)
    return groups


def group_member_ids(*, group):
    """Ids of the group's members, ascending (a values list: cheap to page through)."""
    return MemberGroupMembership.objects.filter(group=group).order_by("member_id").values_list("member_id", flat=True)


def member_groups(*, member: Member):
    """The groups `member` belongs to, by id, each with its full `members_count`."""
    return _groups_with_counts().filter(
        club_id=member.club_id, pk__in=MemberGroupMembership.objects.filter(member=member).values("group_id")
    )
