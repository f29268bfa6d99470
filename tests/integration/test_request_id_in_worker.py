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


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.broker
def test_the_worker_serves_the_task_metrics_of_its_pool_processes(celery_worker_process, tmp_path):
    import socket

    import requests

    from tests.telemetry.conftest import Scrape, parse

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tmp_path / "worker-metrics"
    celery_worker_process.start(
        concurrency=2,
        env={
            "PROMETHEUS_MULTIPROC_DIR": str(folder),
            "CELERY_METRICS_BIND": f"127.0.0.1:{port}",
            "METRICS_TOKEN": "worker-scrape-token",
        },
    )
    for _ in range(3):
        celery_worker_process.send("webhooks.tasks.webhooks_deliver_due")
    task = "webhooks.tasks.webhooks_deliver_due"

    url = f"http://127.0.0.1:{port}/metrics"
    auth = {"Authorization": "Bearer worker-scrape-token"}

    def succeeded():
        scrape = Scrape(parse(requests.get(url, headers=auth, timeout=5).text))
        return scrape if scrape.value("loyalty_celery_tasks_total", task=task, state="success") == 3 else None

    scrape = wait_until(succeeded, timeout=60)
    assert scrape.value("loyalty_celery_task_duration_seconds_count", task=task) == 3
    assert scrape.value("loyalty_webhook_deliveries_pending") == 0  # the API's collector, not the worker's
    assert not [k for k in scrape.samples if k[0] == "loyalty_webhook_deliveries_pending"]
    assert requests.get(url, timeout=5).status_code == 401  # METRICS_TOKEN guards the worker's endpoint too
