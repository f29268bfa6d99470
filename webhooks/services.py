"""Writes for webhooks. `event_emit` is called by other apps inside their own transactions.

Delivery is at least once: a worker claims a batch of due deliveries with a lease (a short transaction,
`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL), POSTs each outside any transaction, then records the
outcome only if its lease still holds. Commits do not enqueue a task each: the commits of a short window
share one drain task (`_schedule_delivery`). A delivered or given-up delivery is never claimed again, so a
duplicated or redelivered task sends nothing twice; only a worker dying between the receiver's answer and
the record makes the delivery go out again after its lease, which is what the stable event `id` is for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, F, Func, JSONField, OuterRef, Q, Subquery
from django.utils import timezone

from kit.db.races import lock_for_delete
from kit.formats import format_datetime
from kit.prepared import PreparedLookup
from kit.telemetry import metrics
from loyalty.models import LoyaltyClub
from loyalty.secrets import new_secret
from webhooks import egress, formats
from webhooks.models import Delivery, DeliveryAttempt, OutboxEvent, WebhookEndpoint

logger = logging.getLogger("webhooks")

EVENT_TYPES = (
    "offer.used",
    "offer.granted",
    "points.earned",
    "points.spent",
    "points.expired",
    "points.expiring",
    "transaction.cancelled",
    "reward.purchased",
    "reward.used",
    "member.created",
    # Member changes (the published Members Webhooks, webhooks/member_changes.py)
    "member.imported",
    "member.updated",
    "member.deleted",
)

SIGNATURE_HEADER = "X-Loyalty-Signature"
USER_AGENT = "loyalty-webhooks/1"


# --- Outbox ---------------------------------------------------------------------------------------


# Every write of the API emits an event: this lookup runs on each of them (see kit.prepared).
_active_endpoints = PreparedLookup(
    lambda p: WebhookEndpoint.objects.filter(club_id=p.club_id, active=True).order_by("id").values_list("id", "events")
)


def active_endpoints_json(club_id: Any = None) -> Subquery:
    """The active endpoints of the outer query's club (`OuterRef("club_id")`, or `club_id`) as a JSON array
    of `[id, events]` pairs, by id (PostgreSQL): for a caller that reads them within a statement of its own
    and then passes them to `event_emit(endpoints=…)` and `endpoints_listening`. Null when the club has none."""
    from django.contrib.postgres.aggregates import JSONBAgg  # PostgreSQL only: loaded when asked for

    pairs = (
        WebhookEndpoint.objects.filter(club_id=OuterRef("club_id") if club_id is None else club_id, active=True)
        .order_by()
        .values("club_id")
        .annotate(pairs=JSONBAgg(Func(F("id"), F("events"), function="jsonb_build_array"), order_by="id"))
        .values("pairs")
    )
    return Subquery(pairs, output_field=JSONField())


def endpoints_listening(endpoints: Iterable[Sequence[Any]], type: str) -> list[int]:
    """The ids of those of a club's active endpoints (`(id, events)` pairs) subscribed to `type`."""
    return [endpoint_id for endpoint_id, events in endpoints if type in (events or [])]


