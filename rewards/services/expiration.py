"""Points expiration (SPEC §6.6, §8), built for millions of due lots.

* Due lots come from the partial index `rewards_lot_due` (expires_at, id) WHERE remaining > 0, read in
  keyset order (never OFFSET) in batches of ids only: memory stays flat however many lots are due.
* Each batch is its own short transaction: lock the batch's memberships (by pk, `SKIP LOCKED` on PostgreSQL
  so concurrent runs share the work; the ones skipped are taken right after, waiting for their lock),
  re-read the lots under lock, write one `expiration` per lot, set the markers, move the cached balances.
* Safe to run twice or concurrently and to resume after a crash: a committed batch is done, an uncommitted one
  left no trace, and UNIQUE (expired_lot, expiry_round) refuses a second expiration of the same points
  whatever the locks did.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from loyalty.models import LoyaltyClub
from rewards import events, sql
from rewards.models import Lot, Membership

DEFAULT_BATCH_SIZE = 500  # lots per transaction: keeps each batch well under a second


@dataclass(frozen=True)
class ExpirationResult:
    lots: int = 0
    points: int = 0

    def __add__(self, other: ExpirationResult) -> ExpirationResult:
        return ExpirationResult(self.lots + other.lots, self.points + other.points)


def due_lots(*, as_of: datetime, club: LoyaltyClub | None = None):
    """Lots with unspent points whose `expires_at` is at or before `as_of` (index-backed)."""
    queryset = Lot.objects.filter(remaining__gt=0, expires_at__lte=as_of)
    if club is not None:
        queryset = queryset.filter(membership__member__club=club)
    return queryset


def points_expire_due(
    *,
    as_of: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    club: LoyaltyClub | None = None,
    on_batch: Callable[[int, ExpirationResult], None] | None = None,
    deadline: float | None = None,
) -> ExpirationResult:
    """Expire every lot due at `as_of`: one `expiration` transaction of −(unspent points) per lot, dated at
    the lot's `expires_at` (or at the refund that brought points back into an expired lot), and the lot's
    transaction gets `expired_at` = that instant the first time. Returns the lots and points expired by
    this call. `on_batch(lots_scanned, result_of_batch)` reports progress after each committed batch.

    With `deadline` (a `time.monotonic()` value) it stops after the first batch that ends past it (so every
    call makes progress), leaving the rest for the next call (`due_lots(as_of=…).exists()` tells)."""
    total = ExpirationResult()
    after: tuple[datetime, int] | None = None
    while True:
        queryset = due_lots(as_of=as_of, club=club)
        if after is not None:
            expires_at, lot_id = after
            # Keyset on (expires_at, id); the redundant >= keeps it an index range scan.
            queryset = queryset.filter(expires_at__gte=expires_at).filter(
                Q(expires_at__gt=expires_at) | Q(id__gt=lot_id)
            )
        batch = list(
            queryset.order_by("expires_at", "id").values_list("id", "expires_at", "membership_id")[:batch_size]
        )
        if not batch:
            return total
        after = (batch[-1][1], batch[-1][0])
        result = _expire_batch(
            lot_ids=[row[0] for row in batch], membership_ids=sorted({row[2] for row in batch}), as_of=as_of
        )
        total += result
        if on_batch is not None:
            on_batch(len(batch), result)
        if deadline is not None and time.monotonic() >= deadline:
            return total


def _expire_batch(*, lot_ids: list[int], membership_ids: list[int], as_of: datetime) -> ExpirationResult:
    skip_locked = sql.skip_locked_supported()
    result, skipped = _in_transaction(lot_ids=lot_ids, membership_ids=membership_ids, as_of=as_of, skip=skip_locked)
    if skipped:
        # Locked by a purchase or another run right now: wait for them (short transactions) and re-check.
        more, _ = _in_transaction(lot_ids=lot_ids, membership_ids=skipped, as_of=as_of, skip=False)
        result += more
    return result


def _in_transaction(
    *, lot_ids: list[int], membership_ids: list[int], as_of: datetime, skip: bool
) -> tuple[ExpirationResult, list[int]]:
    for attempt in range(3):
        try:
            with transaction.atomic():
                memberships = list(
                    Membership.objects.select_for_update(skip_locked=skip, of=("self",))
                    .filter(pk__in=membership_ids)
                    .annotate(club_id=F("member__club_id"))
                    .order_by("pk")
                )
                result = expire_locked(memberships=memberships, lot_ids=lot_ids, as_of=as_of)
            locked = {m.pk for m in memberships}
            return result, [pk for pk in membership_ids if pk not in locked]
        except IntegrityError:
            # Another run expired some of these lots between our read and our write (only possible
            # without row locks); the batch rolled back, so re-read it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def expire_locked(*, memberships: list[Membership], lot_ids: list[int], as_of: datetime) -> ExpirationResult:
    """Expire the due lots among `lot_ids` that belong to the already locked `memberships` (annotated with
    `club_id`). Re-reads each lot under lock, so a lot spent or expired meanwhile is left alone."""
    by_id = {m.pk: m for m in memberships}
    rows = list(
        Lot.objects.select_for_update(of=("self",))
        .filter(pk__in=lot_ids, membership_id__in=list(by_id), remaining__gt=0, expires_at__lte=as_of)
        .order_by("pk")
        .values_list(
            "id",
            "membership_id",
            "transaction_id",
            "remaining",
            "expires_at",
            "expiry_round",
            "refunded_at",
            "transaction__expired_at",
        )
    )
    if not rows:
        return ExpirationResult()
    # (lot, membership, source transaction, points, date, round) of each expiration, in lot order
    expiring = [
        (lot_id, membership_id, source_id, remaining, _expiration_date(expires_at, refunded_at), expiry_round)
        for lot_id, membership_id, source_id, remaining, expires_at, expiry_round, refunded_at, _ in rows
    ]
    # the source transaction's `expired_at`, set by its first expiration only
    markers = [(e[2], e[4]) for e, row in zip(expiring, rows, strict=True) if row[7] is None]
    tx_of_lot = sql.expirations_write(expiring)
    sql.transactions_expired_at_set(markers)
    expired_by_member: dict[int, list[tuple[int, int]]] = defaultdict(list)  # membership → [(tx id, points)]
    for lot_id, membership_id, _, points, _, _ in expiring:
        expired_by_member[membership_id].append((tx_of_lot[lot_id], points))
    debits, emitted = [], []
    for membership_id, expired in expired_by_member.items():
        membership = by_id[membership_id]
        points = sum(p for _, p in expired)
        membership.balance -= points
        debits.append((membership_id, points))
        emitted.append(
            (
                membership.club_id,
                membership.member_id,
                {"points": points, "transaction_ids": [tx_id for tx_id, _ in expired], "balance": membership.balance},
            )
        )
    sql.memberships_balance_subtract(debits)
    events.emit_many(type="points.expired", events=emitted)
    return ExpirationResult(lots=len(expiring), points=sum(row[3] for row in expiring))


def _expiration_date(expires_at: datetime, refunded_at: datetime | None) -> datetime:
    """An expiration is dated at the lot's `expires_at`, or at the refund that brought points back later."""
    return refunded_at if refunded_at is not None and refunded_at > expires_at else expires_at
