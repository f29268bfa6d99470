"""Entry points other apps call into the rewards program (offers → rewards, never the reverse)."""

from __future__ import annotations


def offer_used(*, usage) -> None:
    """Called inside the offer-use transaction for every *authorized* use (SPEC §4.5): awards the
    `coupon_used` achievement when the member participates, silently skipping when the rule is
    missing or its limit / frequency is exhausted. Must never raise a business error."""
    return None
