"""JSON shapes of SPEC §6–7 (Transaction, Achievement, Reward, RewardUsage), shared by the API and the
webhook events. Timestamps go through `format_datetime` (UTC, milliseconds, `Z`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kit.formats import format_datetime
from rewards.models import Achievement, ProgramConfig, Reward, Transaction

_UNSET: Any = object()

# Values rows for transaction lists: one query, no model instances (status pages hold up to 1000 rows).
TRANSACTION_ROW_FIELDS = ("id", "type", "date", "amount", "details", "expired_at", "cancelled_at", "lot__expires_at")


def transaction_row_to_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "type": row["type"],
        "date": format_datetime(row["date"]),
        "amount": row["amount"],
        "expires_at": format_datetime(row["lot__expires_at"]),
        "expired_at": format_datetime(row["expired_at"]),
        "cancelled_at": format_datetime(row["cancelled_at"]),
        "details": row["details"] or {},
    }


def transaction_to_json(tx: Transaction, *, expires_at: datetime | None = _UNSET) -> dict:
    """`expires_at` is the lot's (null for rows that are not lots, or lots that never expire)."""
    if expires_at is _UNSET:
        lot = getattr(tx, "lot", None) if tx.is_lot else None
        expires_at = lot.expires_at if lot is not None else None
    return transaction_row_to_json(
        {
            "id": tx.pk,
            "type": tx.type,
            "date": tx.date,
            "amount": tx.amount,
            "details": tx.details,
            "expired_at": tx.expired_at,
            "cancelled_at": tx.cancelled_at,
            "lot__expires_at": expires_at,
        }
    )


def achievement_to_json(rule: Achievement) -> dict:
    frequency = None
    if rule.frequency_timespan:
        frequency = {"timespan": rule.frequency_timespan, "limit": rule.frequency_limit}
    return {
        "id": rule.pk,
        "type": rule.type,
        "name": rule.name,
        "points": rule.points,
        "limit": rule.limit,
        "frequency": frequency,
    }


def program_info_to_json(config: ProgramConfig, achievements: list[Achievement]) -> dict:
    return {
        "achievements": [achievement_to_json(a) for a in achievements],
        "levels_program": config.levels_program,
        "reward_activation_time": config.reward_activation_time,
        "points_validity_days": config.points_validity_days,
    }


def reward_to_json(reward: Reward) -> dict:
    """The member's view of a reward."""
    return {
        "id": reward.pk,
        "name": reward.name,
        "description": reward.description,
        "price": reward.price,
        "required_member_level": reward.required_member_level,
        "remaining_stock": reward.remaining_stock,
        "available_until": format_datetime(reward.available_until),
        "files": reward.files or [],
    }


def reward_admin_to_json(reward: Reward) -> dict:
    """The staff view: the member fields plus the management ones."""
    return {
        **reward_to_json(reward),
        "status": reward.status,
        "stock": reward.stock,
        "uses_per_purchase": reward.uses_per_purchase,
        "usable_for_seconds": reward.usable_for_seconds,
        "archived_at": format_datetime(reward.archived_at),
    }


def usage_to_json(usage: dict) -> dict:
    return {
        "left": usage["left"],
        "active_until": format_datetime(usage["active_until"]),
        "usable_until": format_datetime(usage["usable_until"]),
        "usable": usage["usable"],
    }


def purchased_reward_to_json(reward: Reward, usage: dict) -> dict:
    """A purchased reward: the member view without price and stock, plus the summed `usage`."""
    data = reward_to_json(reward)
    del data["price"], data["remaining_stock"]
    data["usage"] = usage_to_json(usage)
    return data
