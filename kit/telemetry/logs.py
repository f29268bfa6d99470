"""Log formatting: `LOG_FORMAT=json` (one JSON object per line, for log shippers) or `plain`.

Every record gets a `request_id` attribute (the API request's, or the task's inherited one; `-` outside
both) from `RequestIdFilter`, which the settings put on the console handler so that third-party loggers
(Django, Celery, gunicorn) carry it too.
"""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

from kit.telemetry.context import current_request_id


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id() or "-"
        return True


class JSONFormatter(JsonFormatter):
    """python-json-logger with the field names log pipelines expect (`timestamp`, `level`, `logger`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "timestamp", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__(*args, **kwargs)

    def formatTime(self, record, datefmt=None):
        # ISO 8601 in UTC with milliseconds, like the API's timestamps.
        from datetime import UTC, datetime

        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def logging_config(*, log_format: str, level: str) -> dict:
    """The LOGGING dict of the settings for `log_format` (`json` or `plain`)."""
    formatters = {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {
            "()": "kit.telemetry.logs.JSONFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "kit.telemetry.logs.RequestIdFilter"}},
        "formatters": formatters,
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request_id"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
        },
    }
