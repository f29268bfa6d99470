"""Writes for members and member groups (SPEC §3.2, §3.3). The API and the Django admin both call these.

Attribute rules (MSISDN and email formats, password length, "email or msisdn", uniqueness within the club)
live here, so every caller gets the same answers; violations raise `MemberInvalid`, a 422 whose details have
the shape of the API payload (`{"member": {"properties": {"email": [...]}}}`).
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from kit.errors import InvalidParameters, ResourceNotFound
from kit.messages import message_for
from loyalty import signals
from loyalty.models import LoyaltyClub, Member, MemberGroup, MemberGroupMembership
from loyalty.oauth import oauth_member_tokens_revoke
from webhooks.services import event_emit

PROPERTY_FIELDS = ("email", "msisdn", "first_name", "last_name", "birthday", "language")
UPDATABLE_FIELDS = frozenset({*PROPERTY_FIELDS, "password", "banned_until"})
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128  # hashing is deliberately slow; unbounded input would be a cheap DoS
GROUP_MEMBERS_PER_CALL = 10_000
# Ids per query when adding or removing group members: 5 000 rows x 3 columns stays far below PostgreSQL's
# 65 535 bind parameters and SQLite's 32 766, so 10 000 ids take two lookups and two inserts.
GROUP_MEMBERS_CHUNK = 5_000

_MSISDN_SHAPE = re.compile(r"(?:\+|00)?[ .\-]*[0-9](?:[ .\-]*[0-9])*", re.ASCII)


# --- Attribute rules ------------------------------------------------------------------------------


def msisdn_normalize(value: str) -> str:
    """E.164 digits only (SPEC §1.6). Accepts a leading `+` or `00` and spaces, dots or dashes between digits.
    Raises ValueError for anything else, for fewer than 8 or more than 15 digits, and for a number starting
    with 0 after the prefix (no country code starts with 0: that is a national number, not E.164)."""
    text = value.strip()
    if not _MSISDN_SHAPE.fullmatch(text):
        raise ValueError("not an msisdn")
    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("00"):
        digits = digits[2:]
    if not 8 <= len(digits) <= 15 or digits.startswith("0"):
        raise ValueError("not an msisdn")
    return digits


def email_normalize(value: str) -> str:
    """The address without surrounding blanks, as the member typed it (case is kept; comparisons ignore it).
    Raises ValueError when it is not a valid address."""
    text = value.strip()
    if len(text) > Member._meta.get_field("email").max_length:
        raise ValueError("too long")
    try:
        validate_email(text)
    except DjangoValidationError:
        raise ValueError("not an email") from None
    return text


def _leaf(key: str, value: Any, **options: Any) -> dict:
    return {"value": value, "error": key, "options": options, "message": message_for(key, options)}


class MemberInvalid(InvalidParameters):
    """422 "Invalid parameters" for member attributes. `errors` maps a field to its ParameterError leaves;
    the details nest them like the API payload: properties under `member.properties`, the rest under `member`."""

    def __init__(self, errors: dict[str, list[dict]]):
        self.errors = errors
        tree: dict[str, Any] = {}
        for field, leaves in errors.items():
            if field in PROPERTY_FIELDS:
                tree.setdefault("properties", {})[field] = leaves
            else:
                tree[field] = leaves
        super().__init__({"member": tree})


def _email_taken(*, club_id: int, email: str, exclude_pk: int | None) -> bool:
    # Same expression as the unique index (lower(email), club), so the index answers it.
    others = Member.objects.filter(club_id=club_id).annotate(email_lower=Lower("email"))
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    return others.filter(email_lower=email.lower()).exists()


def _msisdn_taken(*, club_id: int, msisdn: str, exclude_pk: int | None) -> bool:
    others = Member.objects.filter(club_id=club_id, msisdn=msisdn)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    return others.exists()


def member_attributes_normalize(changes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict]]]:
    """Normalise member attributes and check their formats, without touching the database.
    Returns `(cleaned, errors)`. Blank strings in properties mean "none"; the password is never echoed back
    in an error (`value` null)."""
    cleaned = dict(changes)
    errors: dict[str, list[dict]] = {}
    for field in PROPERTY_FIELDS:
        if isinstance(cleaned.get(field), str) and not cleaned[field].strip():
            cleaned[field] = None
    for field, normalize, key in (
        ("email", email_normalize, "invalid_email"),
        ("msisdn", msisdn_normalize, "invalid_msisdn"),
    ):
        value = cleaned.get(field)
        if value is None:
            continue
        try:
            cleaned[field] = normalize(value)
        except ValueError:
            errors[field] = [_leaf(key, value)]
    for field in ("first_name", "last_name", "language"):
        value = cleaned.get(field)
        max_length = Member._meta.get_field(field).max_length
        if isinstance(value, str) and len(value) > max_length:
            errors[field] = [_leaf("too_long", value, max_length=max_length)]
    password = cleaned.get("password")
    if password is not None:
        if len(password) < PASSWORD_MIN_LENGTH:
            errors["password"] = [_leaf("size_too_small", None, number=PASSWORD_MIN_LENGTH)]
        elif len(password) > PASSWORD_MAX_LENGTH:
            errors["password"] = [_leaf("size_too_large", None, number=PASSWORD_MAX_LENGTH)]
    return cleaned, errors


def member_attributes_check(
    *, club_id: int, changes: Mapping[str, Any], member: Member | None = None
) -> tuple[dict[str, Any], dict[str, list[dict]]]:
    """Normalise `changes` (a subset of properties, `password`, `banned_until`) for a new member or for
    `member`, and check them against the rules, uniqueness within the club included. Returns
    `(cleaned, errors)`; reads only."""
    cleaned, errors = member_attributes_normalize(changes)

    def final(field: str) -> Any:
        if field in cleaned:
            return cleaned[field]
        return getattr(member, field) if member is not None else None

    if final("email") is None and final("msisdn") is None and not {"email", "msisdn"} & errors.keys():
        errors["email"] = [_leaf("presence", None)]

    exclude_pk = member.pk if member is not None else None
    email, msisdn = cleaned.get("email"), cleaned.get("msisdn")
    if (
        email is not None
        and "email" not in errors
        and (member is None or (member.email or "").lower() != email.lower())
        and _email_taken(club_id=club_id, email=email, exclude_pk=exclude_pk)
    ):
        errors["email"] = [_leaf("taken", email)]
    if (
        msisdn is not None
        and "msisdn" not in errors
        and (member is None or member.msisdn != msisdn)
        and _msisdn_taken(club_id=club_id, msisdn=msisdn, exclude_pk=exclude_pk)
    ):
        errors["msisdn"] = [_leaf("taken", msisdn)]
    return cleaned, errors


def _checked(*, club_id: int, changes: Mapping[str, Any], member: Member | None = None) -> dict[str, Any]:
    cleaned, errors = member_attributes_check(club_id=club_id, changes=changes, member=member)
    if errors:
        raise MemberInvalid(errors)
    return cleaned


def _save_unique(member: Member, **save_kwargs: Any) -> None:
    """Save in a savepoint; a unique violation (a concurrent duplicate that passed the check) becomes 422
    `taken` on the field(s) now held by another member. Once our statement failed, the other row is committed,
    so asking the database again names the field whatever the driver's message says."""
    try:
        with transaction.atomic():
            member.save(**save_kwargs)
    except IntegrityError as exc:
        taken = {}
        if member.email and _email_taken(club_id=member.club_id, email=member.email, exclude_pk=member.pk):
            taken["email"] = [_leaf("taken", member.email)]
        if member.msisdn and _msisdn_taken(club_id=member.club_id, msisdn=member.msisdn, exclude_pk=member.pk):
            taken["msisdn"] = [_leaf("taken", member.msisdn)]
        if not taken:
            raise
        raise MemberInvalid(taken) from exc


