"""Regression tests for what the schemathesis run found (one test per finding, named after it)."""

from __future__ import annotations

from datetime import UTC, datetime

from loyalty.api.formats import format_datetime


def test_timestamps_before_year_1000_keep_a_four_digit_year():
    assert format_datetime(datetime(409, 8, 30, 6, 38, 27, 123456, tzinfo=UTC)) == "0409-08-30T06:38:27.123Z"
    assert format_datetime(datetime(2019, 3, 13, 17, 32, tzinfo=UTC)) == "2019-03-13T17:32:00.000Z"

