"""The points ledger (SPEC §6.3–6.6): membership, earning, corrections, cancellations.

Locking, in this order everywhere: the membership row (`select_for_update`), then the reward row (stock
claim, shop only), then the lots by pk. Every ledger write holds the membership lock, so one member's writes
are serialized and lots are never contended; the cached `balance` and `lifetime_points` change with
`F()` updates in the same transaction as the rows that justify them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from kit.errors import ConcurrentlyDeleted, DomainError, NotParticipating
from kit.prepared import PreparedLookup
from loyalty.models import Member
from loyalty.selectors import member_ensure_not_banned
from rewards import events, rules, sql
from rewards.exceptions import (
    AchievementNotFound,
    NotEnoughPoints,
    TransactionCannotBeCancelled,
    TransactionNotFound,
)
from rewards.models import Achievement, Allocation, Lot, Membership, ProgramConfig, Reward, RewardPurchase, Transaction
from rewards.services.program import program_config_get
from webhooks import services as webhooks

T = Transaction

# --- Membership ------------------------------------------------------------------------------------


# Every earn and spend runs these: compiled once per process (see kit.prepared).
_membership_for_update = PreparedLookup(lambda p: Membership.objects.select_for_update().filter(member_id=p.member_id))
_MEMBERSHIP_COLUMNS = tuple(field.attname for field in Membership._meta.concrete_fields)
# PostgreSQL: the same lock, with the club's active webhook endpoints read in the same statement, so the
# events of the write need no query of their own (as the offer use's facts do).
_membership_for_update_with_endpoints = PreparedLookup(
    lambda p: (
        Membership.objects.select_for_update()
        .filter(member_id=p.member_id)
        .annotate(f_endpoints=webhooks.active_endpoints_json(club_id=p.club_id))
        .values_list(*_MEMBERSHIP_COLUMNS, "f_endpoints")
    )
)


def _spendable_lots(p, *, excluding: bool):
    queryset = (
        Lot.objects.filter(membership_id=p.membership_id, remaining__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=p.now))
        .order_by(F("expires_at").asc(nulls_last=True), "id")
    )
    if excluding:
        queryset = queryset.exclude(pk=p.lot_id)
    return queryset.values_list("id", "remaining")


_achievement_rule = PreparedLookup(lambda p: Achievement.objects.filter(club_id=p.club_id, type=p.type_str))
_fifo_page = PreparedLookup(lambda p: _spendable_lots(p, excluding=False), paged=True)
_fifo_page_excluding = PreparedLookup(lambda p: _spendable_lots(p, excluding=True), paged=True)


def membership_lock(*, member: Member) -> Membership:
    """The member's membership, locked (`SELECT … FOR UPDATE`); 480 when the member has not joined.
    Must run inside a transaction."""
    membership = _membership_locked(member=member)
    if membership is None:
        if not type(member).objects.filter(pk=member.pk).exists():
            raise ConcurrentlyDeleted()  # the member went while the request ran: not "not participating"
        raise NotParticipating()
    membership.member = member
    return membership


def _membership_locked(*, member: Member) -> Membership | None:
    """The locked membership; on PostgreSQL with `webhook_endpoints`, the club's active endpoints as
    `(id, events)` pairs read by the same statement (for `rewards.events`)."""
    if not sql.lock_reads_endpoints():
        return _membership_for_update.first(member_id=member.pk)
    rows = _membership_for_update_with_endpoints.rows(member_id=member.pk, club_id=member.club_id)
    if not rows:
        return None
    n = len(_MEMBERSHIP_COLUMNS)
    membership = Membership.from_db(connection.alias, _MEMBERSHIP_COLUMNS, rows[0][:n])
    membership.webhook_endpoints = rows[0][n] or []
    return membership


@transaction.atomic
def membership_join(*, member: Member) -> tuple[Membership, bool]:
    """Join the program (idempotent): (membership, created). 467 for a banned member. Concurrent joins
    are safe: the unique member column decides and the loser reads the winner's row."""
    member_ensure_not_banned(member=member)
    membership, created = Membership.objects.get_or_create(member=member, defaults={"started_at": timezone.now()})
    return membership, created


