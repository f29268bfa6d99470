"""The expiration job (SPEC §6.6, §8, §9): batches, keyset order, flat cost, commands and reconciliation."""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from rewards import services
from rewards.models import Lot, Membership, Transaction
from rewards.tasks import expire_points
from tests.factories import MemberFactory
from tests.rewards.conftest import at, balance

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def short_validity(club):
    services.program_config_update(club=club, points_validity_days=10)


def joined_member(club):
    member = MemberFactory(club=club)
    services.membership_join(member=member)
    return member


def grant_at(member, points, when):
    with at(when):
        return services.points_grant(member=member, points=points)


def test_small_batches_expire_every_due_lot_exactly_once(club, short_validity):
    members = [joined_member(club) for _ in range(3)]
    lots = []
    for i in range(7):
        # Pairs share an expiry instant, so the keyset's tie-break on id is exercised.
        lots.append(grant_at(members[i % 3], 10 + i, T0 + timedelta(hours=i // 2)))
    not_due = grant_at(members[0], 100, T0 + timedelta(days=5))
    batches = []

    result = services.points_expire_due(
        as_of=T0 + timedelta(days=10, hours=3),
        batch_size=2,
        on_batch=lambda scanned, batch: batches.append((scanned, batch.lots)),
    )

    assert (result.lots, result.points) == (7, sum(10 + i for i in range(7)))
    assert batches == [(2, 2), (2, 2), (2, 2), (1, 1)]
    assert sorted(
        Transaction.objects.filter(type="expiration").values_list("details__expired_transaction_id", flat=True)
    ) == sorted(tx.pk for tx in lots)
    assert [balance(m) for m in members] == [100, 0, 0]
    assert Lot.objects.get(transaction=not_due).remaining == 100


def test_a_lot_expires_when_as_of_reaches_its_expiry_and_not_before(club, member, joined, short_validity):
    grant_at(member, 10, T0)
    assert services.points_expire_due(as_of=T0 + timedelta(days=10) - timedelta(microseconds=1)).lots == 0
    assert services.points_expire_due(as_of=T0 + timedelta(days=10)).lots == 1


def test_the_queries_per_batch_do_not_grow_with_the_lots_in_it(club, short_validity):
    def run(lot_count: int) -> int:
        member = joined_member(club)
        for i in range(lot_count):
            grant_at(member, 1, T0 + timedelta(seconds=i))
        with CaptureQueriesContext(connection) as queries:
            assert services.points_expire_due(as_of=T0 + timedelta(days=11), batch_size=1000).lots == lot_count
        return len(queries)

    assert run(3) == run(60)


def test_only_the_given_club_is_expired(club, other_club, short_validity):
    services.program_config_update(club=other_club, points_validity_days=10)
    ours, theirs = joined_member(club), joined_member(other_club)
    grant_at(ours, 10, T0)
    grant_at(theirs, 20, T0)
    result = services.points_expire_due(as_of=T0 + timedelta(days=11), club=club)
    assert (result.lots, result.points, balance(ours), balance(theirs)) == (1, 10, 0, 20)


# --- Commands ----------------------------------------------------------------------------------------


def command(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_expire_points_prints_json_counts(club, member, joined, short_validity):
    grant_at(member, 10, T0)
    grant_at(member, 15, T0 + timedelta(days=1))
    output = command("expire_points", "--as-of", "2024-01-11T12:00:00Z", "--json")
    assert json.loads(output) == {"expired_lots": 1, "expired_points": 10}
    assert json.loads(command("expire_points", "--as-of", "2024-01-11T12:00:00Z", "--json")) == {
        "expired_lots": 0,
        "expired_points": 0,
    }


def test_expire_points_dry_run_counts_without_writing(club, member, joined, short_validity):
    grant_at(member, 10, T0)
    output = command("expire_points", "--as-of", "2024-02-01T00:00:00+00:00", "--dry-run", "--json")
    assert json.loads(output) == {"expired_lots": 1, "expired_points": 10}
    assert not Transaction.objects.filter(type="expiration").exists()
    assert "Would expire 10 points in 1 lots" in command(
        "expire_points", "--as-of", "2024-02-01T00:00:00Z", "--dry-run"
    )


def test_a_naive_as_of_is_read_in_the_clubs_time_zone(club, member, joined, short_validity):
    club.timezone = "Asia/Tokyo"  # UTC+9
    club.save(update_fields=["timezone"])
    grant_at(member, 10, T0)  # expires 2024-01-11T00:00Z = 09:00 in Tokyo
    early = command("expire_points", "--club", club.slug, "--as-of", "2024-01-11T08:59:00", "--json")
    on_time = command("expire_points", "--club", club.slug, "--as-of", "2024-01-11T09:00:00", "--json")
    assert (json.loads(early)["expired_lots"], json.loads(on_time)["expired_lots"]) == (0, 1)


def test_expire_points_refuses_an_unknown_club_and_a_bad_time(club):
    with pytest.raises(CommandError, match="Loyalty club not found: nowhere"):
        command("expire_points", "--club", "nowhere")
    with pytest.raises(CommandError, match="not an ISO 8601 time"):
        command("expire_points", "--as-of", "yesterday")


def test_the_expire_points_task_expires_what_is_due_now(club, member, joined, short_validity):
    grant_at(member, 10, T0)
    with at(T0 + timedelta(days=30)):
        assert expire_points.delay().get() == {"expired_lots": 1, "expired_points": 10}


def test_reconcile_balances_reports_a_clean_ledger(club, member, joined, make_reward):
    services.points_grant(member=member, points=50)
    services.reward_purchase(member=member, reward=make_reward(price=20))
    joined_member(club)
    assert json.loads(command("reconcile_balances", "--json")) == {
        "members_checked": 2,
        "offers_checked": 0,
        "mismatches": [],
    }


def test_reconcile_balances_exits_1_and_names_each_broken_invariant(club, member, joined):
    services.points_grant(member=member, points=50)
    Membership.objects.filter(pk=joined.pk).update(balance=F("balance") + 5, lifetime_points=F("lifetime_points") - 1)
    out = StringIO()
    with pytest.raises(SystemExit) as exit_status:
        call_command("reconcile_balances", "--club", club.slug, "--json", stdout=out)
    assert exit_status.value.code == 1
    assert json.loads(out.getvalue()) == {
        "members_checked": 1,
        "offers_checked": 0,
        "mismatches": [
            {
                "member_id": member.id,
                "membership_id": joined.pk,
                "check": "balance_cache",
                "expected": 50,
                "actual": 55,
            },
            {
                "member_id": member.id,
                "membership_id": joined.pk,
                "check": "lifetime_cache",
                "expected": 50,
                "actual": 49,
            },
        ],
    }


def test_reconcile_balances_finds_a_lot_out_of_step_with_its_allocations(club, member, joined):
    grant = services.points_grant(member=member, points=50)
    services.points_correct(member=member, points=-20)
    Lot.objects.filter(transaction=grant).update(remaining=F("remaining") + 20)  # as if the debit drew nothing
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("reconcile_balances", "--json", stdout=out)
    mismatches = json.loads(out.getvalue())["mismatches"]
    assert {m["check"] for m in mismatches} == {"lots_remaining", "lot_remaining"}
    assert [m for m in mismatches if m["check"] == "lot_remaining"] == [
        {"member_id": member.id, "lot_id": grant.lot.pk, "check": "lot_remaining", "expected": 30, "actual": 50}
    ]
