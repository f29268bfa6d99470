"""The request id of the request that enqueued a task is on the real worker's log lines of that task."""

from __future__ import annotations

import json

import pytest

from kit.telemetry.context import request_id_var
from tests.integration.conftest import wait_until


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.broker
def test_the_worker_s_log_lines_of_the_task_carry_the_request_id(celery_worker_process):
    celery_worker_process.start(env={"LOG_FORMAT": "json"})
    token = request_id_var.set("req-worker-7")
    try:
        celery_worker_process.send("webhooks.tasks.webhooks_deliver_due")
    finally:
        request_id_var.reset(token)

    def task_lines():
        lines = []
        for raw in celery_worker_process.log_path.read_text().splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if "webhooks_deliver_due" in line.get("message", "") and "succeeded" in line.get("message", ""):
                lines.append(line)
        return lines

    (line,) = wait_until(task_lines, timeout=60)
    assert line["request_id"] == "req-worker-7"
    assert line["level"] == "INFO"
