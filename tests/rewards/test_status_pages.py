"""The status page of any size and depth answers exactly the member's ledger, newest first (SPEC §6.5): the
first page is read along the (membership, date desc, id desc) index, a later page first skips its offset
along that index alone and then reads its rows. Both must give what a plain sort of the rows gives, ties of
date included, and the pages must add up to the whole ledger whatever their size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.formats import format_datetime
from rewards import selectors, services
from rewards.models import Lot, Membership, Transaction
from tests.factories import LoyaltyClubFactory, MemberFactory
from tests.rewards.conftest import at

NOW = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

# A ledger row: minutes before NOW (few distinct values, so dates tie), amount, expiry of its lot in days
# (None: never expires), and its markers.
rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 6),
        st.integers(-50, 50).filter(bool),
        st.one_of(st.none(), st.integers(1, 400)),
        st.booleans(),
        st.booleans(),
    ),
    max_size=30,
)


def write_ledger(membership: Membership, rows) -> list[dict]:
    """The rows as stored, and each as SPEC §6.5's Transaction (positive rows are grants with their lot,
    negative ones corrections: what the page reads is the rows, not how they came to be)."""
    expected = []
    for minutes, amount, expiry_days, expired, cancelled in rows:
        date = NOW - minutes * MINUTE
        tx = Transaction.objects.create(
            membership=membership,
            type="grant" if amount > 0 else "correction",
            date=date,
            amount=amount,
            details={"grant_type": "test"} if amount > 0 else {"comment": f"row {len(expected)}"},
            expired_at=date if expired and amount > 0 else None,
            cancelled_at=date if cancelled else None,
        )
        expires_at = None
        if amount > 0:
            expires_at = None if expiry_days is None else date + timedelta(days=expiry_days)
            Lot.objects.create(transaction=tx, membership=membership, amount=amount, remaining=0, expires_at=expires_at)
        expected.append(
            {
                "id": tx.pk,
                "type": tx.type,
                "date": format_datetime(date),
                "amount": amount,
                "expires_at": format_datetime(expires_at),
                "expired_at": format_datetime(tx.expired_at),
                "cancelled_at": format_datetime(tx.cancelled_at),
                "details": tx.details,
            }
        )
    # The contract's order, computed here without the database: date descending, then id descending.
    return sorted(expected, key=lambda t: (NOW - datetime.fromisoformat(t["date"]), -t["id"]))


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, per_page=st.integers(1, 8), extra_pages=st.integers(0, 2))
def test_every_page_of_any_size_is_the_ledger_newest_first(rows, per_page, extra_pages):
    with transaction.atomic():
        club = LoyaltyClubFactory()
        member = MemberFactory(club=club)
        membership, _ = services.membership_join(member=member)
        expected = write_ledger(membership, rows)
        pages = -(-len(expected) // per_page)
        seen = []
        for page_no in range(1, pages + 1 + extra_pages):
            status = selectors.membership_status(club=club, member=member, page_no=page_no, per_page=per_page, now=NOW)
            offset = (page_no - 1) * per_page
            assert status["transactions"] == expected[offset : offset + per_page]
            assert status["pagination_info"]["total_count"] == len(expected)
            seen += status["transactions"]
        assert seen == expected
        transaction.set_rollback(True)


def test_deep_pages_through_the_api_add_up_to_the_first_page_of_the_whole_ledger(api, club, member, joined):
    for minutes in (3, 1, 1, 2, 0, 3, 1, 5, 0, 2, 2):  # dates out of id order, with ties
        with at(NOW - minutes * MINUTE):
            services.points_grant(member=member, points=minutes + 1)
    url = f"/v3/{club.slug}/members/{member.id}/rewards-program/status"
    whole = api.get(url).json()  # the first page of 1 000: read straight along the index
    pages = [api.get(url, {"per_page": 3, "page": page}).json() for page in (1, 2, 3, 4)]

    assert [t for page in pages for t in page["transactions"]] == whole["transactions"]
    assert len(whole["transactions"]) == 11
    for page in pages:  # everything but the page and its pagination is the same answer
        assert {k: v for k, v in page.items() if k not in ("transactions", "pagination_info")} == {
            k: v for k, v in whole.items() if k not in ("transactions", "pagination_info")
        }
    assert [page["pagination_info"]["total_count"] for page in pages] == [11] * 4


# --- The first page in one statement (PostgreSQL) equals the separate reads --------------------------------

open_lots_strategy = st.lists(
    st.tuples(st.integers(-3, 120), st.integers(0, 9), st.integers(0, 50)),  # hours from NOW, remaining, amount
    max_size=12,
)


@pytest.mark.postgres
@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=rows_strategy,
    open_lots=open_lots_strategy,
    per_page=st.integers(1, 8),
    tz=st.sampled_from(["UTC", "Europe/Oslo", "America/St_Johns", "Pacific/Kiritimati"]),
    config=st.sampled_from(["missing", "none", "regular", "virtual"]),
    lifetime=st.integers(0, 600),
    joined=st.booleans(),
)
def test_the_first_page_in_one_statement_is_the_answer_of_the_separate_reads(
    rows, open_lots, per_page, tz, config, lifetime, joined
):
    with transaction.atomic():
        club = LoyaltyClubFactory(timezone=tz)
        member = MemberFactory(club=club)
        if config != "missing":
            levels = {
                "none": None,
                "regular": {
                    "type": "regular",
                    "levels": [{"name": "Bronze", "points_threshold": 0}, {"name": "Gold", "points_threshold": 300}],
                },
                "virtual": {"type": "virtual_level", "maximum_points": 1000},
            }[config]
            services.program_config_update(club=club, levels_program=levels)
        if joined:
            membership, _ = services.membership_join(member=member)
            write_ledger(membership, rows)
            for hours, remaining, extra in open_lots:
                date = NOW - timedelta(days=30)
                amount = remaining + extra + 1
                tx = Transaction.objects.create(membership=membership, type="grant", date=date, amount=amount)
                Lot.objects.create(
                    transaction=tx,
                    membership=membership,
                    amount=amount,
                    remaining=remaining,
                    expires_at=NOW + timedelta(hours=hours),
                )
            Membership.objects.filter(pk=membership.pk).update(lifetime_points=lifetime)
        separate = selectors._membership_status(club=club, member=member, page_no=1, per_page=per_page, now=NOW)
        one = selectors._membership_status_first_page(club=club, member=member, per_page=per_page, now=NOW)
        assert one == separate
        assert selectors.membership_status(club=club, member=member, page_no=1, per_page=per_page, now=NOW) == one
        transaction.set_rollback(True)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_first_page_in_one_statement_creates_a_missing_configuration_as_the_separate_reads_do(club, member):
    from rewards.models import ProgramConfig

    services.membership_join(member=member)
    assert not ProgramConfig.objects.filter(club=club).exists()
    status = selectors._membership_status_first_page(club=club, member=member, per_page=10, now=NOW)
    assert status["level"] is None
    assert ProgramConfig.objects.filter(club=club).exists()
