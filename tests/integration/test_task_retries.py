"""Every task retries errors that mean "not now", with backoff, and fails at once on the others."""

from __future__ import annotations

import pytest
from celery import shared_task
from celery.exceptions import Retry
from django.db import IntegrityError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from config.celery import LoyaltyTask

raised: list[Exception] = []


@shared_task(name="tests.integration.fails_with")
def fails_with(kind: str) -> None:
    error = {
        "database": OperationalError("could not connect to server: Connection refused"),
        "deadlock": OperationalError("deadlock detected"),
        "broker": BrokerError("Error 111 connecting to 127.0.0.1:6379"),
        "integrity": IntegrityError("duplicate key value violates unique constraint"),
        "bug": KeyError("member_id"),
    }[kind]
    raised.append(error)
    raise error


@pytest.mark.parametrize("kind", ["database", "deadlock", "broker"])
def test_a_transient_error_schedules_a_retry_with_backoff(kind):
    with pytest.raises(Retry) as retry:
        fails_with.apply(args=[kind], throw=True)
    assert retry.value.exc is raised[-1]
    assert 0 <= retry.value.when <= 2  # first retry: up to 2 s (full jitter)


@pytest.mark.parametrize(("kind", "error"), [("integrity", IntegrityError), ("bug", KeyError)])
def test_an_error_that_a_retry_cannot_fix_fails_at_once(kind, error):
    with pytest.raises(error):
        fails_with.apply(args=[kind], throw=True)


def test_every_task_of_the_project_has_the_retry_policy():
    from config.celery import app

    app.loader.import_default_modules()
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert ours and all(isinstance(task, LoyaltyTask) for task in ours.values())
    assert all(hasattr(task, "_orig_run") for task in ours.values())  # the autoretry wrapper is installed
