"""Calendar periods in a club's time zone (SPEC §1.6): the current hour / day / ISO week / month / year."""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo


def period_start(*, timespan: str, now: datetime, tz: tzinfo) -> datetime:
    """The instant the calendar `timespan` containing `now` began, in `tz` (an aware datetime)."""
    local = now.astimezone(tz)
    if timespan == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.date()
    if timespan == "week":
        day -= timedelta(days=day.weekday())  # ISO weeks start on Monday
    elif timespan == "month":
        day = day.replace(day=1)
    elif timespan == "year":
        day = day.replace(month=1, day=1)
    elif timespan != "day":
        raise ValueError(f"unknown timespan {timespan!r}")
    return datetime.combine(day, time(0), tzinfo=tz)


def months_back(*, now: datetime, tz: tzinfo, count: int) -> list[tuple[int, int]]:
    """(year, month) of the `count` calendar months ending with the current one, newest first."""
    local = now.astimezone(tz)
    index = local.year * 12 + local.month - 1
    return [((index - i) // 12, (index - i) % 12 + 1) for i in range(count)]
