"""Writes of the rewards program. Every write is one database transaction; see each module for its locks."""

from rewards.services.expiration import DEFAULT_BATCH_SIZE, ExpirationResult, points_expire_due
from rewards.services.ledger import (
    achievement_report,
    membership_join,
    membership_leave,
    points_correct,
    points_grant,
    transaction_cancel,
)
from rewards.services.program import (
    achievement_create,
    achievement_delete,
    achievement_update,
    program_config_get,
    program_config_update,
)
from rewards.services.shop import (
    reward_create,
    reward_delete,
    reward_level_check,
    reward_purchase,
    reward_update,
    reward_use,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "ExpirationResult",
    "achievement_create",
    "achievement_delete",
    "achievement_report",
    "achievement_update",
    "membership_join",
    "membership_leave",
    "points_correct",
    "points_expire_due",
    "points_grant",
    "program_config_get",
    "program_config_update",
    "reward_create",
    "reward_delete",
    "reward_level_check",
    "reward_purchase",
    "reward_update",
    "reward_use",
    "transaction_cancel",
]
