"""Calendar periods in a club's time zone (SPEC §1.6), the one home of the rule for offers' periodic limits and
achievements' frequency limits: the current minute / hour / day / ISO week (Monday start) / month / year."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo


def period_start(timespan: str, *, now: datetime, tz: tzinfo) -> datetime:
    """The start (aware, UTC) of the calendar period of `timespan` that contains `now`, in `tz`."""
    local = now.astimezone(tz)
    timespan = timespan.lower()
    if timespan == "minute":
        start = local.replace(second=0, microsecond=0)
    elif timespan == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    else:
        day = local.date()
        if timespan == "week":
            day -= timedelta(days=day.weekday())
        elif timespan == "month":
            day = day.replace(day=1)
        elif timespan == "year":
            day = day.replace(month=1, day=1)
        elif timespan != "day":
            raise ValueError(f"unknown timespan {timespan!r}")
        # Local midnight; a fresh datetime (not .replace on `local`) so the UTC offset is that of midnight,
        # which differs from now's on the days clocks change.
        start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return start.astimezone(UTC)


def months_back(*, now: datetime, tz: tzinfo, count: int) -> list[tuple[int, int]]:
    """(year, month) of the `count` calendar months ending with the current one, newest first."""
    local = now.astimezone(tz)
    index = local.year * 12 + local.month - 1
    return [((index - i) // 12, (index - i) % 12 + 1) for i in range(count)]
