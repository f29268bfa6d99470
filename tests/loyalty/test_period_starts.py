"""`kit.periods.period_starts` keeps the starts of the last local minute per time zone: whatever the order
of the instants asked for, around clock changes and in zones whose offsets are not whole hours (or were not
whole minutes), it answers what `period_start` answers for each timespan."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit import periods
from kit.periods import TIMESPANS, period_start, period_starts
from offers.models import Timespan

ZONES = [
    "UTC",
    "Europe/Oslo",
    "America/New_York",
    "Pacific/Auckland",
    "Australia/Lord_Howe",  # a 30-minute clock change
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +12:45 / +13:45
    "Africa/Monrovia",  # -00:44:30 until 1972: minutes that do not start on a UTC minute
]
# Instants near clock changes (and near Monrovia's last odd offset), plus ordinary ones.
AROUND = [
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    datetime(2026, 4, 4, 14, 0, tzinfo=UTC),
    datetime(2026, 4, 4, 15, 0, tzinfo=UTC),
    datetime(2026, 9, 26, 14, 0, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC),
    datetime(1972, 1, 7, 0, 44, 30, tzinfo=UTC),
    datetime(1971, 6, 1, 12, 0, 0, tzinfo=UTC),
]


@pytest.fixture(autouse=True)
def _no_kept_starts():
    periods._starts_memo.clear()
    yield
    periods._starts_memo.clear()


def test_the_timespans_are_the_offers_timespans():
    assert tuple(Timespan.values) == TIMESPANS


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    around=st.sampled_from(AROUND),
    steps=st.lists(st.integers(-150_000_000, 150_000_000), min_size=1, max_size=8),  # µs: ± 2.5 minutes
)
def test_the_kept_starts_are_what_period_start_answers(zone, around, steps):
    tz = zoneinfo.ZoneInfo(zone)
    for step in steps:
        now = around + timedelta(microseconds=step)
        assert dict(period_starts(now=now, tz=tz)) == {ts: period_start(ts, now=now, tz=tz) for ts in TIMESPANS}


def test_the_starts_of_a_minute_are_kept_and_read_only():
    tz = zoneinfo.ZoneInfo("Europe/Oslo")
    now = datetime(2026, 6, 1, 10, 15, 20, tzinfo=UTC)
    first = period_starts(now=now, tz=tz)
    assert period_starts(now=now + timedelta(seconds=39), tz=tz) is first
    after = period_starts(now=now + timedelta(seconds=40), tz=tz)  # 10:16:00 UTC: the next minute
    assert after["minute"] == datetime(2026, 6, 1, 10, 16, tzinfo=UTC)
    with pytest.raises(TypeError):
        first["minute"] = now  # type: ignore[index]


class _JumpMidMinute(tzinfo):
    """A zone whose clocks jump 20 seconds forward at 12:00:30 UTC: a minute no real zone has (their clocks
    change on local minutes), where the starts of the minute's first instant do not hold for its last."""

    AT = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    JUMP = timedelta(seconds=20)

    def utcoffset(self, dt):
        return self.JUMP if dt.replace(tzinfo=None) >= (self.AT + self.JUMP).replace(tzinfo=None) else timedelta(0)

    def fromutc(self, dt):
        offset = self.JUMP if dt.replace(tzinfo=UTC) >= self.AT else timedelta(0)
        return dt + offset

    def dst(self, dt):
        return timedelta(0)


def test_the_starts_are_not_kept_over_a_minute_whose_offset_changes():
    tz = _JumpMidMinute()
    early, late = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC), datetime(2026, 1, 1, 12, 0, 45, tzinfo=UTC)
    assert period_starts(now=early, tz=tz)["minute"] == period_start("minute", now=early, tz=tz)
    kept = period_starts(now=late, tz=tz)["minute"]
    assert kept == period_start("minute", now=late, tz=tz) != early.replace(second=0)
