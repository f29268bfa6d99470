"""Writes for webhooks. `event_emit` is called by other apps inside their own transactions.

Delivery is at least once: a worker claims one due delivery at a time with a lease (a short transaction,
`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL), POSTs it outside any transaction, then records the
outcome only if its lease still holds. A delivered or given-up delivery is never claimed again, so a
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
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from kit.formats import format_datetime
from kit.prepared import PreparedLookup
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


def event_emit(*, club_id: int, type: str, data: dict, member_id: int | None = None) -> OutboxEvent | None:
    """Record an event in the outbox, in the caller's transaction (a rollback emits nothing).
    `data` must be JSON-serialisable (ids, ISO datetimes). Events of one member are delivered in order.

    Writes the event and one delivery per active endpoint of the club subscribed to `type`; nothing at all
    when no endpoint listens. Delivery is scheduled after the commit. Locks nothing (new rows only).
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type: {type}")
    endpoint_ids = [
        endpoint_id for endpoint_id, events in _active_endpoints.rows(club_id=club_id) if type in (events or [])
    ]
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


def _schedule_delivery() -> None:
    from webhooks.tasks import webhooks_deliver_due

    webhooks_deliver_due.delay()


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
    """Delete the endpoint with its queued deliveries and their logs."""
    endpoint.delete()


# --- Delivery -------------------------------------------------------------------------------------


def _lease_seconds() -> float:
    # A lease must outlive one attempt (connect + read timeouts) with room to record it.
    return max(settings.WEBHOOK_LEASE_SECONDS, 4 * settings.WEBHOOK_TIMEOUT_SECONDS + 10)


def backoff_delay(*, attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: base, 2·base, 4·base, … capped."""
    base = settings.WEBHOOK_BACKOFF_BASE_SECONDS
    return min(base * 2 ** max(attempts - 1, 0), settings.WEBHOOK_BACKOFF_MAX_SECONDS)


def delivery_claim_next(*, now: datetime | None = None) -> tuple[int, uuid.UUID] | None:
    """Lease the next due delivery: pending, due, endpoint active, not leased by a live worker, and no
    earlier pending delivery of the same member to the same endpoint (per-member order). Locks the chosen
    row for the length of this short transaction (skipping rows other workers hold)."""
    now = now or timezone.now()
    earlier_of_member = Delivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        member_id=OuterRef("member_id"),
        state=Delivery.PENDING,
        id__lt=OuterRef("id"),
    )
    lease = uuid.uuid4()
    with transaction.atomic():
        candidate = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=Delivery.PENDING, next_attempt_at__lte=now, endpoint__active=True)
            .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
            .filter(~Exists(earlier_of_member))
            .order_by("next_attempt_at", "id")
            .only("id")
            .first()
        )
        if candidate is None:
            return None
        Delivery.objects.filter(pk=candidate.pk).update(
            locked_until=now + timedelta(seconds=_lease_seconds()), lease=lease
        )
    return candidate.pk, lease


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
    """Send due deliveries one at a time until none is due, `max_deliveries` were tried or the time budget
    is spent (the periodic task continues). Safe with any number of concurrent workers. Returns the number
    of deliveries tried."""
    tried = 0
    stop_at = time.monotonic() + time_budget_seconds
    while tried < max_deliveries and time.monotonic() < stop_at:
        claim = delivery_claim_next()
        if claim is None:
            break
        delivery_id, lease = claim
        delivery_attempt(delivery_id=delivery_id, lease=lease)
        tried += 1
    return tried


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
