"""Wire formats shared by every endpoint (SPEC §1.6)."""

from __future__ import annotations

from datetime import UTC, datetime


def format_datetime(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and `Z`: `2019-03-13T17:32:00.000Z`."""
    if value is None:
        return None
    # isoformat pads the year to four digits, which strftime's %Y does not on Linux (year 409 → "409-…").
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
