"""Regression tests for what the schemathesis run found (one test per finding, named after it)."""

from __future__ import annotations

from datetime import UTC, datetime

from loyalty.api.formats import format_datetime


def test_timestamps_before_year_1000_keep_a_four_digit_year():
    assert format_datetime(datetime(409, 8, 30, 6, 38, 27, 123456, tzinfo=UTC)) == "0409-08-30T06:38:27.123Z"
    assert format_datetime(datetime(2019, 3, 13, 17, 32, tzinfo=UTC)) == "2019-03-13T17:32:00.000Z"


def test_more_query_parameters_than_django_accepts_is_a_422_not_a_500(api, club):
    query = "&".join(f"collection_ids={i}" for i in range(1, 1202))
    response = api.get(f"/v3/{club.slug}/members/guest/offers?{query}")
    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {
            "base": [
                {
                    "value": None,
                    "error": "size_too_large",
                    "options": {"number": 1000},
                    "message": "size cannot be greater than 1000",
                }
            ]
        },
    }

