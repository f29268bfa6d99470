"""Scheduled-job bookkeeping shared by every app: the run log and the per-job lease."""

from django.db import models
from django.utils import timezone as dj_timezone


class JobRun(models.Model):
    """One run of a scheduled job: when, how long, and what it did (the staff status view reads these)."""

    RUNNING, OK, FAILED, SKIPPED = "running", "ok", "failed", "skipped"
    STATUSES = [(RUNNING, "running"), (OK, "ok"), (FAILED, "failed"), (SKIPPED, "skipped")]

    name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=STATUSES, default=RUNNING)
    started_at = models.DateTimeField(default=dj_timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "loyalty_jobrun"  # created by loyalty 0003; the model moved here without a schema change
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["name", "-started_at"], name="jobrun_name_started")]

    def __str__(self) -> str:
        return f"{self.name} at {self.started_at:%Y-%m-%d %H:%M:%S} ({self.status})"


class JobLock(models.Model):
    """A lease-based lock per job name: a duplicate beat (or a retried task) finds the lease held and skips.
    Leases expire, so a crashed holder never blocks the job for longer than the lease."""

    name = models.CharField(max_length=100, unique=True)
    holder = models.CharField(max_length=100, blank=True, default="")
    expires_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        db_table = "loyalty_joblock"

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or '-'} until {self.expires_at:%H:%M:%S}"