def _fast_delete(queryset) -> None:
    # Plain DELETE … WHERE, without Django's collector loading every row first (a member may have
    # hundreds of thousands of transactions). The rows are deleted leaves-first in one transaction and
    # foreign keys are checked at commit, so the cycle transaction ↔ lot needs no special order.
    queryset._raw_delete(queryset.db)


@transaction.atomic
def membership_leave(*, member: Member) -> None:
    """Leave: deletes the membership with all its transactions, lots, allocations and purchases (a later
    join starts from zero). Locks the membership. 480 when not joined. Stock of purchased items is not
    returned: those purchases happened."""
    membership = membership_lock(member=member)
    _fast_delete(Allocation.objects.filter(lot__membership_id=membership.pk))
    _fast_delete(RewardPurchase.objects.filter(membership_id=membership.pk))
    _fast_delete(Lot.objects.filter(membership_id=membership.pk))
    _fast_delete(Transaction.objects.filter(membership_id=membership.pk))
    _fast_delete(Membership.objects.filter(pk=membership.pk))


# --- Building blocks (callers hold the membership lock) ----------------------------------------------


def lot_expiry(config: ProgramConfig, date: datetime) -> datetime | None:
    return None if config.points_validity_days is None else date + timedelta(days=config.points_validity_days)


def _apply(membership: Membership, *, balance: int = 0, lifetime: int = 0) -> None:
    """Move the caches in SQL (the CHECK constraints refuse a negative result) and mirror them in memory."""
    sql.membership_caches_add(membership_id=membership.pk, balance=balance, lifetime=lifetime)
    membership.balance += balance
    membership.lifetime_points += lifetime


def credit(
    *,
    membership: Membership,
    type: str,
    points: int,
    details: dict,
    now: datetime,
    config: ProgramConfig,
    achievement_type: str | None = None,
) -> Transaction:
    """Write a point-adding transaction and its lot; emits `points.earned`."""
    tx = Transaction(
        membership=membership,
        type=type,
        date=now,
        amount=points,
        details=details,
        achievement_type=achievement_type,
    )
    lot = Lot(membership=membership, amount=points, remaining=points, expires_at=lot_expiry(config, now))
    sql.transaction_with_lot_insert(tx, lot)  # one statement on PostgreSQL
    tx.lot = lot
    _apply(membership, balance=points, lifetime=points)
    events.transaction_event(membership=membership, type="points.earned", tx=tx)
    return tx


def _fifo_candidates(*, membership: Membership, now: datetime, exclude_lot_id: int | None):
    """(lot id, remaining) of the spendable lots (`rules.lot_spendable`) in FIFO order (`rules.fifo_key`),
    read a page at a time, each page larger, for as long as the caller keeps asking (`rules.fifo_plan`
    stops at the lot that covers the debit)."""
    lookup = _fifo_page if exclude_lot_id is None else _fifo_page_excluding
    chunk, start = 20, 0
    while True:
        rows = lookup.rows(membership_id=membership.pk, now=now, lot_id=exclude_lot_id, limit=chunk, offset=start)
        yield from rows
        if len(rows) < chunk:
            return
        start += chunk
        chunk *= 4


def draw(
    *,
    membership: Membership,
    tx: Transaction,
    points: int,
    now: datetime,
    error: type[DomainError],
    first_lot: Lot | None = None,
) -> list[tuple[int, int]]:
    """Allocate `points` to the debit `tx`: from `first_lot`'s unspent points first (a cancelled lot), then
    FIFO, as `rules.fifo_plan` decides. Raises `error` when the spendable lots cannot cover it (the caller's
    transaction rolls back). Locks the chosen lots by pk. Returns [(lot id, points)]."""
    plan = rules.fifo_plan(
        points,
        _fifo_candidates(
            membership=membership, now=now, exclude_lot_id=first_lot.pk if first_lot is not None else None
        ),
        first=(first_lot.pk, first_lot.remaining) if first_lot is not None else None,
    )
    if plan is None:
        raise error()
    locked = dict(
        Lot.objects.select_for_update()
        .filter(pk__in=[lot_id for lot_id, _ in plan])
        .order_by("pk")
        .values_list("id", "remaining")
    )
    Allocation.objects.bulk_create([Allocation(transaction=tx, lot_id=lot_id, points=take) for lot_id, take in plan])
    sql.lots_remaining_set([(lot_id, locked[lot_id] - take) for lot_id, take in plan])
    return plan


