"""Wire formats shared by every endpoint (SPEC §1.6)."""

from __future__ import annotations

from datetime import UTC, datetime


def format_datetime(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and `Z`: `2019-03-13T17:32:00.000Z`."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
