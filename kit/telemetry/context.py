"""The request id of the work in progress: set by the request middleware in the API and by the task
signals in a worker, read by the log filter and by the task publisher."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-Id"
CELERY_HEADER = "request_id"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# An incoming id is kept when it is a plain token a log line can hold unquoted: letters, digits and
# `-_.:@/+=` (UUIDs, hex trace ids, ids of load balancers), at most 128 characters. Anything else (spaces,
# quotes, control characters that could forge log lines, kilobytes of junk) is replaced by a fresh id.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_.:@/+=]{0,127}")


def sane_request_id(value: str | None) -> str | None:
    if value and _SANE.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return request_id_var.get()
