"""Offer domain errors: the exact messages of SPEC §4.5 and §4.6."""

from __future__ import annotations

from kit.errors import BusinessRuleError, ResourceNotFound


class OfferNotFound(ResourceNotFound):
    code = "offer_not_found"

    def __init__(self, offer_id: object):
        super().__init__("Offer", offer_id)


class NotInUsableTimeframes(BusinessRuleError):
    code, message = "not_in_usable_timeframes", "Not in usable timeframes"


class NotGranted(BusinessRuleError):
    code, message = "not_granted", "Not granted"


class UsageAuthorizationTokenMissing(BusinessRuleError):
    code, message = "usage_authorization_token_missing", "Usage authorization token missing"


class UsageAuthorizationTokenInvalid(BusinessRuleError):
    code, message = "usage_authorization_token_invalid", "Usage authorization token invalid"


class AlreadyActive(BusinessRuleError):
    code, message = "already_active", "Already active"


class UserLimitExceeded(BusinessRuleError):
    code, message = "user_limit_exceeded", "User limit exceeded"


class PeriodicUserLimitExceeded(BusinessRuleError):
    code, message = "periodic_user_limit_exceeded", "Periodic user limit exceeded"


class GlobalLimitExceeded(BusinessRuleError):
    code, message = "global_limit_exceeded", "Global limit exceeded"


class NotGrantable(BusinessRuleError):
    code, message = "not_grantable", "Not grantable"


class MemberNotInAudience(BusinessRuleError):
    code, message = "member_not_in_audience", "Member not in audience"


class UserGrantLimitExceeded(BusinessRuleError):
    code, message = "user_grant_limit_exceeded", "User grant limit exceeded"