# --- Members --------------------------------------------------------------------------------------


@transaction.atomic
def member_create(
    *,
    club: LoyaltyClub,
    email: str | None = None,
    msisdn: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    birthday: date | None = None,
    language: str | None = None,
    password: str | None = None,
    banned_until: datetime | None = None,
) -> Member:
    """Create a member of `club`. Locks nothing: email/msisdn uniqueness is checked first for a clean answer
    and enforced by the database constraints (a concurrent duplicate also ends as 422 `taken`).

    Sends `member_created` and emits the `member.created` webhook event inside the transaction."""
    cleaned = _checked(
        club_id=club.id,
        changes={
            "email": email,
            "msisdn": msisdn,
            "first_name": first_name,
            "last_name": last_name,
            "birthday": birthday,
            "language": language,
            "password": password,
        },
    )
    member = Member(
        club=club,
        **{f: cleaned[f] for f in PROPERTY_FIELDS},
        password=make_password(cleaned["password"]) if cleaned["password"] else "",
        banned_until=banned_until,
    )
    _save_unique(member, force_insert=True)
    signals.member_created.send(sender=Member, member=member)
    event_emit(
        club_id=club.id,
        type="member.created",
        data={"member_id": member.id, "loyalty_club_id": club.id},
        member_id=member.id,
    )
    return member


