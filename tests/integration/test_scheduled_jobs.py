"""Scheduled jobs in a real worker process over Redis (SPEC §8): the expiration runs there, survives a SIGKILL
in the middle of a large run, and welcome grants are queued only once the member is committed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from kit.models import JobRun
from loyalty.services.members import member_create
from offers.models import OfferGrant, OfferType
from rewards import selectors
from rewards.models import Lot, Membership, Transaction
from rewards.tasks import EXPIRATION_JOB
from tests.factories import LoyaltyClubFactory
from tests.integration.bulk_ledger import grant_lots_bulk
from tests.integration.conftest import wait_until
from tests.offers.factories import OfferFactory

T0 = datetime(2024, 3, 1, tzinfo=UTC)
AS_OF = (T0 + timedelta(days=30)).isoformat()

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def fresh(query):
    """Run `query` on a new connection, so it sees what the worker committed."""
    connection.close()
    return query()


def expirations() -> int:
    return Transaction.objects.filter(type=Transaction.EXPIRATION).count()


def assert_every_due_lot_expired_exactly_once(lot_ids: list[int], points_each: int) -> None:
    per_lot = {}
    for lot_id in Transaction.objects.filter(type=Transaction.EXPIRATION).values_list("expired_lot_id", flat=True):
        per_lot[lot_id] = per_lot.get(lot_id, 0) + 1
    assert per_lot == dict.fromkeys(lot_ids, 1)
    assert set(Transaction.objects.filter(type="expiration").values_list("amount", flat=True)) == {-points_each}
    assert not Lot.objects.filter(remaining__gt=0).exists()
    assert set(Membership.objects.values_list("balance", flat=True)) == {0}
    assert selectors.ledger_reconcile().mismatches == []


def test_an_expiration_scheduled_on_the_broker_is_run_by_the_worker(celery_worker_process):
    club = LoyaltyClubFactory(slug="scheduled")
    grant_lots_bulk(club=club, members=10, lots_per_member=3, expires_at=T0)
    lot_ids = list(Lot.objects.values_list("pk", flat=True))
    celery_worker_process.start()

    celery_worker_process.producer.send_task(
        "rewards.tasks.expire_points", kwargs={"as_of": AS_OF}, queue=celery_worker_process.queue, countdown=1
    )

    run = wait_until(lambda: fresh(lambda: JobRun.objects.filter(name=EXPIRATION_JOB, status="ok").first()))
    assert run.result == {"expired_lots": 30, "expired_points": 300}
    assert_every_due_lot_expired_exactly_once(lot_ids, points_each=10)


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_a_large_expiration_loses_nothing_and_expires_nothing_twice(
    celery_worker_process,
):
    club = LoyaltyClubFactory(slug="crashing")
    grant_lots_bulk(club=club, members=100, lots_per_member=60, expires_at=T0)
    lot_ids = list(Lot.objects.values_list("pk", flat=True))
    total = len(lot_ids)
    # Small batches so the run lasts; a short lease so the restarted worker may take over soon; a short
    # visibility timeout so Redis redelivers the message the killed worker never acknowledged.
    env = {"POINTS_EXPIRATION_BATCH_SIZE": "50", "SCHEDULED_JOB_LEASE_SECONDS": "3", "CELERY_VISIBILITY_TIMEOUT": "5"}
    celery_worker_process.start(env=env)
    celery_worker_process.send("rewards.tasks.expire_points", as_of=AS_OF)

    wait_until(lambda: fresh(expirations) >= total // 10, timeout=120, interval=0.05)
    celery_worker_process.kill()
    done_at_kill = fresh(expirations)
    assert 0 < done_at_kill < total, "the worker was not killed in the middle of the run"
    assert selectors.ledger_reconcile().mismatches == []  # only whole batches were committed
    assert list(JobRun.objects.values_list("status", flat=True)) == ["running"]  # died with its worker

    celery_worker_process.start(env=env)
    time.sleep(3.5)  # the dead run's lease expires
    celery_worker_process.send("rewards.tasks.expire_points", as_of=AS_OF)  # beat's next tick, or a retry

    wait_until(lambda: fresh(expirations) == total, timeout=300, interval=0.5)
    wait_until(lambda: fresh(lambda: not JobRun.objects.filter(status="running").exists()), timeout=60)
    time.sleep(6)  # let the redelivered message run too: it must find nothing left
    fresh(lambda: None)
    assert_every_due_lot_expired_exactly_once(lot_ids, points_each=10)
    statuses = list(JobRun.objects.order_by("id").values_list("status", "error"))
    assert statuses[0] == ("failed", "Lost: its worker stopped before the run finished")
    assert {status for status, _ in statuses[1:]} <= {"ok", "skipped"}


def test_welcome_offers_are_queued_after_the_commit_and_granted_by_the_worker(celery_worker_process, monkeypatch):
    from offers import tasks

    club = LoyaltyClubFactory(slug="welcoming")
    welcome = OfferFactory(club=club, type=OfferType.WELCOME)
    sent = []

    def send_to_worker(member_id):
        sent.append(member_id)
        celery_worker_process.send("offers.grant_welcome_offers", member_id)

    monkeypatch.setattr(tasks.grant_welcome_offers, "delay", send_to_worker)
    celery_worker_process.start()

    with transaction.atomic():
        member = member_create(club=club, email="new@example.com")
        assert sent == []  # not before the commit: the worker could not see the member yet
    assert sent == [member.pk]

    grant = wait_until(lambda: fresh(lambda: OfferGrant.objects.filter(member=member).first()))
    assert (grant.offer_id, grant.source) == (welcome.pk, "welcome")