def event_emit(
    *,
    club_id: int,
    type: str,
    data: dict,
    member_id: int | None = None,
    endpoints: Iterable[Sequence[Any]] | None = None,
) -> OutboxEvent | None:
    """Record an event in the outbox, in the caller's transaction (a rollback emits nothing).
    `data` must be JSON-serialisable (ids, ISO datetimes). Events of one member are delivered in order.

    Writes the event and one delivery per active endpoint of the club subscribed to `type`; nothing at all
    when no endpoint listens. Delivery is scheduled after the commit. Locks nothing (new rows only).
    `endpoints`: the club's active endpoints as `(id, events)` pairs when the caller has read them already
    (`active_endpoints_json`), which spares the query.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type: {type}")
    # Every domain event passes here, listened to or not: the business metrics count them after commit.
    metrics.business_event(type=type, data=data)
    if endpoints is None:
        endpoints = _active_endpoints.rows(club_id=club_id)
    endpoint_ids = endpoints_listening(endpoints, type)
    if not endpoint_ids:
        return None
    now = timezone.now()
    give_up_at = now + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    with transaction.atomic():
        event = OutboxEvent.objects.create(club_id=club_id, type=type, member_id=member_id, data=data, created_at=now)
        Delivery.objects.bulk_create(
            Delivery(
                event=event,
                endpoint_id=endpoint_id,
                member_id=member_id,
                next_attempt_at=now,
                give_up_at=give_up_at,
                created_at=now,
            )
            for endpoint_id in endpoint_ids
        )
    # robust: a broker outage must not turn the caller's committed change into an error; the periodic
    # task picks the deliveries up anyway.
    transaction.on_commit(_schedule_delivery, robust=True)
    return event


def event_subscribed_club_ids(*, type: str) -> set[int]:
    """Clubs with an active endpoint subscribed to `type` (so a batch job can skip clubs nobody listens to)."""
    return {
        endpoint.club_id
        for endpoint in WebhookEndpoint.objects.filter(active=True).only("club_id", "events")
        if type in (endpoint.events or [])
    }


def events_emit_many(*, type: str, events: list[tuple[int, int | None, dict]]) -> int:
    """`event_emit` for many events of one type at once — `events` are `(club_id, member_id, data)` —
    in the caller's transaction: one query for the subscribed endpoints of all the clubs and two bulk
    INSERTs, whatever the number of events (batch jobs emit thousands). Returns the events written."""
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type: {type}")
    if not events:
        return 0
    metrics.business_events(type=type, datas=[data for _, _, data in events])
    endpoints_by_club: dict[int, list[int]] = {}
    for endpoint in WebhookEndpoint.objects.filter(club_id__in={e[0] for e in events}, active=True).only(
        "id", "club_id", "events"
    ):
        if type in (endpoint.events or []):
            endpoints_by_club.setdefault(endpoint.club_id, []).append(endpoint.id)
    if not endpoints_by_club:
        return 0
    now = timezone.now()
    give_up_at = now + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    rows, deliveries = [], []
    for club_id, member_id, data in events:
        if club_id not in endpoints_by_club:
            continue
        event = OutboxEvent(id=uuid.uuid4(), club_id=club_id, type=type, member_id=member_id, data=data, created_at=now)
        rows.append(event)
        deliveries += [
            Delivery(
                event=event,
                endpoint_id=endpoint_id,
                member_id=member_id,
                next_attempt_at=now,
                give_up_at=give_up_at,
                created_at=now,
            )
            for endpoint_id in endpoints_by_club[club_id]
        ]
    with transaction.atomic():
        OutboxEvent.objects.bulk_create(rows, batch_size=1000)
        Delivery.objects.bulk_create(deliveries, batch_size=1000)
    transaction.on_commit(_schedule_delivery, robust=True)
    return len(rows)


# The cache key that says "a drain task is already on its way". Its lifetime is the drain delay, and the task
# runs a little after it ends, so an event committed while the key lives is committed before that task
# starts and is sent by it: one task per delay window instead of one per event.
_KICK_KEY = "webhooks:drain-kick"


def _schedule_delivery() -> None:
    from webhooks.tasks import webhooks_deliver_due

    delay = settings.WEBHOOK_DRAIN_DELAY_SECONDS
    if delay <= 0 or settings.CELERY_TASK_ALWAYS_EAGER:
        # No batching asked for, or tasks run inline (tests, a laptop): one drain per commit, at once.
        webhooks_deliver_due.delay()
        return
    try:
        first = caches[settings.WEBHOOK_DRAIN_CACHE].add(_KICK_KEY, 1, timeout=delay)
    except Exception:  # the cache is down: better a task per event than a delivery waiting for beat
        logger.warning("webhook drain debounce unavailable (cache error): enqueueing a drain anyway")
        first = True
    if first:
        webhooks_deliver_due.apply_async(countdown=delay + 0.05)


def event_body(event: OutboxEvent) -> bytes:
    """The exact bytes POSTed (and signed): `{id, type, created_at, loyalty_club, data}`."""
    payload = {
        "id": str(event.id),
        "type": event.type,
        "created_at": format_datetime(event.created_at),
        "loyalty_club": event.club.slug,
        "data": event.data,
    }
    return json.dumps(payload, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the endpoint secret>`."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@transaction.atomic
def events_purge(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Delete outbox events older than WEBHOOK_EVENT_RETENTION_DAYS whose deliveries are all finished (with
    their deliveries and attempt logs). One bounded batch per call; returns how many events went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_EVENT_RETENTION_DAYS)
    pending = Delivery.objects.filter(event_id=OuterRef("pk"), state=Delivery.PENDING)
    ids = list(
        OutboxEvent.objects.filter(created_at__lt=cutoff)
        .filter(~Exists(pending))
        .order_by("created_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    if ids:
        OutboxEvent.objects.filter(pk__in=ids).delete()
    return len(ids)


# --- Endpoints ------------------------------------------------------------------------------------


def _events_normalised(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"Unknown webhook event types: {unknown}")
    return [e for e in EVENT_TYPES if e in set(events)]  # catalogue order, no duplicates


@transaction.atomic
def webhook_endpoint_create(
    *, club: LoyaltyClub, url: str, events: list[str], active: bool = True, format: str = "loyalty"
) -> WebhookEndpoint:
    """Create an endpoint with a new random signing secret (returned on the object; show it once). `format`
    is how its deliveries are written (webhooks/formats.py)."""
    return WebhookEndpoint.objects.create(
        club=club,
        url=url,
        events=_events_normalised(events),
        active=active,
        format=format,
        secret=f"whsec_{new_secret()}",
    )


@transaction.atomic
def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **fields) -> WebhookEndpoint:
    """Partial update of url / events / active. Deliveries already queued follow the endpoint's new URL;
    while it is inactive they wait (and are given up once their 24 h are over)."""
    if "events" in fields:
        fields["events"] = _events_normalised(fields["events"])
    for key, value in fields.items():
        setattr(endpoint, key, value)
    endpoint.save(update_fields=[*fields, "updated_at"])
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint with its queued deliveries and their logs. Locks the endpoint, then its
    deliveries, as delivering locks a delivery before logging an attempt (kit.db.races)."""
    lock_for_delete(WebhookEndpoint, endpoint.pk)
    endpoint.delete()


