"""Staff status view for scheduled jobs: each periodic task with its latest run, plus the run log."""

from django.contrib import admin
from django_celery_beat.models import PeriodicTask

from kit.jobs import job_runs_latest
from kit.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "started_at", "duration_ms", "result", "error")
    list_filter = ("status", "name")
    search_fields = ("name",)
    date_hierarchy = "started_at"
    readonly_fields = ("name", "status", "started_at", "finished_at", "duration_ms", "result", "error")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        latest = {run.name: run for run in job_runs_latest()}
        rows = []
        for task in PeriodicTask.objects.select_related("interval", "crontab", "solar", "clocked").order_by("name"):
            rows.append({"task": task, "schedule": task.schedule, "run": latest.pop(task.name, None)})
        rows += [{"task": None, "schedule": None, "run": run} for run in latest.values()]
        extra_context = {**(extra_context or {}), "job_rows": rows}
        return super().changelist_view(request, extra_context=extra_context)
