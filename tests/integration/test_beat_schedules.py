"""The default schedules (SPEC §8) live in the database, created by a data migration and editable in the
admin; starting beat never overwrites what staff changed."""

from __future__ import annotations

import importlib

from django.apps import apps as django_apps
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from config.celery import app as celery_app

default_schedules = importlib.import_module("loyalty.migrations.0004_default_schedules")

EXPECTED = {
    "points-expiration": ("rewards.tasks.expire_points", "every hour"),
    "points-expiry-warnings": ("rewards.tasks.warn_expiring_points", "0 9 * * * (m/h/dM/MY/d) UTC"),
    "birthday-offers": ("offers.tasks.grant_birthday_offers", "5 * * * * (m/h/dM/MY/d) UTC"),
    "idempotency-keys-purge": ("loyalty.tasks.idempotency_keys_purge", "every hour"),
    "webhooks-deliver-due": ("webhooks.tasks.webhooks_deliver_due", "every 10 seconds"),
    "webhooks-events-purge": ("webhooks.tasks.webhooks_events_purge", "30 3 * * * (m/h/dM/MY/d) UTC"),
}


def schedules() -> dict[str, tuple[str, str]]:
    return {
        task.name: (task.task, str(task.crontab or task.interval))
        for task in PeriodicTask.objects.select_related("crontab", "interval")
        if task.enabled
    }


def test_the_migration_created_every_default_job_with_its_schedule(db):
    assert schedules() == EXPECTED


def test_every_scheduled_task_name_is_a_registered_task(db):
    celery_app.loader.import_default_modules()
    assert {task for task, _ in EXPECTED.values()} <= set(celery_app.tasks)


def test_no_schedule_is_defined_in_settings_where_beat_would_reapply_it():
    assert dict(celery_app.conf.beat_schedule) == {}


def test_staff_edits_survive_a_beat_start(db, monkeypatch):
    # The scheduler closes "old" connections before reading; inside the test's transaction that would
    # close the test's own connection (CONN_MAX_AGE=0 under test), so leave it open.
    monkeypatch.setattr("django_celery_beat.schedulers.close_old_connections", lambda: None)
    two_hours = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.filter(name="points-expiration").update(interval=two_hours)
    PeriodicTask.objects.filter(name="birthday-offers").update(enabled=False)

    scheduler = DatabaseScheduler(app=celery_app)  # what `celery beat` does when it starts

    assert "points-expiration" in scheduler.schedule
    assert str(PeriodicTask.objects.get(name="points-expiration").interval) == "every 2 hours"
    assert PeriodicTask.objects.get(name="birthday-offers").enabled is False
    assert set(PeriodicTask.objects.values_list("name", flat=True)) == set(EXPECTED)  # no backend_cleanup


def test_running_the_migration_again_keeps_edited_rows_and_restores_deleted_ones(db):
    PeriodicTask.objects.filter(name="points-expiry-warnings").update(
        crontab=CrontabSchedule.objects.create(minute="30", hour="6", timezone="Europe/Oslo")
    )
    PeriodicTask.objects.filter(name="webhooks-events-purge").delete()

    default_schedules.create_default_schedules(django_apps, None)

    assert schedules()["points-expiry-warnings"][1] == "30 6 * * * (m/h/dM/MY/d) Europe/Oslo"
    assert schedules()["webhooks-events-purge"] == EXPECTED["webhooks-events-purge"]
