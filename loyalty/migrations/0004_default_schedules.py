"""The default periodic jobs (SPEC §8), as django-celery-beat rows that staff edit in the admin.

They live in the database, not in settings: the DatabaseScheduler would re-apply a settings schedule on every
beat start and undo the staff's edits. Existing rows of the same name (installed by an earlier beat from the
old settings schedule, or edited since) are left untouched. Names match the `job_run` names, which the job
status view pairs them by. See docs/operations.md.
"""

from django.db import migrations
from django.utils import timezone

HOURLY = ("interval", {"every": 1, "period": "hours"})
EVERY_10_SECONDS = ("interval", {"every": 10, "period": "seconds"})

DEFAULT_TASKS = [
    {
        "name": "points-expiration",
        "task": "rewards.tasks.expire_points",
        "schedule": HOURLY,
        "expire_seconds": 3000,
        "description": "Expire every due lot of points (SPEC §6.6), in short batches; resumes after a crash.",
    },
    {
        "name": "points-expiry-warnings",
        "task": "rewards.tasks.warn_expiring_points",
        "schedule": ("crontab", {"minute": "0", "hour": "9"}),
        "expire_seconds": 6 * 3600,
        "description": "points.expiring webhook for members with points expiring within 30 days, once a day.",
    },
    {
        "name": "birthday-offers",
        "task": "offers.tasks.grant_birthday_offers",
        "schedule": ("crontab", {"minute": "5", "hour": "*"}),
        "expire_seconds": 3000,
        "description": (
            "Grant published BIRTHDAY offers to members whose birthday is today in their club's time zone, "
            "once per member, offer and year. Hourly, so each club is served early in its own day."
        ),
    },
    {
        "name": "idempotency-keys-purge",
        "task": "loyalty.tasks.idempotency_keys_purge",
        "schedule": HOURLY,
        "expire_seconds": 3000,
        "description": "Delete expired idempotency keys.",
    },
    {
        "name": "webhooks-deliver-due",
        "task": "webhooks.tasks.webhooks_deliver_due",
        "schedule": EVERY_10_SECONDS,
        "expire_seconds": 30,
        "description": "Send webhook deliveries that are due (retries with backoff).",
    },
    {
        "name": "webhooks-events-purge",
        "task": "webhooks.tasks.webhooks_events_purge",
        "schedule": ("crontab", {"minute": "30", "hour": "3"}),
        "expire_seconds": 6 * 3600,
        "description": "Delete delivered webhook events past their retention.",
    },
]


def _schedule(apps, kind, fields):
    if kind == "interval":
        model = apps.get_model("django_celery_beat", "IntervalSchedule")
        found = model.objects.filter(**fields).order_by("id").first()
        return found or model.objects.create(**fields)
    model = apps.get_model("django_celery_beat", "CrontabSchedule")
    fields = {"day_of_week": "*", "day_of_month": "*", "month_of_year": "*", "timezone": "UTC", **fields}
    found = model.objects.filter(**fields).order_by("id").first()
    return found or model.objects.create(**fields)


def create_default_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for spec in DEFAULT_TASKS:
        if PeriodicTask.objects.filter(name=spec["name"]).exists():
            continue
        kind, fields = spec["schedule"]
        PeriodicTask.objects.create(
            name=spec["name"],
            task=spec["task"],
            description=spec["description"],
            expire_seconds=spec["expire_seconds"],
            enabled=True,
            **{kind: _schedule(apps, kind, fields)},
        )
    # Tell a running beat to reload its schedule.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_default_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[spec["name"] for spec in DEFAULT_TASKS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0003_job_runs_and_locks"),
        ("django_celery_beat", "0018_improve_crontab_helptext"),
    ]

    operations = [migrations.RunPython(create_default_schedules, remove_default_schedules)]
