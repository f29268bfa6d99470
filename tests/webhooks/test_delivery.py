"""SPEC §10.2: the transactional outbox and signed deliveries, against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import itertools
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.db import connection, transaction

from kit.formats import format_datetime
from tests.factories import MemberFactory
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, OutboxEvent
from webhooks.services import deliveries_process_due, event_emit, webhook_endpoint_create
from webhooks.tasks import webhooks_deliver_due, webhooks_events_purge

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
START = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


def docs_verify_signature():
    """The receiver snippet of docs/webhooks.md, exactly as published."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    namespace: dict = {}
    exec(next(b for b in blocks if "def verify_signature" in b), namespace)
    return namespace["verify_signature"]


def emit_committed(django_capture_on_commit_callbacks, **kwargs) -> OutboxEvent | None:
    """event_emit inside a transaction that commits (on_commit callbacks run, Celery is eager)."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        return event_emit(**kwargs)


def test_a_delivery_posts_the_payload_signed_with_the_endpoint_secret(
    club, member, endpoint, receiver, django_capture_on_commit_callbacks
):
    event = emit_committed(
        django_capture_on_commit_callbacks,
        club_id=club.id,
        type="points.earned",
        data={"transaction": {"id": 7, "amount": 50}, "balance": 50},
        member_id=member.id,
    )

    [received] = receiver.requests
    assert received.json == {
        "id": str(event.id),
        "type": "points.earned",
        "created_at": format_datetime(event.created_at),
        "loyalty_club": "infinity-mall",
        "data": {"transaction": {"id": 7, "amount": 50}, "balance": 50},
    }
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["X-Loyalty-Event-Id"] == str(event.id)
    assert received.headers["X-Loyalty-Event-Type"] == "points.earned"
    header = received.headers["X-Loyalty-Signature"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)

    verify = docs_verify_signature()
    assert verify(endpoint.secret, received.body, header)
    assert not verify("whsec_wrong", received.body, header)
    assert not verify(endpoint.secret, received.body.replace(b"50", b"51"), header)
    timestamp = int(header.split(",")[0][2:])
    assert not verify(endpoint.secret, received.body, header, now=timestamp + 301)  # too old: a replay
    assert Delivery.objects.get().state == Delivery.DELIVERED


def test_a_receiver_failing_twice_gets_the_event_three_times_with_growing_delays(
    club, member, endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.statuses = [500, 500, 200]
    with time_machine.travel(START, tick=False) as clock:
        event = emit_committed(
            django_capture_on_commit_callbacks, club_id=club.id, type="offer.used", data={}, member_id=member.id
        )
        assert len(receiver.requests) == 1  # the first attempt right after the commit, answered 500

        clock.shift(9)
        assert deliveries_process_due() == 0  # not due before the 10 s backoff
        clock.shift(1)
        deliveries_process_due()
        assert len(receiver.requests) == 2  # answered 500 again: next wait is 20 s

        clock.shift(19)
        deliveries_process_due()
        assert len(receiver.requests) == 2
        clock.shift(1)
        deliveries_process_due()

    assert len(receiver.requests) == 3
    assert {r.json["id"] for r in receiver.requests} == {str(event.id)}
    arrivals = [r.at for r in receiver.requests]
    assert [b - a for a, b in itertools.pairwise(arrivals)] == [10, 20]
    stamps = [int(r.headers["X-Loyalty-Signature"].split(",")[0][2:]) for r in receiver.requests]
    assert stamps == [int(START.timestamp()), int(START.timestamp()) + 10, int(START.timestamp()) + 30]
    assert [r.headers["X-Loyalty-Delivery-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (Delivery.DELIVERED, 3, 200)
    log = list(DeliveryAttempt.objects.values_list("number", "status_code", "error"))
    assert log == [(1, 500, "HTTP 500"), (2, 500, "HTTP 500"), (3, 200, "")]


def test_a_rolled_back_transaction_emits_nothing(club, member, endpoint, receiver, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        event_emit(club_id=club.id, type="points.earned", data={"points": 5}, member_id=member.id)
        raise RuntimeError("the change failed after emitting")

    assert callbacks == []
    assert not OutboxEvent.objects.exists()
    assert not Delivery.objects.exists()
    deliveries_process_due()
    assert receiver.requests == []


def test_events_for_one_member_arrive_in_order_even_when_the_first_fails(
    club, endpoint, receiver, django_capture_on_commit_callbacks
):
    ada, bob = MemberFactory(club=club), MemberFactory(club=club)
    receiver.statuses = [500]  # the very first attempt fails
    with time_machine.travel(START, tick=False) as clock:
        first = emit_committed(
            django_capture_on_commit_callbacks, club_id=club.id, type="offer.used", data={"n": 1}, member_id=ada.id
        )
        second = emit_committed(
            django_capture_on_commit_callbacks, club_id=club.id, type="points.earned", data={"n": 2}, member_id=ada.id
        )
        other = emit_committed(
            django_capture_on_commit_callbacks, club_id=club.id, type="offer.used", data={}, member_id=bob.id
        )
        third = emit_committed(
            django_capture_on_commit_callbacks, club_id=club.id, type="offer.used", data={"n": 3}, member_id=ada.id
        )
        # Ada's later events wait behind her failed first one; Bob's is not held back by Ada's.
        assert [r.json["id"] for r in receiver.requests] == [str(first.id), str(other.id)]

        clock.shift(10)
        deliveries_process_due()

    assert [r.json["id"] for r in receiver.requests if r.json["id"] != str(other.id)] == [
        str(first.id),
        str(first.id),
        str(second.id),
        str(third.id),
    ]
    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.DELIVERED}


def test_a_delivery_is_given_up_24_hours_after_the_event_and_then_no_longer_holds_back_the_member(
    club, member, endpoint, receiver, django_capture_on_commit_callbacks
):
    def emit():
        return emit_committed(
            django_capture_on_commit_callbacks, club_id=club.id, type="offer.used", data={}, member_id=member.id
        )

    receiver.statuses = [503]  # the first attempt, before we know the event's id
    with time_machine.travel(START, tick=False) as clock:
        doomed = emit()
        receiver.failing_event_ids.add(str(doomed.id))
        later = None
        while (delivery := Delivery.objects.get(event=doomed)).state == Delivery.PENDING:
            clock.move_to(delivery.next_attempt_at)
            if later is None and delivery.next_attempt_at >= START + timedelta(hours=12):
                later = emit()  # waits behind the failing one
                assert Delivery.objects.get(event=later).attempts == 0
            deliveries_process_due()

    attempts = list(delivery.attempt_log.values_list("attempted_at", flat=True))
    assert attempts[0] == START
    assert attempts[-1] - START <= timedelta(hours=24)  # never retried past 24 h after the event
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert gaps[:4] == [10, 20, 40, 80]  # exponential ...
    assert gaps[-1] == 3600  # ... then capped
    assert gaps == sorted(gaps)
    assert delivery.state == Delivery.FAILED
    assert Delivery.objects.get(event=later).state == Delivery.DELIVERED
    assert receiver.requests[-1].json["id"] == str(later.id)


def test_a_timeout_is_a_failed_attempt(club, member, endpoint, receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    receiver.delay_seconds = 1.0
    emit_committed(django_capture_on_commit_callbacks, club_id=club.id, type="offer.used", data={}, member_id=None)

    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.PENDING
    assert delivery.attempts == 1
    attempt = delivery.attempt_log.get()
    assert attempt.status_code is None
    assert "Timeout" in attempt.error


def test_a_duplicated_task_never_sends_a_delivered_event_again(
    club, member, endpoint, receiver, django_capture_on_commit_callbacks
):
    emit_committed(django_capture_on_commit_callbacks, club_id=club.id, type="offer.used", data={}, member_id=member.id)
    assert len(receiver.requests) == 1

    webhooks_deliver_due.delay()
    webhooks_deliver_due.delay()

    assert len(receiver.requests) == 1
    assert Delivery.objects.get().attempts == 1


def test_a_delivery_leased_by_a_live_worker_is_not_sent_by_another(club, member, endpoint, receiver):
    with time_machine.travel(START, tick=False) as clock:
        event_emit(club_id=club.id, type="offer.used", data={}, member_id=member.id)  # on_commit never runs here
        delivery_id, lease = services.delivery_claim_next()

        assert deliveries_process_due() == 0  # another worker: the only due delivery is leased
        clock.shift(services._lease_seconds() + 1)  # the first worker died: its lease ran out
        assert deliveries_process_due() == 1
        assert services.delivery_attempt(delivery_id=delivery_id, lease=lease) is None  # stale lease: no send

    assert len(receiver.requests) == 1


def test_only_active_endpoints_of_the_club_subscribed_to_the_type_get_the_event(
    club, other_club, member, receiver, fast_webhooks, django_capture_on_commit_callbacks
):
    subscribed = webhook_endpoint_create(club=club, url=receiver.url, events=["offer.used"])
    webhook_endpoint_create(club=club, url=receiver.url, events=["points.earned"])
    webhook_endpoint_create(club=club, url=receiver.url, events=["offer.used"], active=False)
    webhook_endpoint_create(club=other_club, url=receiver.url, events=["offer.used"])

    emit_committed(django_capture_on_commit_callbacks, club_id=club.id, type="offer.used", data={}, member_id=member.id)

    assert list(Delivery.objects.values_list("endpoint_id", flat=True)) == [subscribed.id]
    assert len(receiver.requests) == 1


def test_no_listening_endpoint_writes_nothing(club, member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        assert event_emit(club_id=club.id, type="member.created", data={}, member_id=member.id) is None
    assert callbacks == []
    assert not OutboxEvent.objects.exists()


def test_an_unknown_event_type_is_a_programming_error(club):
    with pytest.raises(ValueError, match="Unknown webhook event type"):
        event_emit(club_id=club.id, type="offer.teleported", data={})


def test_an_operator_can_retry_a_failed_delivery(club, member, endpoint, receiver, django_capture_on_commit_callbacks):
    receiver.statuses = [500]
    emit_committed(django_capture_on_commit_callbacks, club_id=club.id, type="offer.used", data={}, member_id=member.id)
    Delivery.objects.update(state=Delivery.FAILED)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.delivery_retry(delivery=Delivery.objects.get()) is True

    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == (Delivery.DELIVERED, 2)
    assert services.delivery_retry(delivery=delivery) is False  # a delivered delivery is never sent again


def test_finished_events_are_purged_after_the_retention(
    club, member, endpoint, receiver, settings, django_capture_on_commit_callbacks
):
    receiver.statuses = [500]
    pending = emit_committed(
        django_capture_on_commit_callbacks, club_id=club.id, type="offer.used", data={}, member_id=None
    )
    delivered = emit_committed(
        django_capture_on_commit_callbacks, club_id=club.id, type="offer.used", data={}, member_id=None
    )
    recent = emit_committed(django_capture_on_commit_callbacks, club_id=club.id, type="offer.used", data={})
    old = datetime.now(UTC) - timedelta(days=settings.WEBHOOK_EVENT_RETENTION_DAYS + 1)
    OutboxEvent.objects.filter(pk__in=[pending.pk, delivered.pk]).update(created_at=old)

    webhooks_events_purge.delay()

    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {pending.pk, recent.pk}
    assert Delivery.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_send_each_event_once_and_in_member_order(club, receiver, fast_webhooks, monkeypatch):
    members = [MemberFactory(club=club) for _ in range(3)]
    webhook_endpoint_create(club=club, url=receiver.url, events=["points.earned"])
    receiver.delay_seconds, receiver.jitter = 0.02, True
    monkeypatch.setattr(services, "_schedule_delivery", lambda: None)  # leave every delivery to the workers
    emitted: dict[int, list[str]] = {m.id: [] for m in members}
    for n in range(8):
        for m in members:
            with transaction.atomic():
                event = event_emit(club_id=club.id, type="points.earned", data={"n": n}, member_id=m.id)
            emitted[m.id].append(str(event.id))
    barrier = threading.Barrier(4)

    def worker():
        try:
            barrier.wait()
            deliveries_process_due()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    received = [r.json["id"] for r in receiver.requests]
    assert sorted(received) == sorted(i for ids in emitted.values() for i in ids)  # each exactly once
    for m in members:
        assert [i for i in received if i in emitted[m.id]] == emitted[m.id]
    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.DELIVERED}
