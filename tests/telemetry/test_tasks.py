"""The request id travels into the tasks a request enqueues (a message header) and onto the worker's log
lines; tasks are counted and timed."""

from __future__ import annotations

import pytest
from celery import Celery

from kit.telemetry.context import request_id_var
from tests.telemetry.conftest import Scrape, parse


@pytest.fixture
def memory_app():
    app = Celery("telemetry-test", broker="memory://", set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], task_default_queue="telemetry-test")
    return app


def _published_headers(app) -> dict:
    with app.connection_for_read() as conn:
        message = conn.SimpleQueue("telemetry-test").get(timeout=5)
        message.ack()
        return message.headers


def test_a_task_enqueued_during_a_request_carries_its_request_id(memory_app):
    token = request_id_var.set("req-task-1")
    try:
        memory_app.send_task("webhooks.tasks.webhooks_deliver_due")
    finally:
        request_id_var.reset(token)
    assert _published_headers(memory_app)["request_id"] == "req-task-1"


def test_a_task_enqueued_outside_a_request_has_no_request_id(memory_app):
    memory_app.send_task("webhooks.tasks.webhooks_deliver_due")
    assert "request_id" not in _published_headers(memory_app)


def test_an_eager_task_runs_with_the_request_id_of_its_message_and_is_counted(db):
    from kit.telemetry import metrics
    from webhooks.tasks import webhooks_deliver_due

    seen = []

    def spy():
        seen.append(request_id_var.get())
        return 0

    before = Scrape(parse(metrics.exposition().decode()))
    import webhooks.services

    original = webhooks.services.deliveries_process_due
    webhooks.services.deliveries_process_due = spy
    try:
        webhooks_deliver_due.apply(headers={"request_id": "req-eager"})
        webhooks_deliver_due.apply(headers={"request_id": "bad id with spaces"})
    finally:
        webhooks.services.deliveries_process_due = original
    after = Scrape(parse(metrics.exposition().decode()))

    assert seen == ["req-eager", None]
    task = "webhooks.tasks.webhooks_deliver_due"
    assert after.delta(before, "loyalty_celery_tasks_total", task=task, state="success") == 2
    assert after.delta(before, "loyalty_celery_task_duration_seconds_count", task=task) == 2
    assert request_id_var.get() is None
