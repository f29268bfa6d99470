"""Entry points other apps call into the rewards program (offers → rewards, never the reverse)."""

from __future__ import annotations

import logging

from kit.errors import DomainError

logger = logging.getLogger(__name__)


def offer_used(*, usage) -> None:
    """Called inside the offer-use transaction for every *authorized* use (SPEC §4.5): awards the
    `coupon_used` achievement when the member participates, silently skipping when the rule is
    missing or its limit / frequency is exhausted. Must never raise a business error.

    `usage` has `.member`, `.offer` and `.used_at`. The award runs in a savepoint (the service is atomic),
    so a refusal leaves the offer use untouched."""
    # Imported here so that importing this module (offers does, at load time) never loads models.
    from rewards.services import achievement_report

    member = usage.member
    if not member.club.rewards_enabled:
        return
    try:
        achievement_report(member=member, type="coupon_used")
    except DomainError as exc:  # no rule, limit or frequency exhausted, not joined, banned
        logger.debug("coupon_used not awarded to member %s: %s", member.pk, exc)