def refund(*, tx: Transaction, original: Transaction, now: datetime) -> None:
    """Give the points `original` drew back to the very lots they came from (negative allocations of `tx`).
    A lot whose `expires_at` has passed is marked `refunded_at`, so the next expiration run takes them (dated
    at the refund, never earlier)."""
    drawn = list(Allocation.objects.filter(transaction=original).values_list("lot_id", "points"))
    lots = {
        lot.pk: lot
        for lot in Lot.objects.select_for_update().filter(pk__in=[lot_id for lot_id, _ in drawn]).order_by("pk")
    }
    Allocation.objects.bulk_create(
        [Allocation(transaction=tx, lot_id=lot_id, points=-points) for lot_id, points in drawn]
    )
    for lot_id, points in drawn:
        lot = lots[lot_id]
        lot.remaining += points
        if lot.expires_at is not None and lot.expires_at <= now:
            lot.refunded_at = now
    Lot.objects.bulk_update(list(lots.values()), ["remaining", "refunded_at"])


def debit(
    *, membership: Membership, type: str, points: int, details: dict, now: datetime, error: type[DomainError]
) -> Transaction:
    """Write a point-removing transaction of −points drawn FIFO; `error` when the balance cannot cover it."""
    if membership.balance < points:
        raise error()
    tx = Transaction.objects.create(membership=membership, type=type, date=now, amount=-points, details=details)
    draw(membership=membership, tx=tx, points=points, now=now, error=error)
    _apply(membership, balance=-points)
    events.transaction_event(membership=membership, type="points.spent", tx=tx)
    return tx


# --- Earning and corrections -------------------------------------------------------------------------


@transaction.atomic
def achievement_report(*, member: Member, type: str) -> Transaction:
    """Award the club's `type` achievement. Checks in order: 404 no rule, 467 banned, 480 not joined,
    422 lifetime limit, 422 calendar frequency limit (club time zone). Counts only non-cancelled
    achievement transactions of that type. Locks the membership (so limits hold under concurrency)."""
    rule = _achievement_rule.first(club_id=member.club_id, type_str=type)
    if rule is None:
        raise AchievementNotFound()
    member_ensure_not_banned(member=member)
    membership = membership_lock(member=member)
    now = timezone.now()
    earned = Transaction.objects.filter(membership=membership, achievement_type=type, cancelled_at__isnull=True)
    refusal = rules.achievement_refusal(
        limit=rule.limit,
        frequency_timespan=rule.frequency_timespan,
        frequency_limit=rule.frequency_limit,
        earned_since=lambda start: (earned if start is None else earned.filter(date__gte=start)).count(),
        now=now,
        tz=member.club.tzinfo,
    )
    if refusal is not None:
        raise refusal()
    return credit(
        membership=membership,
        type=T.ACHIEVEMENT,
        points=rule.points,
        details={"achievement_type": type, "rule_id": rule.pk},
        now=now,
        config=program_config_get(club_id=member.club_id),
        achievement_type=type,
    )


@transaction.atomic
def points_grant(
    *, member: Member, points: int, grant_type: str | None = None, grant_properties: dict | None = None
) -> Transaction:
    """Grant points (a lot). 467 banned, 480 not joined. Locks the membership."""
    member_ensure_not_banned(member=member)
    membership = membership_lock(member=member)
    details: dict = {}
    if grant_type is not None:
        details["grant_type"] = grant_type
    if grant_properties is not None:
        details["grant_properties"] = grant_properties
    return credit(
        membership=membership,
        type=T.GRANT,
        points=points,
        details=details,
        now=timezone.now(),
        config=program_config_get(club_id=member.club_id),
    )


