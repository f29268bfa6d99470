"""Writes for member groups (audiences, SPEC §3.3): the group rows and their members, added and removed in bulk."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from kit.db.races import lock_for_delete
from kit.errors import ResourceNotFound
from loyalty.models import LoyaltyClub, Member, MemberGroup, MemberGroupMembership

GROUP_MEMBERS_PER_CALL = 10_000
# Ids per query when adding or removing group members: 5 000 rows x 3 columns stays far below PostgreSQL's
# 65 535 bind parameters and SQLite's 32 766, so 10 000 ids take two lookups and two inserts.
GROUP_MEMBERS_CHUNK = 5_000


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
    """Delete the group and its memberships (never the members). Locks the rows naming the group, then it."""
    lock_for_delete(MemberGroup, group.pk)
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
