"""Read paths keep a fixed number of queries whatever the data (STYLE §17): the status of a member with
100 000 transactions answers from the cached balance, and the shop lists never go N+1."""

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from rewards import services
from rewards.models import Lot, Membership, Transaction
from tests.rewards.conftest import at

NOW = datetime(2024, 6, 1, tzinfo=UTC)
LEDGER_SIZE = 100_000


def bulk_ledger(membership: Membership, *, size: int, start: datetime) -> None:
    """`size` grants one minute apart from `start` (amounts 1..5), each with its lot expiring a year later,
    written by the database itself (a Python loop over 200 000 rows would dominate the test)."""
    tx, lot = Transaction._meta.db_table, Lot._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"""INSERT INTO {tx} (membership_id, type, date, amount, details)
                SELECT %s, 'grant', %s::timestamptz + i * interval '1 minute', 1 + i %% 5, '{{}}'::jsonb
                FROM generate_series(0, %s - 1) AS i""",
                [membership.pk, start, size],
            )
            expiry = "t.date + interval '365 days'"
        else:
            cursor.execute(
                f"""WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < %s)
                INSERT INTO {tx} (membership_id, type, date, amount, details)
                SELECT %s, 'grant', datetime(%s, '+' || i || ' minutes'), 1 + i %% 5, '{{}}' FROM seq""",
                [size, membership.pk, start.strftime("%Y-%m-%d %H:%M:%S")],
            )
            expiry = "datetime(t.date, '+365 days')"
        cursor.execute(
            f"""INSERT INTO {lot} (transaction_id, membership_id, amount, remaining, expires_at, expiry_round)
            SELECT t.id, t.membership_id, t.amount, t.amount, {expiry}, 0 FROM {tx} t WHERE t.membership_id = %s""",
            [membership.pk],
        )


def test_status_of_a_member_with_100000_transactions_uses_the_cache_and_a_fixed_number_of_queries(
    api, club, member, joined, django_assert_num_queries
):
    services.program_config_get(club=club)
    bulk_ledger(joined, size=LEDGER_SIZE, start=NOW - timedelta(days=300))
    ledger = Transaction.objects.filter(membership=joined)
    assert ledger.count() == LEDGER_SIZE
    total = sum(ledger.values_list("amount", flat=True))
    newest_first = list(ledger.order_by("-date", "-id").values_list("id", flat=True))
    Membership.objects.filter(pk=joined.pk).update(balance=total, lifetime_points=total)
    url = f"/v3/{club.slug}/members/{member.id}/rewards-program/status"

    # PostgreSQL reads the total from the trigger-kept transactions_count; SQLite (development) counts.
    expected = 7 if connection.vendor == "postgresql" else 8
    with at(NOW), django_assert_num_queries(expected), CaptureQueriesContext(connection) as queries:
        response = api.get(url, {"page": 50, "per_page": 1000})

    assert response.status_code == 200
    body = response.json()
    assert (body["balance"], body["lifetime_points"]) == (total, total)
    assert body["pagination_info"]["total_count"] == LEDGER_SIZE
    assert [t["id"] for t in body["transactions"]] == newest_first[49_000:50_000]
    assert len(body["expiring_points"]) == 3
    ledger_sums = [q["sql"] for q in queries if "SUM(" in q["sql"].upper() and "rewards_transaction" in q["sql"]]
    assert ledger_sums == []
    ledger_counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "rewards_transaction" in q["sql"]]
    if connection.vendor == "postgresql":
        assert ledger_counts == []  # the total is the membership's trigger-kept transactions_count
        # The deep page's skip runs once, as an array (an `IN (skip)` may be rescanned per ledger row).
        assert [q for q in queries if '"rewards_transaction"."id" = ANY((ARRAY(SELECT' in q["sql"]]


def test_the_rewards_lists_do_not_grow_queries_with_the_number_of_rewards(
    member_api, club, member, joined, make_reward
):
    services.points_grant(member=member, points=10_000)

    def counts() -> tuple[int, int]:
        for i in range(3):
            services.reward_purchase(member=member, reward=make_reward(name=f"R{i}", price=10, stock=5))
        with CaptureQueriesContext(connection) as listing:
            assert member_api.get(f"/v3/{club.slug}/members/me/rewards-program/rewards").status_code == 200
        with CaptureQueriesContext(connection) as purchased:
            assert member_api.get(f"/v3/{club.slug}/members/me/rewards-program/rewards/purchased").status_code == 200
        return len(listing), len(purchased)

    assert counts() == counts()