@transaction.atomic
def points_correct(*, member: Member, points: int, comment: str | None = None) -> Transaction:
    """Staff correction of ±points. Positive: a lot. Negative: drawn FIFO, 422 `Not enough points` when the
    spendable balance is smaller. 480 not joined (banned members may be corrected). Locks the membership."""
    membership = membership_lock(member=member)
    details = {"comment": comment} if comment is not None else {}
    now = timezone.now()
    if points > 0:
        config = program_config_get(club_id=member.club_id)
        return credit(membership=membership, type=T.CORRECTION, points=points, details=details, now=now, config=config)
    return debit(
        membership=membership, type=T.CORRECTION, points=-points, details=details, now=now, error=NotEnoughPoints
    )


# --- Cancellation ------------------------------------------------------------------------------------


@transaction.atomic
def transaction_cancel(*, member: Member, transaction_id: int) -> Transaction:
    """Cancel one of the member's transactions (SPEC §6.6); returns the `cancellation`.

    * point-adding (a lot): a cancellation of −amount drawn first from that lot's unspent points, then FIFO;
      405 when the spendable balance is smaller than the amount, and 405 once the lot has expired (its
      points are gone already; taking the amount again would remove them twice);
    * `reward_purchase` / negative correction: a cancellation of +amount refunding the original lots; for a
      purchase 405 once it has been used, else the item goes back to stock and the purchase is void;
    * `cancellation`, `expiration`, or already cancelled: 405.

    Both the original and the cancellation get `cancelled_at` (as in the seed example). Order of answers:
    480 not joined, 404 unknown id (of this member), 405. Locks the membership, the lots, the reward.
    """
    membership = membership_lock(member=member)
    original = (
        Transaction.objects.filter(membership=membership, pk=transaction_id).first()
        if 0 < transaction_id < 2**63
        else None
    )
    if original is None:
        raise TransactionNotFound(transaction_id)
    if original.type in (T.CANCELLATION, T.EXPIRATION) or original.cancelled_at is not None:
        raise TransactionCannotBeCancelled()
    now = timezone.now()
    if original.is_lot:
        lot = Lot.objects.select_for_update().get(transaction=original)
        if original.expired_at is not None or membership.balance < original.amount:
            raise TransactionCannotBeCancelled()
        cancellation = _cancellation(membership=membership, original=original, now=now)
        draw(
            membership=membership,
            tx=cancellation,
            points=original.amount,
            now=now,
            error=TransactionCannotBeCancelled,
            first_lot=lot,
        )
        _apply(membership, balance=-original.amount, lifetime=-original.amount)
    else:
        purchase = RewardPurchase.objects.select_for_update().filter(transaction=original).first()
        if purchase is not None:
            if purchase.uses_count > 0:
                raise TransactionCannotBeCancelled()
            RewardPurchase.objects.filter(pk=purchase.pk).update(cancelled_at=now)
            Reward.objects.filter(pk=purchase.reward_id, purchased_count__gt=0).update(
                purchased_count=F("purchased_count") - 1
            )
        cancellation = _cancellation(membership=membership, original=original, now=now)
        refund(tx=cancellation, original=original, now=now)
        _apply(membership, balance=-original.amount)
    Transaction.objects.filter(pk=original.pk).update(cancelled_at=now)
    original.cancelled_at = now
    events.transaction_event(
        membership=membership,
        type="transaction.cancelled",
        tx=cancellation,
        extra={"cancelled_transaction_id": original.pk},
    )
    return cancellation


def _cancellation(*, membership: Membership, original: Transaction, now: datetime) -> Transaction:
    return Transaction.objects.create(
        membership=membership,
        type=T.CANCELLATION,
        date=now,
        amount=-original.amount,
        details={"cancelled_transaction_id": original.pk},
        cancelled_transaction=original,
        cancelled_at=now,
    )
