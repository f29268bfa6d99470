"""The points-expiration job as beat runs it (SPEC §8): under its lease, in time-boxed runs that continue
themselves, safe to repeat, to run concurrently and to crash at any point."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from kit.jobs import job_heartbeat, job_lock_acquire, job_run
from kit.models import JobRun
from loyalty.models import LoyaltyClub
from rewards import selectors, services
from rewards.models import Lot, Membership, Transaction
from rewards.tasks import EXPIRATION_JOB, expire_points
from tests.concurrency import run_in_parallel
from tests.factories import LoyaltyClubFactory
from tests.integration.bulk_ledger import grant_lots_bulk

T0 = datetime(2024, 3, 1, tzinfo=UTC)
AFTER = T0 + timedelta(days=1)  # every lot made with expires_at=T0 (+ seconds) is due


def due(club: LoyaltyClub, *, members: int = 3, lots_per_member: int = 2) -> list[int]:
    return grant_lots_bulk(club=club, members=members, lots_per_member=lots_per_member, expires_at=T0)


def expirations_per_lot() -> dict[int, int]:
    counts: dict[int, int] = {}
    for lot_id in Transaction.objects.filter(type=Transaction.EXPIRATION).values_list("expired_lot_id", flat=True):
        counts[lot_id] = counts.get(lot_id, 0) + 1
    return counts


def assert_each_lot_expired_once(lot_ids) -> None:
    assert expirations_per_lot() == dict.fromkeys(lot_ids, 1)
    assert not Lot.objects.filter(pk__in=lot_ids, remaining__gt=0).exists()
    assert selectors.ledger_reconcile().mismatches == []


def ledger_state() -> tuple:
    """Everything an expiration run writes, in a comparable form."""
    return (
        list(
            Transaction.objects.order_by("id").values_list(
                "id", "membership_id", "type", "amount", "date", "expired_at", "expired_lot_id", "expiry_round"
            )
        ),
        list(Lot.objects.order_by("id").values_list("id", "remaining", "expiry_round")),
        list(Membership.objects.order_by("id").values_list("id", "balance", "lifetime_points")),
    )


def club_ledger_shape(club: LoyaltyClub) -> list:
    """A club's ledger without ids, member by member, so two clubs given the same history compare equal."""
    shape = []
    for membership in Membership.objects.filter(member__club=club).order_by("member__email"):
        rows = Transaction.objects.filter(membership=membership).order_by("date", "type", "amount")
        shape.append(
            (
                membership.balance,
                membership.lifetime_points,
                [(t.type, t.amount, t.date, t.expired_at, t.expiry_round) for t in rows],
                sorted(
                    Lot.objects.filter(membership=membership).values_list("expires_at", "remaining", "expiry_round")
                ),
            )
        )
    return shape


# --- The task: lease, run log, continuation ----------------------------------------------------------


def test_the_task_expires_what_is_due_and_logs_its_run_under_the_job_name(club):
    due(club)
    with time_machine.travel(AFTER, tick=False):
        assert expire_points.delay().get() == {"expired_lots": 6, "expired_points": 60}
    run = JobRun.objects.get()
    assert (run.name, run.status, run.result) == (EXPIRATION_JOB, "ok", {"expired_lots": 6, "expired_points": 60})
    assert Transaction.objects.filter(type="expiration").count() == 6


def test_a_run_while_another_holds_the_lease_is_skipped_and_expires_nothing(club):
    due(club)
    assert job_lock_acquire(name=EXPIRATION_JOB, holder="a duplicate beat's run", lease_seconds=600)

    assert expire_points.delay(as_of=AFTER.isoformat()).get() == {"skipped": "another run holds the lease"}

    assert not Transaction.objects.filter(type="expiration").exists()
    assert JobRun.objects.get().status == "skipped"


