"""The outbox depth for /metrics, read from the database at scrape time: the outbox is shared by every
process and host, so every scrape of every node reports the same truth (no per-process state)."""

from __future__ import annotations

import logging

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger("webhooks")


class OutboxCollector(Collector):
    def collect(self):
        from webhooks.models import Delivery

        pending = GaugeMetricFamily(
            "loyalty_webhook_deliveries_pending", "Webhook deliveries waiting to be sent (the outbox depth)."
        )
        due = GaugeMetricFamily(
            "loyalty_webhook_deliveries_due", "Pending webhook deliveries whose next attempt time has come."
        )
        oldest = GaugeMetricFamily(
            "loyalty_webhook_oldest_due_age_seconds", "Age of the oldest due delivery's attempt time (0: none due)."
        )
        try:
            now = timezone.now()
            rows = Delivery.objects.filter(state=Delivery.PENDING).aggregate(n=Count("id"))
            due_rows = Delivery.objects.filter(state=Delivery.PENDING, next_attempt_at__lte=now).aggregate(
                n=Count("id"), first=Min("next_attempt_at")
            )
        except Exception as exc:  # a scrape must still serve the process metrics when the database is down
            logger.warning("outbox depth unavailable for /metrics: %s", exc.__class__.__name__)
            return
        pending.add_metric([], rows["n"])
        due.add_metric([], due_rows["n"])
        first = due_rows["first"]
        oldest.add_metric([], max((now - first).total_seconds(), 0.0) if first else 0.0)
        yield from (pending, due, oldest)

    def describe(self):
        return []
