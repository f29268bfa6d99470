"""Calendar periods in a club's time zone (SPEC §1.6), the one home of the rule for offers' periodic limits and
achievements' frequency limits: the current minute / hour / day / ISO week (Monday start) / month / year."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from types import MappingProxyType

TIMESPANS = ("minute", "hour", "day", "week", "month", "year")


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


_MINUTE = timedelta(minutes=1)
_TICK = timedelta(microseconds=1)
# Per time zone: (from, until, the starts of every timespan at any instant of [from, until)).
_starts_memo: dict[tzinfo, tuple[datetime, datetime, Mapping[str, datetime]]] = {}


def period_starts(*, now: datetime, tz: tzinfo) -> Mapping[str, datetime]:
    """`period_start` of every timespan (`TIMESPANS`) at `now` in `tz`, read-only. Each request of the member
    offer API needs them; they change only from one local minute to the next, so the last minute's are kept
    per time zone. Every start is a function of the local minute of `now` (its date, hour and minute), which
    is the same for every instant of the minute when the zone's UTC offset does not change within it: the
    kept starts are used only for instants of such a minute, and are what `period_start` answers there."""
    memo = _starts_memo.get(tz)
    if memo is not None and memo[0] <= now < memo[1]:
        return memo[2]
    starts = MappingProxyType({timespan: period_start(timespan, now=now, tz=tz) for timespan in TIMESPANS})
    since = starts["minute"]
    until = since + _MINUTE
    offset = since.astimezone(tz).utcoffset()
    if since <= now < until and (until - _TICK).astimezone(tz).utcoffset() == offset == now.astimezone(tz).utcoffset():
        _starts_memo[tz] = (since, until, starts)
    return starts


def months_back(*, now: datetime, tz: tzinfo, count: int) -> list[tuple[int, int]]:
    """(year, month) of the `count` calendar months ending with the current one, newest first."""
    local = now.astimezone(tz)
    index = local.year * 12 + local.month - 1
    return [((index - i) // 12, (index - i) % 12 + 1) for i in range(count)]
