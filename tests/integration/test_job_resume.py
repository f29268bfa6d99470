"""A scheduled job whose worker is SIGKILLed mid-run resumes by itself (issue 19), on Redis and on RabbitMQ:
no one re-sends the task; the restarted worker's sweeper finds the run without a live lease and enqueues
the job again, and every due lot is expired exactly once within a bounded time (lease + sweep interval +
the run itself; N = 2 minutes here with a 15 s lease and a 1 s sweep)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from kit.jobs import LOST
from kit.models import JobRun
from rewards.models import Lot
from rewards.tasks import EXPIRATION_JOB
from tests.factories import LoyaltyClubFactory
from tests.integration.bulk_ledger import grant_lots_bulk
from tests.integration.conftest import wait_until
from tests.integration.test_scheduled_jobs import assert_every_due_lot_expired_exactly_once, expirations, fresh

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RESUME_WITHIN_SECONDS = 120  # N: from the kill to the last due lot expired
ENV = {
    "POINTS_EXPIRATION_BATCH_SIZE": "50",  # small batches, so the run lasts long enough to be killed
    "SCHEDULED_JOB_LEASE_SECONDS": "15",  # outlasts the restart: a redelivery finds it held
    "SCHEDULED_JOB_SWEEP_SECONDS": "1",
}


@pytest.mark.parametrize("broker", ["redis", "amqp"])
def test_a_job_killed_mid_run_resumes_by_itself_and_expires_every_lot_once(broker, worker_on):
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    # The job's periodic task (the data migration's row; a transactional test starts without it).
    PeriodicTask.objects.update_or_create(
        name=EXPIRATION_JOB, defaults={"task": "rewards.tasks.expire_points", "interval": every_hour, "kwargs": "{}"}
    )
    club = LoyaltyClubFactory(slug=f"resume-{broker}")
    grant_lots_bulk(club=club, members=100, lots_per_member=60, expires_at=datetime(2024, 3, 1, tzinfo=UTC))
    lot_ids = list(Lot.objects.values_list("pk", flat=True))
    total = len(lot_ids)
    worker = worker_on(broker)
    worker.start(env=ENV)
    worker.send("rewards.tasks.expire_points")  # beat's tick

    wait_until(lambda: fresh(expirations) >= total // 10, timeout=120, interval=0.05)
    worker.kill()
    killed_at = time.monotonic()
    done_at_kill = fresh(expirations)
    assert 0 < done_at_kill < total, "the worker was not killed in the middle of the run"
    assert list(JobRun.objects.values_list("status", flat=True)) == ["running"]

    worker.start(env=ENV)  # the supervisor restarts it; nobody sends the task again
    wait_until(lambda: fresh(expirations) == total, timeout=RESUME_WITHIN_SECONDS, interval=0.5)
    assert time.monotonic() - killed_at < RESUME_WITHIN_SECONDS
    wait_until(lambda: fresh(lambda: JobRun.objects.filter(status="ok").exists()), timeout=60)
    time.sleep(2)  # a late redelivery or sweep must find nothing left to do
    fresh(lambda: None)
    assert_every_due_lot_expired_exactly_once(lot_ids, points_each=10)
    runs = list(JobRun.objects.order_by("id").values_list("status", "error"))
    assert runs[0] == ("failed", LOST)
    assert not JobRun.objects.filter(status="running").exists()
    assert {status for status, _ in runs[1:]} <= {"ok", "skipped"}
