"""Scheduled-job plumbing: lease locks, the run log and the staff status view."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from kit.jobs import job_lock_acquire, job_run
from kit.models import JobRun


def test_a_job_run_records_its_status_duration_and_result(db):
    assert job_run(name="demo", func=lambda: {"done": 3}) == {"done": 3}
    run = JobRun.objects.get()
    assert (run.name, run.status, run.result) == ("demo", "ok", {"done": 3})
    assert run.finished_at is not None and run.duration_ms is not None


def test_a_failing_job_records_the_error_and_releases_its_lease(db):
    def boom():
        raise ValueError("broken")

    with pytest.raises(ValueError):
        job_run(name="demo", func=boom)
    run = JobRun.objects.get()
    assert run.status == "failed" and run.error == "ValueError: broken"
    assert job_run(name="demo", func=lambda: {"ok": True}) == {"ok": True}


def test_a_second_run_while_the_lease_is_held_is_skipped_and_does_no_work(db):
    calls = []

    def outer():
        calls.append("outer")
        inner = job_run(name="demo", func=lambda: calls.append("inner") or {})
        return {"inner": inner}

    result = job_run(name="demo", func=outer)
    assert calls == ["outer"]
    assert result == {"inner": {"skipped": "another run holds the lease"}}
    assert sorted(JobRun.objects.values_list("status", flat=True)) == ["ok", "skipped"]


def test_an_expired_lease_can_be_taken_over(db):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    assert job_lock_acquire(name="demo", holder="a", lease_seconds=60, now=now)
    assert not job_lock_acquire(name="demo", holder="b", lease_seconds=60, now=now + timedelta(seconds=59))
    assert job_lock_acquire(name="demo", holder="b", lease_seconds=60, now=now + timedelta(seconds=61))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_contenders_for_one_lease_have_exactly_one_winner():
    barrier = threading.Barrier(8)
    wins = []

    def contend(i):
        try:
            barrier.wait()
            wins.append(job_lock_acquire(name="race", holder=f"h{i}", lease_seconds=60))
        finally:
            connection.close()

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_the_status_view_lists_each_periodic_task_with_its_latest_run(client, db):
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    # The data migration creates this job; pin its schedule so the page's text is known.
    PeriodicTask.objects.update_or_create(
        name="points-expiration", defaults={"task": "rewards.tasks.expire_points", "interval": every_hour}
    )
    job_run(name="points-expiration", func=lambda: {"expired_lots": 7})
    staff = get_user_model().objects.create_superuser("staff", "s@example.com", "pw-123456789")
    client.force_login(staff)
    response = client.get("/admin/kit/jobrun/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="job-status"' in page
    assert "points-expiration" in page and "expired_lots" in page and "every hour" in page
