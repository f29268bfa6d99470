"""Tasks run in a real worker process over a real broker, not eagerly."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from loyalty.models import IdempotencyKey
from tests.integration.conftest import wait_until


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_task_sent_to_redis_is_run_by_the_worker_process(celery_worker_process, issue_token, club):
    from loyalty.models import ClientToken

    issue_token(policies=["FullAccess"], clubs=[club])
    token = ClientToken.objects.get()
    past = timezone.now() - timedelta(days=3)
    IdempotencyKey.objects.create(
        client_token=token, scope="x", key="old", method="POST", path="/", request_digest="d", expires_at=past
    )
    IdempotencyKey.objects.create(
        client_token=token,
        scope="x",
        key="new",
        method="POST",
        path="/",
        request_digest="d",
        expires_at=timezone.now() + timedelta(days=1),
    )
    celery_worker_process.start()
    celery_worker_process.send("loyalty.tasks.idempotency_keys_purge")

    def purged():
        connection.close()  # read fresh, outside any stale snapshot
        return not IdempotencyKey.objects.filter(key="old").exists()

    wait_until(purged, timeout=60)
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
