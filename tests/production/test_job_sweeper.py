"""kit.jobs.jobs_resume_lost: a run without a live lease is resumed once, a live run is left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from kit.jobs import LOST, jobs_resume_lost
from kit.models import JobLock, JobRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def periodic():
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.update_or_create(
        name="points-expiration",
        defaults={"task": "rewards.tasks.expire_points", "interval": every, "kwargs": '{"as_of": null}', "queue": "q"},
    )


def test_a_run_whose_lease_expired_is_marked_lost_and_its_job_sent_again_once(periodic):
    now = timezone.now()
    JobLock.objects.create(name="points-expiration", holder="dead:1", expires_at=now - timedelta(seconds=1))
    run = JobRun.objects.create(name="points-expiration")
    sent = []

    assert jobs_resume_lost(send=lambda *a, **kw: sent.append((a, kw))) == ["points-expiration"]
    assert jobs_resume_lost(send=lambda *a, **kw: sent.append((a, kw))) == []  # a second sweeper finds it done

    assert sent == [(("rewards.tasks.expire_points",), {"args": [], "kwargs": {"as_of": None}, "queue": "q"})]
    run.refresh_from_db()
    assert (run.status, run.error) == (JobRun.FAILED, LOST)


def test_a_run_holding_a_live_lease_is_left_alone(periodic):
    JobLock.objects.create(
        name="points-expiration", holder="alive:1", expires_at=timezone.now() + timedelta(seconds=60)
    )
    run = JobRun.objects.create(name="points-expiration")

    assert jobs_resume_lost(send=lambda *a, **kw: pytest.fail("sent")) == []
    run.refresh_from_db()
    assert run.status == JobRun.RUNNING


def test_a_lost_run_without_a_periodic_task_is_marked_lost_and_logged(caplog):
    JobRun.objects.create(name="one-off")  # no lease row at all

    assert jobs_resume_lost(send=lambda *a, **kw: pytest.fail("sent")) == []
    assert JobRun.objects.get().status == JobRun.FAILED
    assert "no periodic task" in caplog.text