def test_the_lease_of_a_dead_run_expires_and_the_next_run_finishes_the_work_and_marks_it_lost(club, settings):
    lot_ids = list(Lot.objects.filter(membership_id__in=due(club)).values_list("pk", flat=True))
    # A worker died mid-run: its run is still "running" and its lease was last renewed 10 minutes ago.
    died_at = datetime.now(UTC) - timedelta(minutes=10)
    assert job_lock_acquire(name=EXPIRATION_JOB, holder="dead", lease_seconds=120, now=died_at)
    JobRun.objects.create(name=EXPIRATION_JOB, started_at=died_at)

    assert expire_points.delay(as_of=AFTER.isoformat()).get() == {"expired_lots": 6, "expired_points": 60}

    assert_each_lot_expired_once(lot_ids)
    assert list(JobRun.objects.order_by("id").values_list("status", "error")) == [
        ("failed", "Lost: its worker stopped before the run finished"),
        ("ok", ""),
    ]


def test_a_run_out_of_time_budget_continues_in_new_tasks_until_everything_is_expired(club, settings):
    settings.SCHEDULED_JOB_TIME_BUDGET_SECONDS = 0  # every run does one batch, then hands over
    settings.POINTS_EXPIRATION_BATCH_SIZE = 2
    lot_ids = list(Lot.objects.filter(membership_id__in=due(club, members=5, lots_per_member=1)).values_list("pk"))

    first = expire_points.delay(as_of=AFTER.isoformat()).get()

    assert first == {"expired_lots": 2, "expired_points": 20, "continues": True}
    runs = JobRun.objects.order_by("id").values_list("status", "result")
    assert list(runs) == [
        ("ok", {"expired_lots": 2, "expired_points": 20, "continues": True}),
        ("ok", {"expired_lots": 2, "expired_points": 20, "continues": True}),
        ("ok", {"expired_lots": 1, "expired_points": 10}),
    ]
    assert_each_lot_expired_once([pk for (pk,) in lot_ids])


def test_a_long_run_renews_its_lease_between_batches_so_no_duplicate_can_start(db):
    seen = {}

    def long_job():
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=300)):  # past the 120 s lease
            seen["before renewal"] = job_lock_acquire(name="long", holder="intruder", lease_seconds=1)
        return {}

    def long_job_with_heartbeat():
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=100)):
            job_heartbeat()  # lease now ends at +220 s
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=200)):
            seen["after renewal"] = job_lock_acquire(name="long2", holder="intruder", lease_seconds=1)
        return {}

    job_run(name="long", func=long_job, lease_seconds=120)
    job_run(name="long2", func=long_job_with_heartbeat, lease_seconds=120)

    assert seen == {"before renewal": True, "after renewal": False}


# --- Repeats, crashes, concurrency -------------------------------------------------------------------


def test_running_the_expiration_twice_leaves_exactly_the_state_of_one_run(club):
    due(club, members=4, lots_per_member=3)
    first = services.points_expire_due(as_of=AFTER, batch_size=5)
    state = ledger_state()

    second = services.points_expire_due(as_of=AFTER, batch_size=5)

    assert (first.lots, first.points, second.lots, second.points) == (12, 120, 0, 0)
    assert ledger_state() == state


def test_a_crash_between_batches_loses_nothing_and_the_next_run_finishes_the_rest(club):
    lot_ids = list(Lot.objects.filter(membership_id__in=due(club, members=5, lots_per_member=2)).values_list("pk"))

    def crash_after_two_batches(scanned, batch, calls=[]):  # noqa: B006 - counts calls
        calls.append(scanned)
        if len(calls) == 2:
            raise SystemExit("worker killed")

    with pytest.raises(SystemExit):
        services.points_expire_due(as_of=AFTER, batch_size=3, on_batch=crash_after_two_batches)
    assert Transaction.objects.filter(type="expiration").count() == 6  # two committed batches
    assert selectors.ledger_reconcile().mismatches == []

    rest = services.points_expire_due(as_of=AFTER, batch_size=3)

    assert (rest.lots, rest.points) == (4, 40)
    assert_each_lot_expired_once([pk for (pk,) in lot_ids])