def _lock_member(member: Member) -> Member:
    locked = Member.objects.select_for_update().filter(pk=member.pk).first()
    if locked is None:
        raise ResourceNotFound("Member", member.pk)
    return locked


def _apply_password(member: Member, password: str | None, *, keep_token_family: uuid.UUID | None) -> None:
    member.password = make_password(password) if password else ""
    # A new (or removed) password signs the member out everywhere else: whoever knew the old one loses access.
    oauth_member_tokens_revoke(member=member, except_family=keep_token_family)


@transaction.atomic
def member_update(*, member: Member, keep_token_family: uuid.UUID | None = None, **changes: Any) -> Member:
    """Partial update: any of the properties, `password` (None removes it) and `banned_until` (None unbans).
    Locks the member row. Changing the password revokes the member's OAuth tokens except `keep_token_family`
    (the caller's own session on `/members/me`). Returns the updated member."""
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"member_update() got unexpected fields: {sorted(unknown)}")
    locked = _lock_member(member)
    before = copy.copy(locked)  # as it was, for member_updated receivers
    cleaned = _checked(club_id=locked.club_id, changes=changes, member=locked)
    fields = [f for f in cleaned if f in PROPERTY_FIELDS or f == "banned_until"]
    for field in fields:
        setattr(locked, field, cleaned[field])
    if "password" in cleaned:
        _apply_password(locked, cleaned["password"], keep_token_family=keep_token_family)
        fields.append("password")
    if fields:  # an empty update changes nothing, not even updated_at
        _save_unique(locked, update_fields=[*fields, "updated_at"])
        signals.member_updated.send(sender=Member, member=locked, before=before)
    return locked


@transaction.atomic
def member_set_password(*, member: Member, password: str | None, keep_token_family: uuid.UUID | None = None) -> Member:
    """Set (or with None, remove) the member's password, hashed with Django's hashers. Locks the member row
    and revokes its OAuth tokens except `keep_token_family`."""
    return member_update(member=member, password=password, keep_token_family=keep_token_family)


@transaction.atomic
def member_ban(*, member: Member, until: datetime) -> Member:
    """Ban the member until `until` (467 on write actions while now < until). Locks the member row."""
    locked = _lock_member(member)
    locked.banned_until = until
    locked.save(update_fields=["banned_until", "updated_at"])
    return locked


@transaction.atomic
def member_unban(*, member: Member) -> Member:
    """Lift the member's ban. Locks the member row."""
    locked = _lock_member(member)
    locked.banned_until = None
    locked.save(update_fields=["banned_until", "updated_at"])
    return locked


@transaction.atomic
def member_delete(*, member: Member) -> None:
    """Erase the member and everything tied to it: OAuth tokens and group memberships here, and whatever
    other apps tie to it through their foreign keys (they choose CASCADE or SET_NULL). Locks the member row
    (DELETE), and the rows the cascade deletes."""
    signals.member_deleted.send(sender=Member, member=member)
    Member.objects.filter(pk=member.pk).delete()


