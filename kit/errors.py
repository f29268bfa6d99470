"""Domain errors. Services raise them; the API's exception handler renders them as the contract says.

Each carries its HTTP status, a stable `code` and the contract's exact message.
"""

from __future__ import annotations

from datetime import datetime

from kit.formats import format_datetime


class DomainError(Exception):
    """Framework-free: the API's one exception handler (kit.api.exceptions) maps it to its status and body."""

    status_code = 422
    code = "error"
    message = "Error"

    def __init__(self, message: str | None = None, *, extra: dict | None = None):
        self.message = message or self.message
        self.extra = extra or {}
        super().__init__(self.message)

    def body(self) -> dict:
        return {"error": self.message, **self.extra}

    def __str__(self) -> str:
        return self.message


class InvalidJSON(DomainError):
    status_code, code, message = 400, "invalid_json", "Invalid JSON"


class ClientTokenInvalid(DomainError):
    status_code, code, message = 401, "unauthorized", "Invalid client token"


class FeatureDisabled(DomainError):
    status_code, code = 402, "feature_disabled"


class OffersDisabled(FeatureDisabled):
    message = "Offers are not enabled for the Loyalty Club"


class RewardsDisabled(FeatureDisabled):
    message = "Rewards Program is not enabled for the Loyalty Club"


class MissingPermit(DomainError):
    status_code, code = 403, "missing_permit"

    def __init__(self, permit: str):
        self.permit = permit
        super().__init__(f"Missing permit: {permit}")


class NotFound(DomainError):
    status_code, code, message = 404, "not_found", "Not found"


class ClubNotFound(NotFound):
    message = "Loyalty club not found"


class ResourceNotFound(NotFound):
    """`<Kind>#<id> not found`, e.g. `Offer#123 not found`."""

    def __init__(self, kind: str, ident: object):
        super().__init__(f"{kind}#{ident} not found")


class NotAllowed(DomainError):
    status_code, code, message = 405, "not_allowed", "Method not allowed"


class Conflict(DomainError):
    status_code, code = 409, "conflict"


class BodyTooLarge(DomainError):
    status_code, code, message = 413, "body_too_large", "Request body is larger than 1 MiB"


class ConcurrentlyDeleted(Exception):
    """A row the request depends on was deleted by a concurrent request after the request had found it.

    Not an answer: the API's base view runs the request again, and the second run finds the row gone and
    answers what the contract says for that (404 `Member#12 not found`, 460 …). Raised where a service finds
    the row gone under its lock; a foreign-key violation at commit means the same (kit.db.races)."""


class LengthRequired(DomainError):
    """A chunked body under a server that cannot hand it over (see kit.api.body)."""

    status_code, code, message = 411, "length_required", "Content-Length required"


class BusinessRuleError(DomainError):
    """A 422 business-rule refusal `{"error": "<message>"}`."""

    status_code, code = 422, "business_rule"


class InvalidParameters(DomainError):
    """422 with the "Invalid parameters" tree (SPEC §1.4)."""

    status_code, code, message = 422, "invalid_parameters", "Invalid parameters"

    def __init__(self, details: dict):
        self.details = details
        super().__init__(extra={"details": details})


class RateLimited(DomainError):
    status_code, code, message = 429, "rate_limited", "Rate limit exceeded"

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__()


class MemberTokenInvalid(DomainError):
    status_code, code, message = 460, "member_token_invalid", "Invalid member access token"


class MemberCredentialsInvalid(DomainError):
    status_code, code, message = 461, "invalid_credentials", "Invalid credentials"


class RefreshTokenInvalid(DomainError):
    status_code, code, message = 462, "invalid_refresh_token", "Invalid refresh token"


class MemberBanned(DomainError):
    status_code, code, message = 467, "member_banned", "Member is banned!"

    def __init__(self, banned_until: datetime):
        super().__init__(extra={"banned_until": format_datetime(banned_until)})


class MissingHeader(DomainError):
    status_code, code = 470, "missing_header"

    def __init__(self, header: str):
        super().__init__(f"Missing header: {header}")


class WrongHeader(DomainError):
    status_code, code = 471, "wrong_header"

    def __init__(self, header: str):
        super().__init__(f"Wrong header value: {header}")


class NotParticipating(DomainError):
    status_code, code, message = 480, "not_participating", "Member is not participating in Rewards Program"


# Reason phrases for the contract's non-standard status codes.
REASON_PHRASES = {
    460: "Member Token Invalid",
    461: "Invalid Member Credentials",
    462: "Invalid Refresh Token",
    467: "Member Banned",
    470: "Missing Header",
    471: "Wrong Header",
    480: "Not Participating",
}