def test_a_crash_inside_a_batch_rolls_the_whole_batch_back_and_the_next_run_expires_it(club, monkeypatch):
    from rewards import events

    lot_ids = [pk for (pk,) in Lot.objects.filter(membership_id__in=due(club, members=4)).values_list("pk")]
    real_emit_many, calls = events.emit_many, []

    def emit_then_die_in_the_second_batch(**kwargs):
        calls.append(1)
        if len(calls) == 2:  # rows of the batch written, transaction not yet committed
            raise SystemExit("worker killed")
        real_emit_many(**kwargs)

    monkeypatch.setattr(events, "emit_many", emit_then_die_in_the_second_batch)
    with pytest.raises(SystemExit):
        services.points_expire_due(as_of=AFTER, batch_size=3)
    assert Transaction.objects.filter(type="expiration").count() == 3
    assert Lot.objects.filter(pk__in=lot_ids, remaining__gt=0).count() == 5
    assert selectors.ledger_reconcile().mismatches == []

    monkeypatch.setattr(events, "emit_many", real_emit_many)
    assert services.points_expire_due(as_of=AFTER, batch_size=3).lots == 5
    assert_each_lot_expired_once(lot_ids)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_leave_exactly_the_state_of_one_run():
    raced, alone = LoyaltyClubFactory(slug="raced"), LoyaltyClubFactory(slug="alone")
    for club in (raced, alone):
        grant_lots_bulk(club=club, members=40, lots_per_member=5, expires_at=T0, spacing=timedelta(0))
    runs = run_in_parallel([lambda: services.points_expire_due(as_of=AFTER, batch_size=7, club=raced)] * 4)

    assert not any(isinstance(run, Exception) for run in runs), runs
    assert (sum(r.lots for r in runs), sum(r.points for r in runs)) == (200, 2000)
    services.points_expire_due(as_of=AFTER, batch_size=7, club=alone)
    assert club_ledger_shape(raced) == club_ledger_shape(alone)
    assert max(expirations_per_lot().values()) == 1
    assert selectors.ledger_reconcile().mismatches == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_tasks_one_runs_the_others_are_skipped_and_nothing_expires_twice():
    club = LoyaltyClubFactory(slug="beat-twice")
    lot_ids = Lot.objects.filter(
        membership_id__in=grant_lots_bulk(club=club, members=30, lots_per_member=4, expires_at=T0)
    ).values_list("pk", flat=True)

    results = run_in_parallel([lambda: expire_points.apply(kwargs={"as_of": AFTER.isoformat()}).get()] * 3)

    assert sum(r.get("expired_lots", 0) for r in results) == 120
    assert_each_lot_expired_once(list(lot_ids))
    statuses = sorted(JobRun.objects.values_list("status", flat=True))
    assert statuses.count("ok") >= 1 and set(statuses) <= {"ok", "skipped"}


# --- The due-lots query, the command -----------------------------------------------------------------


@pytest.mark.postgres
def test_the_due_lots_batch_query_is_an_index_range_scan_in_keyset_order_without_a_sort(club):
    due(club)
    queryset = (
        services.expiration.due_lots(as_of=AFTER)
        .filter(expires_at__gte=T0)
        .order_by("expires_at", "id")
        .values_list("id", "expires_at", "membership_id")[:1000]
    )
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # A tiny table is cheaper to scan whole or by bitmap; ask whether the ordered index scan is possible.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan using rewards_lot_due" in plan, plan
    assert "Sort" not in plan and "OFFSET" not in sql.upper(), plan


def test_expire_points_shows_a_progress_bar_on_a_terminal(club, monkeypatch, capsys):
    due(club, members=5, lots_per_member=1)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    out = io.StringIO()
    call_command("expire_points", "--as-of", AFTER.isoformat(), "--batch-size", "2", stdout=out)

    bar = capsys.readouterr().err
    assert "Expiring" in bar and "5/5" in bar
    assert "Expired 50 points in 5 lots" in out.getvalue()
