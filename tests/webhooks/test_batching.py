"""Batched webhook delivery: the commits of many events enqueue one drain task per window, and a drain
claims and loads its deliveries in batches, with the outbox's guarantees (each once, member order)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.cache import cache
from django.db import transaction

from tests.factories import MemberFactory
from webhooks import services
from webhooks.models import Delivery
from webhooks.services import deliveries_process_due, event_emit

START = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def enqueued(settings, monkeypatch):
    """Drains enqueued by commits, as (how, countdown), with tasks not run inline (as in production)."""
    from webhooks.tasks import webhooks_deliver_due

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.WEBHOOK_DRAIN_DELAY_SECONDS = 1.0
    cache.delete(services._KICK_KEY)
    calls: list[tuple[str, float | None]] = []
    monkeypatch.setattr(webhooks_deliver_due, "delay", lambda: calls.append(("delay", None)))
    monkeypatch.setattr(
        webhooks_deliver_due, "apply_async", lambda countdown=None, **_: calls.append(("apply_async", countdown))
    )
    yield calls
    cache.delete(services._KICK_KEY)


def emit_in_own_transaction(django_capture_on_commit_callbacks, club, member):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event_emit(club_id=club.id, type="offer.used", data={}, member_id=member.id)


def test_many_commits_in_one_window_enqueue_one_drain_that_starts_after_the_window(
    club, member, endpoint, enqueued, django_capture_on_commit_callbacks
):
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(30):
            emit_in_own_transaction(django_capture_on_commit_callbacks, club, member)
        assert enqueued == [("apply_async", 1.05)]  # runs after the window: every commit above is visible

        clock.shift(1.0)  # the window is over: the next commit needs a drain of its own
        emit_in_own_transaction(django_capture_on_commit_callbacks, club, member)
        emit_in_own_transaction(django_capture_on_commit_callbacks, club, member)

    assert enqueued == [("apply_async", 1.05), ("apply_async", 1.05)]
    assert Delivery.objects.filter(state=Delivery.PENDING).count() == 32


def test_a_zero_delay_enqueues_a_drain_per_commit(
    club, member, endpoint, enqueued, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_DRAIN_DELAY_SECONDS = 0
    for _ in range(3):
        emit_in_own_transaction(django_capture_on_commit_callbacks, club, member)
    assert enqueued == [("delay", None)] * 3


def test_a_broken_cache_enqueues_a_drain_rather_than_none(
    club, member, endpoint, enqueued, monkeypatch, django_capture_on_commit_callbacks
):
    def broken_add(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "add", broken_add)
    emit_in_own_transaction(django_capture_on_commit_callbacks, club, member)
    assert enqueued == [("apply_async", 1.05)]


def test_a_drain_claims_in_batches_and_sends_each_due_delivery_once(club, endpoint, receiver, settings, monkeypatch):
    settings.WEBHOOK_DRAIN_BATCH_SIZE = 20
    members = [MemberFactory(club=club) for _ in range(30)]
    for m in members:
        event_emit(club_id=club.id, type="offer.used", data={}, member_id=m.id)  # no commit: no drain yet
    claims = []
    original = services.deliveries_claim

    def spy(**kwargs):
        lease, ids = original(**kwargs)
        claims.append(len(ids))
        return lease, ids

    monkeypatch.setattr(services, "deliveries_claim", spy)

    assert deliveries_process_due() == 30
    assert claims == [20, 10, 0]
    assert len(receiver.requests) == 30
    assert len({r.json["id"] for r in receiver.requests}) == 30
    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.DELIVERED}


def test_a_batch_holds_one_delivery_per_member_so_their_order_holds(club, endpoint, receiver, settings):
    settings.WEBHOOK_DRAIN_BATCH_SIZE = 50
    ada, bob = MemberFactory(club=club), MemberFactory(club=club)
    emitted = {ada.id: [], bob.id: []}
    for n in range(4):
        for m in (ada, bob):
            emitted[m.id].append(str(event_emit(club_id=club.id, type="offer.used", data={"n": n}, member_id=m.id).id))

    lease, ids = services.deliveries_claim(limit=50)
    assert len(ids) == 2  # the first pending delivery of each member; the others wait behind them
    services._release(lease=lease, ids=ids)
    deliveries_process_due()

    received = [r.json["id"] for r in receiver.requests]
    for m in (ada, bob):
        assert [i for i in received if i in emitted[m.id]] == emitted[m.id]


def test_deliveries_whose_lease_would_run_out_mid_batch_are_released_not_sent_late(
    club, endpoint, receiver, settings, monkeypatch
):
    settings.WEBHOOK_DRAIN_BATCH_SIZE = 3
    released = []
    original_release, original_attempt = services._release, services._attempt
    monkeypatch.setattr(services, "_release", lambda **kw: (released.append(list(kw["ids"])), original_release(**kw)))

    with time_machine.travel(START, tick=False) as clock:
        for m in [MemberFactory(club=club) for _ in range(3)]:
            event_emit(club_id=club.id, type="offer.used", data={}, member_id=m.id)
        first = []

        def slow_attempt(delivery, lease):
            outcome = original_attempt(delivery, lease)
            if not first:
                first.append(delivery.pk)
                clock.shift(services._lease_seconds() - 1)  # a receiver that took nearly the whole lease
            return outcome

        monkeypatch.setattr(services, "_attempt", slow_attempt)
        assert deliveries_process_due() == 3  # the two released ones were claimed again and sent

    assert len(released) == 1 and len(released[0]) == 2
    assert first[0] not in released[0]
    assert len(receiver.requests) == 3
    assert Delivery.objects.filter(state=Delivery.DELIVERED).count() == 3
