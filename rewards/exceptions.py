"""Rewards errors, with the contract's exact messages (SPEC §6, §7)."""

from __future__ import annotations

from kit.errors import BusinessRuleError, NotAllowed, NotFound, NotParticipating, ResourceNotFound

__all__ = [
    "AchievementFrequencyLimitExceeded",
    "AchievementLimitExceeded",
    "AchievementNotFound",
    "AlreadyActive",
    "GlobalLimitExceeded",
    "MemberLevelTooLow",
    "NotEnoughPoints",
    "NotGranted",
    "NotInUsableTimeframes",
    "NotParticipating",
    "RewardNotFound",
    "TransactionCannotBeCancelled",
    "TransactionNotFound",
    "UserLimitExceeded",
]


class AchievementNotFound(NotFound):
    message = "Achievement not found"


class AchievementLimitExceeded(BusinessRuleError):
    code, message = "achievement_limit_exceeded", "Achievement limit exceeded"


class AchievementFrequencyLimitExceeded(BusinessRuleError):
    code, message = "achievement_frequency_limit_exceeded", "Achievement frequency limit exceeded"


class NotEnoughPoints(BusinessRuleError):
    code, message = "not_enough_points", "Not enough points"


class MemberLevelTooLow(BusinessRuleError):
    code, message = "member_level_too_low", "Member level is not high enough"


class GlobalLimitExceeded(BusinessRuleError):
    code, message = "global_limit_exceeded", "Global limit exceeded"


class NotGranted(BusinessRuleError):
    code, message = "not_granted", "Not granted"


class NotInUsableTimeframes(BusinessRuleError):
    code, message = "not_in_usable_timeframes", "Not in usable timeframes"


class AlreadyActive(BusinessRuleError):
    code, message = "already_active", "Already active"


class UserLimitExceeded(BusinessRuleError):
    code, message = "user_limit_exceeded", "User limit exceeded"


class TransactionCannotBeCancelled(NotAllowed):
    code, message = "transaction_cannot_be_cancelled", "Transaction cannot be cancelled"


class RewardNotFound(ResourceNotFound):
    def __init__(self, reward_id):
        super().__init__("Reward", reward_id)


class TransactionNotFound(ResourceNotFound):
    def __init__(self, transaction_id):
        super().__init__("Transaction", transaction_id)
