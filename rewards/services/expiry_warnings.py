"""Expiry warnings [ext] (SPEC §8, §10.2): a daily `points.expiring` webhook event for every member with points
expiring within the next days, at most once per member per day (the club's local date).

* Only clubs with an active endpoint subscribed to `points.expiring` are looked at: an event nobody receives
  is not written, and neither is its guard row.
* Memberships are read in keyset batches of ids (never OFFSET); each batch is one aggregate query over the
  partial index `rewards_lot_open_cover` and one short transaction, so memory stays flat.
* The guard is `ExpiryWarning.warned_on`: one conditional upsert per batch moves it to today and returns the
  rows it moved, and only those members get an event, in the same transaction. Two runs at once (a duplicate
  beat) or one run twice: the second finds `warned_on` already today (on PostgreSQL it waits for the first's
  row locks, then sees its commit) and emits nothing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import TruncDate

from kit.formats import format_datetime
from loyalty.models import LoyaltyClub
from rewards import events, sql
from rewards.models import Lot, Membership
from webhooks.services import event_subscribed_club_ids

EVENT = "points.expiring"
DEFAULT_WARNING_DAYS = 30
DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class WarningResult:
    warned: int = 0
    finished: bool = True


def points_expiring_warn(
    *,
    now: datetime,
    days: int = DEFAULT_WARNING_DAYS,
    club: LoyaltyClub | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
    deadline: float | None = None,
) -> WarningResult:
    """Emit `points.expiring` for each member (of `club`, or of every subscribed club) holding points whose
    `expires_at` is in (now, now + days] and who was not warned yet on the club's local date of `now`.

    data: `{member_id, points, expiring_points: [{date, points}], expires_before, balance}` — the points
    expiring in the window, by local calendar day, soonest first. Returns how many members were warned;
    `finished` is False when `deadline` (a `time.monotonic()` value) stopped it early."""
    club_ids = event_subscribed_club_ids(type=EVENT)
    clubs = LoyaltyClub.objects.filter(pk__in=club_ids, rewards_enabled=True).order_by("pk")
    if club is not None:
        clubs = clubs.filter(pk=club.pk)
    until = now + timedelta(days=days)
    warned = 0
    for each in clubs:
        today = now.astimezone(each.tzinfo).date()
        after = 0
        while True:
            ids = list(
                Membership.objects.filter(member__club_id=each.pk, pk__gt=after)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            after = ids[-1]
            count = _warn_batch(club=each, membership_ids=ids, now=now, until=until, today=today)
            warned += count
            if on_batch is not None:
                on_batch(count)
            if deadline is not None and time.monotonic() >= deadline:
                return WarningResult(warned=warned, finished=False)
    return WarningResult(warned=warned)


def _warn_batch(*, club: LoyaltyClub, membership_ids: list[int], now: datetime, until: datetime, today: date) -> int:
    expiring: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for row in (
        Lot.objects.filter(membership_id__in=membership_ids, remaining__gt=0, expires_at__gt=now, expires_at__lte=until)
        .annotate(day=TruncDate("expires_at", tzinfo=club.tzinfo))
        .values("membership_id", "day")
        .annotate(points=Sum("remaining"))
        .order_by("membership_id", "day")
    ):
        expiring[row["membership_id"]].append((row["day"], row["points"]))
    if not expiring:
        return 0
    with transaction.atomic():
        moved = sql.expiry_warnings_advance(membership_ids=sorted(expiring), today=today)
        if not moved:
            return 0
        memberships = Membership.objects.filter(pk__in=moved).values_list("pk", "member_id", "balance")
        events.emit_many(
            type=EVENT,
            events=[
                (
                    club.pk,
                    member_id,
                    {
                        "points": sum(points for _, points in expiring[pk]),
                        "expiring_points": [{"date": d.isoformat(), "points": p} for d, p in expiring[pk]],
                        "expires_before": format_datetime(until),
                        "balance": balance,
                    },
                )
                for pk, member_id, balance in sorted(memberships)
            ],
        )
    return len(moved)