# --- Member groups --------------------------------------------------------------------------------


@transaction.atomic
def group_create(*, club: LoyaltyClub, name: str, description: str | None = None) -> MemberGroup:
    """Create an empty member group (audience). Locks nothing (a new row)."""
    group = MemberGroup.objects.create(club=club, name=name, description=description)
    group.members_count = 0
    return group


@transaction.atomic
def group_update(*, group: MemberGroup, **changes: Any) -> MemberGroup:
    """Partial update of `name` / `description`. Locks nothing beyond the updated row."""
    unknown = set(changes) - {"name", "description"}
    if unknown:
        raise TypeError(f"group_update() got unexpected fields: {sorted(unknown)}")
    for field, value in changes.items():
        setattr(group, field, value)
    group.save(update_fields=[*changes, "updated_at"])
    return group


@transaction.atomic
def group_delete(*, group: MemberGroup) -> None:
    """Delete the group and its memberships (never the members). Locks the group row (DELETE)."""
    MemberGroup.objects.filter(pk=group.pk).delete()


@dataclass(frozen=True)
class GroupMembersChange:
    not_found: list[int]  # ids that are not members of the group's club, in the order given


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _lock_group(group: MemberGroup) -> MemberGroup:
    locked = MemberGroup.objects.select_for_update().filter(pk=group.pk).first()
    if locked is None:
        raise ResourceNotFound("MembersGroup", group.pk)
    return locked


def _club_member_ids(*, club_id: int, ids: list[int], lock: bool) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(ids, GROUP_MEMBERS_CHUNK):
        query = Member.objects.filter(club_id=club_id, pk__in=chunk).order_by("pk")
        if lock:
            # FOR NO KEY UPDATE: a member deleted concurrently cannot leave a dangling membership behind
            # (which would fail the deferred foreign key at commit); locked in pk order against deadlocks.
            query = query.select_for_update(no_key=True)
        found.update(query.values_list("pk", flat=True))
    return found


def _unique_ids(member_ids: Iterable[int]) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in member_ids))
    if len(ids) > GROUP_MEMBERS_PER_CALL:
        raise ValueError(f"at most {GROUP_MEMBERS_PER_CALL} member ids per call")
    return ids


@transaction.atomic
def group_members_add(*, group: MemberGroup, member_ids: Iterable[int]) -> GroupMembersChange:
    """Add members (idempotent: members already in the group stay, once). Ids that are not members of the
    group's club are skipped and reported. Locks the group row, then the found member rows (FOR NO KEY
    UPDATE, pk order). A handful of queries for 10 000 ids: chunked lookups and chunked bulk inserts."""
    ids = _unique_ids(member_ids)
    group = _lock_group(group)
    found = _club_member_ids(club_id=group.club_id, ids=ids, lock=True)
    new = [MemberGroupMembership(group_id=group.pk, member_id=pk) for pk in ids if pk in found]
    MemberGroupMembership.objects.bulk_create(new, batch_size=GROUP_MEMBERS_CHUNK, ignore_conflicts=True)
    return GroupMembersChange(not_found=[pk for pk in ids if pk not in found])


@transaction.atomic
def group_members_remove(*, group: MemberGroup, member_ids: Iterable[int]) -> GroupMembersChange:
    """Remove members (idempotent: removing a member who is not in the group is fine). Ids that are not
    members of the group's club are reported. Locks the group row."""
    ids = _unique_ids(member_ids)
    group = _lock_group(group)
    found = _club_member_ids(club_id=group.club_id, ids=ids, lock=False)
    for chunk in _chunks(sorted(found), GROUP_MEMBERS_CHUNK):
        MemberGroupMembership.objects.filter(group_id=group.pk, member_id__in=chunk).delete()
    return GroupMembersChange(not_found=[pk for pk in ids if pk not in found])
