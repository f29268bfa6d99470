"""Writes for members (SPEC §3.2). The API and the Django admin call these; the CSV import shares the normalizers.

Attribute rules (MSISDN and email formats and password length from `loyalty.normalizers`, "email or msisdn",
uniqueness within the club) are checked here, so every caller gets the same answers; violations raise
`MemberInvalid`, a 422 whose details have the shape of the API payload (`{"member": {"properties": {"email": [...]}}}`).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from kit.db.races import lock_for_delete
from kit.errors import InvalidParameters, ResourceNotFound
from kit.messages import error_leaf
from loyalty import signals
from loyalty.consents import consents_merge
from loyalty.models import LoyaltyClub, Member
from loyalty.normalizers import PROPERTY_FIELDS, member_attributes_normalize
from loyalty.services.oauth import oauth_member_tokens_revoke

UPDATABLE_FIELDS = frozenset({*PROPERTY_FIELDS, "password", "banned_until", "consents"})


# --- Attribute rules ------------------------------------------------------------------------------


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
        errors["email"] = [error_leaf("presence", None)]

    exclude_pk = member.pk if member is not None else None
    email, msisdn = cleaned.get("email"), cleaned.get("msisdn")
    if (
        email is not None
        and "email" not in errors
        and (member is None or (member.email or "").lower() != email.lower())
        and _email_taken(club_id=club_id, email=email, exclude_pk=exclude_pk)
    ):
        errors["email"] = [error_leaf("taken", email)]
    if (
        msisdn is not None
        and "msisdn" not in errors
        and (member is None or member.msisdn != msisdn)
        and _msisdn_taken(club_id=club_id, msisdn=msisdn, exclude_pk=exclude_pk)
    ):
        errors["msisdn"] = [error_leaf("taken", msisdn)]
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
            taken["email"] = [error_leaf("taken", member.email)]
        if member.msisdn and _msisdn_taken(club_id=member.club_id, msisdn=member.msisdn, exclude_pk=member.pk):
            taken["msisdn"] = [error_leaf("taken", member.msisdn)]
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
    gender: str | None = None,
    consents: Mapping[str, Any] | None = None,
    password: str | None = None,
    banned_until: datetime | None = None,
) -> Member:
    """Create a member of `club`. Locks nothing: email/msisdn uniqueness is checked first for a clean answer
    and enforced by the database constraints (a concurrent duplicate also ends as 422 `taken`).

    Sends `member_created` inside the transaction: receivers that write (the webhooks outbox) commit or roll
    back with the member."""
    cleaned = _checked(
        club_id=club.id,
        changes={
            "email": email,
            "msisdn": msisdn,
            "first_name": first_name,
            "last_name": last_name,
            "birthday": birthday,
            "language": language,
            "gender": gender,
            "password": password,
        },
    )
    member = Member(
        club=club,
        **{f: cleaned[f] for f in PROPERTY_FIELDS},
        password=make_password(cleaned["password"]) if cleaned["password"] else "",
        banned_until=banned_until,
        consents=consents_merge({}, consents or {}, now=timezone.now()),
    )
    _save_unique(member, force_insert=True)
    signals.member_created.send(sender=Member, member=member)
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
    """Partial update: any of the properties, `password` (None removes it), `banned_until` (None unbans) and
    `consents` (merged slug by slug, see `loyalty.consents`).
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
    if cleaned.get("consents"):
        locked.consents = consents_merge(locked.consents, cleaned["consents"], now=timezone.now())
        fields.append("consents")
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
    (DELETE), and the rows the cascade deletes — the rows naming it first (kit.db.races)."""
    lock_for_delete(Member, member.pk)
    signals.member_deleted.send(sender=Member, member=member)
    Member.objects.filter(pk=member.pk).delete()
