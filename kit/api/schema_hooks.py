"""drf-spectacular hooks."""

from __future__ import annotations

LEGACY_PREFIX = "/v3/loyalty_clubs/"


def exclude_legacy_prefix(endpoints):
    """Drop the `/v3/loyalty_clubs/{lc}/…` aliases: each is the `/v3/{lc}/…` operation again, and listing both
    would double every operation id. The schema's description names the alias instead."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith(LEGACY_PREFIX)]