# --- Delivery -------------------------------------------------------------------------------------


def _lease_seconds() -> float:
    # A lease must outlive one attempt (connect + read timeouts) with room to record it.
    return max(settings.WEBHOOK_LEASE_SECONDS, 4 * settings.WEBHOOK_TIMEOUT_SECONDS + 10)


def backoff_delay(*, attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: base, 2·base, 4·base, … capped."""
    base = settings.WEBHOOK_BACKOFF_BASE_SECONDS
    return min(base * 2 ** max(attempts - 1, 0), settings.WEBHOOK_BACKOFF_MAX_SECONDS)


def deliveries_claim(*, limit: int, now: datetime | None = None) -> tuple[uuid.UUID, list[int]]:
    """Lease up to `limit` due deliveries at once: pending, due, endpoint active, not leased by a live
    worker, and no earlier pending delivery of the same member to the same endpoint (per-member order, so a
    batch holds at most one delivery per member and endpoint). One short transaction locks the chosen rows
    (skipping rows other workers hold) and gives them one lease. Returns the lease and the ids, oldest due
    first."""
    now = now or timezone.now()
    earlier_of_member = Delivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        member_id=OuterRef("member_id"),
        state=Delivery.PENDING,
        id__lt=OuterRef("id"),
    )
    lease = uuid.uuid4()
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=Delivery.PENDING, next_attempt_at__lte=now, endpoint__active=True)
            .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
            .filter(~Exists(earlier_of_member))
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Delivery.objects.filter(pk__in=ids).update(
                locked_until=now + timedelta(seconds=_lease_seconds()), lease=lease
            )
    return lease, ids


def delivery_claim_next(*, now: datetime | None = None) -> tuple[int, uuid.UUID] | None:
    """Lease the next due delivery (`deliveries_claim` of one)."""
    lease, ids = deliveries_claim(limit=1, now=now)
    return (ids[0], lease) if ids else None


def _post(*, url: str, body: bytes, headers: dict) -> tuple[int | None, str, str]:
    """(status code or None, error, first KiB of the response)."""
    try:
        with (
            egress.session() as session,
            session.post(
                url,
                data=body,
                headers=headers,
                timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                allow_redirects=False,
                stream=True,
            ) as response,
        ):
            excerpt = response.raw.read(1000, decode_content=True).decode("utf-8", "replace")
            error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
            return response.status_code, error, excerpt
    except Exception as exc:  # timeouts, refused connections, bad URLs: all are a failed attempt
        return None, f"{exc.__class__.__name__}: {exc}"[:500], ""


def delivery_attempt(*, delivery_id: int, lease: uuid.UUID) -> str | None:
    """Send a leased delivery once and record the outcome: delivered on a 2xx; otherwise retried after
    `backoff_delay`, or failed when that would pass `give_up_at`. Returns the new state, or None when the
    lease is no longer ours (nothing is sent)."""
    delivery = (
        Delivery.objects.select_related("event__club", "endpoint")
        .filter(pk=delivery_id, lease=lease, state=Delivery.PENDING)
        .first()
    )
    if delivery is None:
        return None
    return _attempt(delivery, lease)


def _attempt_seconds() -> float:
    # The longest one attempt can take: connect and read timeouts, then recording the outcome.
    return 2 * settings.WEBHOOK_TIMEOUT_SECONDS + 5


def _attempt(delivery: Delivery, lease: uuid.UUID) -> str | None:
    now = timezone.now()
    mine = Delivery.objects.filter(pk=delivery.pk, lease=lease, state=Delivery.PENDING)
    if now >= delivery.give_up_at:  # e.g. its endpoint was inactive until after the retry window
        mine.update(state=Delivery.FAILED, finished_at=now, locked_until=None, lease=None)
        return Delivery.FAILED

    event, endpoint = delivery.event, delivery.endpoint
    body, format_headers = formats.request_for(
        event=event,
        endpoint=endpoint,
        envelope=event_body,
        sign=lambda body: signature_header(secret=endpoint.secret, body=body, timestamp=int(now.timestamp())),
    )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **format_headers,
        "X-Loyalty-Event-Id": str(event.id),
        "X-Loyalty-Event-Type": event.type,
        "X-Loyalty-Delivery-Attempt": str(delivery.attempts + 1),
    }
    started = time.monotonic()
    status_code, error, excerpt = _post(url=endpoint.url, body=body, headers=headers)
    duration_ms = int((time.monotonic() - started) * 1000)

    finished = timezone.now()
    attempts = delivery.attempts + 1
    if not error:
        outcome = {"state": Delivery.DELIVERED, "finished_at": finished}
    else:
        next_attempt_at = now + timedelta(seconds=backoff_delay(attempts=attempts))
        if next_attempt_at > delivery.give_up_at or formats.gives_up_on(endpoint=endpoint, status_code=status_code):
            outcome = {"state": Delivery.FAILED, "finished_at": finished}
        else:
            outcome = {"next_attempt_at": next_attempt_at}
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=attempts,
            attempted_at=now,
            status_code=status_code,
            error=error,
            response_excerpt=excerpt,
            duration_ms=duration_ms,
        )
        recorded = mine.update(
            attempts=F("attempts") + 1, last_status_code=status_code, locked_until=None, lease=None, **outcome
        )
    if not recorded:
        logger.warning("Webhook delivery #%s: lease lost during the attempt; outcome not recorded", delivery.pk)
        return None
    if error:
        logger.info("Webhook delivery #%s attempt %s failed: %s", delivery.pk, attempts, error)
    return outcome.get("state", Delivery.PENDING)


def deliveries_process_due(*, max_deliveries: int = 500, time_budget_seconds: float = 60.0) -> int:
    """Send due deliveries until none is due, `max_deliveries` were tried or the time budget is spent (the
    periodic task continues). Deliveries are claimed and loaded WEBHOOK_DRAIN_BATCH_SIZE at a time (two
    queries per batch, not per delivery) and sent one after the other; a delivery whose lease would run out
    before its attempt could finish (slow receivers earlier in the batch) is not sent but released, so
    another worker may claim it at once. Safe with any number of concurrent workers. Returns the number of
    deliveries tried."""
    tried = 0
    stop_at = time.monotonic() + time_budget_seconds
    while tried < max_deliveries and time.monotonic() < stop_at:
        lease, ids = deliveries_claim(limit=min(settings.WEBHOOK_DRAIN_BATCH_SIZE, max_deliveries - tried))
        if not ids:
            break
        batch = Delivery.objects.select_related("event__club", "endpoint").filter(
            pk__in=ids, lease=lease, state=Delivery.PENDING
        )
        by_id = {delivery.pk: delivery for delivery in batch}
        for position, delivery_id in enumerate(ids):
            delivery = by_id.get(delivery_id)
            if delivery is None:
                continue
            margin = timedelta(seconds=_attempt_seconds())
            if time.monotonic() >= stop_at or timezone.now() + margin > delivery.locked_until:
                _release(lease=lease, ids=ids[position:])
                break
            _attempt(delivery, lease)
            tried += 1
    return tried


def _release(*, lease: uuid.UUID, ids: list[int]) -> None:
    Delivery.objects.filter(pk__in=ids, lease=lease, state=Delivery.PENDING).update(locked_until=None, lease=None)


@transaction.atomic
def delivery_retry(*, delivery: Delivery) -> bool:
    """Operator action: send a failed delivery again, with a fresh retry window. Delivered and pending
    deliveries are left alone. Returns whether it was requeued."""
    now = timezone.now()
    requeued = Delivery.objects.filter(pk=delivery.pk, state=Delivery.FAILED).update(
        state=Delivery.PENDING,
        next_attempt_at=now,
        give_up_at=now + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS),
        finished_at=None,
        locked_until=None,
        lease=None,
    )
    if requeued:
        transaction.on_commit(_schedule_delivery, robust=True)
    return bool(requeued)
