"""Member-change events (the published Members Webhooks): `member.imported`, `member.updated`,
`member.deleted`, written to the outbox by receivers of loyalty's member signals (connected in
webhooks/apps.py), in the transaction of the change.

An event's `data` holds everything either format needs, taken when the change happens (a delivery made later
shows the member as the change left it, not as it is by then): the member after the change, the changes
(`~` changed, `+` added, `-` removed; only what actually changed), the event's type and time, and the club.
`webhooks.formats` writes it as our envelope or as a Placewise v1 or v2 notification.

Registration and import both create members in the published API's vocabulary ("import"): sign-ups,
admin-created and imported members all emit `member.imported`.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from kit.formats import format_datetime

IMPORTED, UPDATED, DELETED = "member.imported", "member.updated", "member.deleted"
CHANGE_OF_TYPE = {IMPORTED: "import", UPDATED: "update", DELETED: "delete"}
TYPE_OF_CHANGE = {change: type for type, change in CHANGE_OF_TYPE.items()}

# Top-level attributes of the published member model, and the properties we hold. `gender` (and the
# member's `consents`) exist once the published member fields are in; until then they read as absent.
_TOP_LEVEL = ("msisdn", "email")
_PROPERTIES = ("first_name", "last_name", "birthday", "language", "gender")


def _value(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _properties(member) -> dict[str, Any]:
    return {name: _value(getattr(member, name, None)) for name in _PROPERTIES if hasattr(member, name)}


def _consents(member) -> dict[str, dict]:
    """The published webhook shape `{slug: {updated_at, value}}` of the member's consents, whichever way a
    consent is stored (`status` or `value`)."""
    stored = getattr(member, "consents", None)
    if not isinstance(stored, dict):
        return {}
    out = {}
    for slug, consent in stored.items():
        if isinstance(consent, dict):
            value = consent.get("status", consent.get("value"))
            out[slug] = {"updated_at": consent.get("updated_at"), "value": value}
        else:
            out[slug] = {"updated_at": None, "value": consent}
    return out


def member_snapshot(member) -> dict[str, Any]:
    """The member as the published Member JSON model shows it. Statuses and channels we do not keep are null,
    and so is `person_id` (we have no person records apart from members)."""
    return {
        "id": member.pk,
        "person_id": None,
        "msisdn": member.msisdn,
        "email": member.email,
        "properties": _properties(member),
        "consents": _consents(member),
        "sms_status": None,
        "email_status": None,
        "push_status": None,
        "optin_channel": None,
        "optin_subchannel": None,
        "created_at": format_datetime(member.created_at),
        "updated_at": format_datetime(member.updated_at),
    }


def _change(was: Any, now: Any) -> dict[str, Any] | None:
    if was == now:
        return None
    kind = "+" if was is None else "-" if now is None else "~"
    return {"change": kind, "was": was, "is": now}


def member_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """The published Changes object between two snapshots; a creation is every non-empty value added."""
    before = before or {"properties": {}, "consents": {}}
    out: dict[str, Any] = {}
    for name in _TOP_LEVEL:
        change = _change(before.get(name), after.get(name))
        if change:
            out[name] = change
    properties = {}
    for name in sorted(set(before["properties"]) | set(after["properties"])):
        change = _change(before["properties"].get(name), after["properties"].get(name))
        if change:
            properties[name] = change
    if properties:
        out["properties"] = properties
    consents = {}
    for slug in sorted(set(before["consents"]) | set(after["consents"])):
        was = (before["consents"].get(slug) or {}).get("value")
        now = (after["consents"].get(slug) or {}).get("value")
        change = _change(was, now)
        if change:
            consents[slug] = change
    if consents:
        out["consents"] = consents
    return out


def _data(*, type: str, club, member: dict, changes: dict) -> dict[str, Any]:
    return {
        "member_id": member["id"],
        "loyalty_club_id": club.id,
        "loyalty_club": {"id": club.id, "slug": club.slug, "name": club.name},
        "event": {"type": CHANGE_OF_TYPE[type], "date": format_datetime(timezone.now())},
        "member": member,
        "member_changes": changes,
    }


def _listened(club_id: int, type: str) -> bool:
    from webhooks.services import _active_endpoints

    return any(type in (events or []) for _, events in _active_endpoints.rows(club_id=club_id))


def _emit(*, type: str, member, before=None) -> None:
    from webhooks.services import event_emit

    if not _listened(member.club_id, type):  # nobody listens: build nothing (and read no club)
        return
    club = member.club
    after = member_snapshot(member)
    if type == DELETED:
        snapshot, changes = (
            {"id": after["id"], "person_id": None, "msisdn": after["msisdn"], "email": after["email"]},
            {},
        )
    else:
        snapshot = after
        changes = member_changes(member_snapshot(before) if before is not None else None, after)
        if type == UPDATED and not changes:
            return  # e.g. only the password or the ban changed: nothing the published model shows
    event_emit(
        club_id=club.id,
        type=type,
        data=_data(type=type, club=club, member=snapshot, changes=changes),
        member_id=member.pk,
    )


# --- Receivers of loyalty.signals -----------------------------------------------------------------


def on_member_created(sender, member, **kwargs) -> None:
    _emit(type=IMPORTED, member=member)


def on_member_updated(sender, member, before, **kwargs) -> None:
    _emit(type=UPDATED, member=member, before=before)


def on_member_deleted(sender, member, **kwargs) -> None:
    _emit(type=DELETED, member=member)


def on_members_imported(sender, club, created, updated, notified, **kwargs) -> None:
    """One batch of an import: created members are `import` events (unless `member_created` already went out
    for them), changed ones `update` events; written with one bulk insert."""
    from webhooks.services import events_emit_many

    for type, pairs in ((IMPORTED, [] if notified else [(m, None) for m in created]), (UPDATED, updated)):
        if not pairs or not _listened(club.id, type):
            continue
        events = []
        for member, before in pairs:
            if member.pk is None:  # a backend that returns no ids from a bulk insert
                continue
            after = member_snapshot(member)
            changes = member_changes(member_snapshot(before) if before is not None else None, after)
            if changes or type == IMPORTED:
                events.append((club.id, member.pk, _data(type=type, club=club, member=after, changes=changes)))
        events_emit_many(type=type, events=events)
