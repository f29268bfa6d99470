"""rewards.rules: the FIFO plan and the achievement rule as pure functions, and the lot query held equal to
the Python FIFO order the simulator uses (hypothesis, on generated lots)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards import rules
from rewards.exceptions import AchievementFrequencyLimitExceeded, AchievementLimitExceeded
from rewards.models import Lot, Transaction
from rewards.services.ledger import _fifo_candidates

NOW = datetime(2030, 6, 12, 10, 0, tzinfo=UTC)


# --- fifo_plan -------------------------------------------------------------------------------------


def test_the_plan_empties_each_lot_in_the_order_given_before_touching_the_next():
    assert rules.fifo_plan(25, [("a", 10), ("b", 10), ("c", 10)]) == [("a", 10), ("b", 10), ("c", 5)]


def test_the_first_lot_is_drawn_before_the_fifo_lots_and_empty_lots_are_skipped():
    plan = rules.fifo_plan(12, [("a", 0), ("b", 10)], first=("cancelled", 5))

    assert plan == [("cancelled", 5), ("b", 7)]


def test_a_plan_that_cannot_be_covered_is_none():
    assert rules.fifo_plan(21, [("a", 10), ("b", 10)]) is None
    assert rules.fifo_plan(5, [], first=("x", 0)) is None


def test_the_lots_are_read_no_further_than_the_lot_that_covers_the_points():
    read = []

    def lots():
        for name in "abcdef":
            read.append(name)
            yield name, 10

    assert rules.fifo_plan(20, lots()) == [("a", 10), ("b", 10)]
    assert read == ["a", "b"]


def test_nothing_to_draw_plans_nothing():
    assert rules.fifo_plan(0, [("a", 10)]) == []


# --- achievement_refusal ---------------------------------------------------------------------------


def refusal(dates, **rule):
    rule = {"limit": None, "frequency_timespan": None, "frequency_limit": None, **rule}
    asked = []

    def earned_since(start):
        asked.append(start)
        return sum(1 for d in dates if start is None or d >= start)

    return rules.achievement_refusal(**rule, earned_since=earned_since, now=NOW, tz=UTC), asked


def test_the_lifetime_limit_is_checked_before_the_frequency():
    answer, _ = refusal([NOW - timedelta(days=400), NOW], limit=2, frequency_timespan="day", frequency_limit=1)

    assert answer is AchievementLimitExceeded


def test_the_frequency_counts_only_the_current_calendar_period():
    yesterday, this_morning = NOW - timedelta(days=1), NOW.replace(hour=8)

    assert refusal([yesterday], frequency_timespan="day", frequency_limit=1)[0] is None
    assert refusal([this_morning], frequency_timespan="day", frequency_limit=1)[0] is AchievementFrequencyLimitExceeded


def test_no_limit_and_no_frequency_always_allows_and_asks_for_no_count():
    answer, asked = refusal([NOW] * 50)

    assert answer is None
    assert asked == []


# --- The lot query and the Python FIFO order agree -------------------------------------------------

lot_specs = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=50),  # remaining
        st.one_of(st.none(), st.integers(min_value=-3, max_value=3)),  # expiry, in days from NOW
    ),
    min_size=1,
    max_size=30,  # past the first page (20 lots) of the query
)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=lot_specs)
def test_the_ledgers_lot_query_reads_the_lots_in_the_fifo_order_of_the_rule(joined, specs):
    with transaction.atomic():
        lots = []
        for remaining, days in specs:
            tx = Transaction.objects.create(
                membership=joined, type=Transaction.GRANT, date=NOW, amount=max(remaining, 1), details={}
            )
            expires_at = None if days is None else NOW + timedelta(days=days, minutes=1)
            lots.append(
                Lot.objects.create(
                    transaction=tx,
                    membership=joined,
                    amount=max(remaining, 1),
                    remaining=remaining,
                    expires_at=expires_at,
                )
            )
        expected = [
            (lot.pk, lot.remaining)
            for lot in sorted(lots, key=lambda lot: rules.fifo_key(expires_at=lot.expires_at, seq=lot.pk))
            if rules.lot_spendable(remaining=lot.remaining, expires_at=lot.expires_at, at=NOW)
        ]

        read = [tuple(row) for row in _fifo_candidates(membership=joined, now=NOW, exclude_lot_id=None)]
        assert read == expected
        transaction.set_rollback(True)
