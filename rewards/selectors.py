"""Reads of the rewards program: club-scoped lookups raising their own not-found, the status and summary
pages, and the ledger reconciliation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate, TruncMonth

from kit.errors import NotParticipating, ResourceNotFound
from kit.formats import format_datetime
from kit.pagination import pagination_info
from kit.periods import months_back
from kit.prepared import PreparedLookup
from loyalty.models import LoyaltyClub, Member
from rewards.exceptions import RewardNotFound
from rewards.levels import level_for
from rewards.models import Achievement, Allocation, Lot, Membership, Reward, RewardPurchase, Transaction
from rewards.presenters import TRANSACTION_ROW_FIELDS, transaction_row_to_json
from rewards.services.expiration import ExpirationResult, due_lots
from rewards.services.program import program_config_get
from rewards.services.shop import purchases_usage

T = Transaction


def _valid_pk(value: int) -> bool:
    return 0 < value < 2**63


def membership_get(*, member: Member) -> Membership:
    """The member's membership (no lock); 480 when not joined."""
    membership = Membership.objects.filter(member=member).first()
    if membership is None:
        raise NotParticipating()
    return membership


def achievement_get(*, club: LoyaltyClub, achievement_id: int) -> Achievement:
    rule = Achievement.objects.filter(club=club, pk=achievement_id).first() if _valid_pk(achievement_id) else None
    if rule is None:
        raise ResourceNotFound("Achievement", achievement_id)
    return rule


def achievements_list(*, club: LoyaltyClub) -> list[Achievement]:
    return list(Achievement.objects.filter(club=club).order_by("id"))


def reward_get(*, club: LoyaltyClub, reward_id: int) -> Reward:
    """Any reward of the club (management, and use of a reward bought before it was archived)."""
    reward = Reward.objects.filter(club=club, pk=reward_id).first() if _valid_pk(reward_id) else None
    if reward is None:
        raise RewardNotFound(reward_id)
    return reward


_purchasable_reward = PreparedLookup(
    lambda p: Reward.objects.filter(club_id=p.club_id, pk=p.pk, status=Reward.PUBLISHED, archived_at__isnull=True)
)


def reward_get_purchasable(*, club: LoyaltyClub, reward_id: int) -> Reward:
    """A published, not archived reward of the club; else 404 (stock and dates are the purchase's 422s)."""
    reward = _purchasable_reward.first(club_id=club.pk, pk=reward_id) if _valid_pk(reward_id) else None
    if reward is None:
        raise RewardNotFound(reward_id)
    return reward


def rewards_available(*, club: LoyaltyClub, now: datetime) -> list[Reward]:
    """Published, not archived, `available_until` not passed, stock left — whatever the member's level."""
    return list(
        Reward.objects.filter(club=club, status=Reward.PUBLISHED, archived_at__isnull=True)
        .filter(Q(available_until__isnull=True) | Q(available_until__gt=now))
        .filter(Q(stock__isnull=True) | Q(purchased_count__lt=F("stock")))
        .order_by("id")
    )


def rewards_purchased(*, membership: Membership, now: datetime) -> list[tuple[Reward, dict]]:
    """One entry per reward with non-cancelled purchases, with the usage of all of them, oldest first."""
    purchases: dict[int, list[RewardPurchase]] = defaultdict(list)
    rewards: dict[int, Reward] = {}
    for purchase in (
        RewardPurchase.objects.filter(membership=membership, cancelled_at__isnull=True)
        .select_related("reward")
        .order_by("id")
    ):
        purchases[purchase.reward_id].append(purchase)
        rewards.setdefault(purchase.reward_id, purchase.reward)
    if not rewards:
        return []
    activation = program_config_get(club_id=membership.member.club_id).reward_activation_time
    return [
        (reward, purchases_usage(purchases[reward_id], now=now, activation_seconds=activation))
        for reward_id, reward in rewards.items()
    ]


# --- Status and summary ------------------------------------------------------------------------------


_membership_of_member = PreparedLookup(lambda p: Membership.objects.filter(member_id=p.member_id))
_ledger_page = PreparedLookup(
    lambda p: (
        Transaction.objects.filter(membership_id=p.membership_id)
        .order_by("-date", "-id")
        .values_list(*TRANSACTION_ROW_FIELDS)
    ),
    paged=True,
)


def membership_status(*, club: LoyaltyClub, member: Member, page_no: int, per_page: int, now: datetime) -> dict:
    """SPEC §6.5. Balance and level come from the membership's caches (never a SUM over the ledger); the
    page is one indexed query on (membership, date desc, id desc), the total is the membership's
    `transactions_count`, the expiring points read only the lots of their days: four queries whatever the
    ledger size."""
    membership = _membership_of_member.first(member_id=member.pk)
    if membership is None:
        return {"membership": False}
    config = program_config_get(club=club)
    # Kept by a trigger on PostgreSQL: no COUNT over a long ledger (SQLite, for development, counts).
    if connection.vendor == "postgresql":
        total = membership.transactions_count
    else:
        total = Transaction.objects.filter(membership=membership).count()
    offset = (page_no - 1) * per_page
    rows = []
    if offset < total:
        found = _ledger_page.rows(membership_id=membership.pk, limit=per_page, offset=offset)
        rows = [dict(zip(TRANSACTION_ROW_FIELDS, row, strict=True)) for row in found]
    expiring = _expiring_points(membership=membership, tz=club.tzinfo, now=now)
    return {
        "membership": True,
        "membership_started_at": format_datetime(membership.started_at),
        "balance": membership.balance,
        "lifetime_points": membership.lifetime_points,
        "level": level_for(config.levels_program, lifetime_points=membership.lifetime_points),
        "expiring_points": expiring,
        "transactions": [transaction_row_to_json(row) for row in rows],
        "pagination_info": pagination_info(total_count=total, page_no=page_no, per_page=per_page),
    }


EXPIRING_DAYS = 3

# The end of each of the soonest days with open lots, found by a loose index scan (one probe of the partial
# index on (membership, expires_at) WHERE remaining > 0 per day), then the sums of the lots before the last
# end: the work follows the lots of those days, not the member's whole ledger. Days are the club's
# (`AT TIME ZONE` to local time, midnight, + 1 day, back to UTC: right across DST changes).
_EXPIRING_SQL = """
WITH RECURSIVE days(n, day_end) AS (
    SELECT 1, (date_trunc('day', (
        SELECT min(expires_at) FROM {lot} WHERE membership_id = %(membership)s AND remaining > 0
        AND expires_at > %(now)s) AT TIME ZONE %(tz)s) + interval '1 day') AT TIME ZONE %(tz)s
  UNION ALL
    SELECT n + 1, (date_trunc('day', (
        SELECT min(expires_at) FROM {lot} WHERE membership_id = %(membership)s AND remaining > 0
        AND expires_at >= days.day_end) AT TIME ZONE %(tz)s) + interval '1 day') AT TIME ZONE %(tz)s
    FROM days WHERE n < %(days)s AND day_end IS NOT NULL
)
SELECT (expires_at AT TIME ZONE %(tz)s)::date AS day, sum(remaining) FROM {lot}
WHERE membership_id = %(membership)s AND remaining > 0 AND expires_at > %(now)s
  AND expires_at < (SELECT max(day_end) FROM days)
GROUP BY 1 ORDER BY 1 LIMIT %(days)s
"""


def _expiring_points(*, membership: Membership, tz, now: datetime) -> list[dict]:
    """Unspent points of the three soonest calendar days (club time zone) with points expiring after now.
    On PostgreSQL a loose index scan bounds the work to those days' lots (a member may hold tens of
    thousands of open lots); elsewhere (SQLite, development) a plain GROUP BY."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _EXPIRING_SQL.format(lot=Lot._meta.db_table),
                {"membership": membership.pk, "now": now, "tz": str(tz), "days": EXPIRING_DAYS},
            )
            rows = cursor.fetchall()
    else:
        rows = (
            Lot.objects.filter(membership=membership, remaining__gt=0, expires_at__gt=now)
            .annotate(day=TruncDate("expires_at", tzinfo=tz))
            .values_list("day")
            .annotate(points=Sum("remaining"))
            .order_by("day")[:EXPIRING_DAYS]
        )
    return [{"date": day.isoformat(), "points": points} for day, points in rows]


def achievements_summary(*, club: LoyaltyClub, membership: Membership, months_no: int, now: datetime) -> dict:
    """SPEC §6.7: the last `months_no` calendar months (club time zone) including the current one, newest
    first, zeros included; only non-cancelled achievement transactions count. Types are those achieved in the
    window, by name."""
    tz = club.tzinfo
    months = months_back(now=now, tz=tz, count=months_no)
    if not months:
        return {"achievements_by_type": [], "achievements_by_month": []}
    oldest_year, oldest_month = months[-1]
    start = datetime(oldest_year, oldest_month, 1, tzinfo=tz)
    window = Transaction.objects.filter(
        membership=membership, type=T.ACHIEVEMENT, cancelled_at__isnull=True, date__gte=start, date__lte=now
    )
    by_type = (
        window.values("achievement_type").annotate(times=Count("id"), total=Sum("amount")).order_by("achievement_type")
    )
    per_month = {}
    for row in (
        window.annotate(month=TruncMonth("date", tzinfo=tz))
        .values("month")
        .annotate(times=Count("id"), total=Sum("amount"))
        .order_by()
    ):
        local = row["month"].astimezone(tz) if row["month"].tzinfo else row["month"]
        per_month[(local.year, local.month)] = row
    return {
        "achievements_by_type": [
            {"type": row["achievement_type"], "times_achieved": row["times"], "total_amount_earned": row["total"]}
            for row in by_type
        ],
        "achievements_by_month": [
            {
                "year": year,
                "month": month,
                "achievements_made": per_month.get((year, month), {}).get("times", 0),
                "total_amount_earned": per_month.get((year, month), {}).get("total", 0),
            }
            for year, month in months
        ],
    }


# --- Expiration preview and reconciliation -----------------------------------------------------------


def points_due_totals(*, as_of: datetime, club: LoyaltyClub | None = None) -> ExpirationResult:
    """What `points_expire_due(as_of=…)` would expire now (the `--dry-run`): one aggregate query."""
    totals = due_lots(as_of=as_of, club=club).aggregate(lots=Count("id"), points=Coalesce(Sum("remaining"), 0))
    return ExpirationResult(lots=totals["lots"], points=totals["points"])


@dataclass
class ReconcileResult:
    members_checked: int = 0
    mismatches: list[dict] = field(default_factory=list)


RECONCILE_CHUNK = 1000

# Point-adding rows (lots). The SQL below repeats this test on the transaction alias `t`.
_LOT_TYPES_SQL = "(t.type IN ('achievement', 'grant') OR (t.type = 'correction' AND t.amount > 0))"


def ledger_reconcile(*, club: LoyaltyClub | None = None, membership_ids: list[int] | None = None) -> ReconcileResult:
    """Prove the ledger's invariants for every membership (of `club`, or these ids):

    * cached balance == Σ amount == Σ lot remaining, balance >= 0, cached lifetime == Σ non-cancelled
      point-adding amounts, transactions_count == the number of ledger rows (PostgreSQL keeps it);
    * every lot: remaining == amount − Σ its allocations (refunds are negative), 0 <= remaining <= amount;
    * every transaction: a lot row iff it adds points; Σ allocations == −amount for every other row (debits
      drew exactly their amount, refunds returned exactly theirs) and none for point-adding rows.

    Memberships are taken in keyset chunks of ids; each chunk is three index-backed queries whose results hold
    only that chunk and the mismatches, so memory stays flat however big the ledger is. Plain SQL, because the
    check runs over every row and must stay cheap to build as well as to run.
    """
    result = ReconcileResult()
    after = 0
    while True:
        queryset = Membership.objects.filter(pk__gt=after).order_by("pk")
        if club is not None:
            queryset = queryset.filter(member__club=club)
        if membership_ids is not None:
            queryset = queryset.filter(pk__in=membership_ids)
        chunk = list(queryset.values_list("pk", flat=True)[:RECONCILE_CHUNK])
        if not chunk:
            return result
        after = chunk[-1]
        result.members_checked += len(chunk)
        result.mismatches += _reconcile_chunk(chunk)


def _reconcile_chunk(ids: list[int]) -> list[dict]:
    tables = {
        "membership": Membership._meta.db_table,
        "tx": Transaction._meta.db_table,
        "lot": Lot._meta.db_table,
        "allocation": Allocation._meta.db_table,
    }
    quoted = {k: connection.ops.quote_name(v) for k, v in tables.items()}
    marks = ", ".join(["%s"] * len(ids))
    mismatches: list[dict] = []
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT m.id, m.member_id, m.balance, m.lifetime_points, m.transactions_count,
                (SELECT COUNT(*) FROM {quoted["tx"]} t WHERE t.membership_id = m.id),
                COALESCE((SELECT SUM(t.amount) FROM {quoted["tx"]} t WHERE t.membership_id = m.id), 0),
                COALESCE((SELECT SUM(t.amount) FROM {quoted["tx"]} t
                          WHERE t.membership_id = m.id AND t.cancelled_at IS NULL AND {_LOT_TYPES_SQL}), 0),
                COALESCE((SELECT SUM(l.remaining) FROM {quoted["lot"]} l WHERE l.membership_id = m.id), 0)
            FROM {quoted["membership"]} m WHERE m.id IN ({marks}) ORDER BY m.id
            """,
            ids,
        )
        members = {}
        for row in cursor.fetchall():
            pk, member_id, balance, lifetime, count, ledger_count, ledger_balance, ledger_lifetime, lots_remaining = row
            members[pk] = member_id
            base = {"member_id": member_id, "membership_id": pk}
            checks = (
                # kept on PostgreSQL only (migration 0005)
                ("transactions_count", ledger_count, count if connection.vendor == "postgresql" else ledger_count),
                ("balance_cache", ledger_balance, balance),
                ("negative_balance", max(balance, 0), balance),
                ("lots_remaining", ledger_balance, lots_remaining),
                ("lifetime_cache", ledger_lifetime, lifetime),
            )
            for check, expected, actual in checks:
                if expected != actual:
                    mismatches.append({**base, "check": check, "expected": expected, "actual": actual})

        cursor.execute(
            f"""
            SELECT id, membership_id, amount, remaining, drawn FROM (
                SELECT l.id, l.membership_id, l.amount, l.remaining,
                    COALESCE((SELECT SUM(a.points) FROM {quoted["allocation"]} a WHERE a.lot_id = l.id), 0) AS drawn
                FROM {quoted["lot"]} l WHERE l.membership_id IN ({marks})
            ) x WHERE remaining <> amount - drawn OR remaining < 0 OR remaining > amount ORDER BY id
            """,
            ids,
        )
        for lot_id, membership_id, amount, remaining, drawn in cursor.fetchall():
            mismatches.append(
                {
                    "member_id": members[membership_id],
                    "lot_id": lot_id,
                    "check": "lot_remaining",
                    "expected": amount - drawn,
                    "actual": remaining,
                }
            )

        cursor.execute(
            f"""
            SELECT id, membership_id, amount, is_lot, has_lot, drawn FROM (
                SELECT t.id, t.membership_id, t.amount,
                    CASE WHEN {_LOT_TYPES_SQL} THEN 1 ELSE 0 END AS is_lot,
                    (SELECT COUNT(*) FROM {quoted["lot"]} l WHERE l.transaction_id = t.id) AS has_lot,
                    COALESCE((SELECT SUM(a.points) FROM {quoted["allocation"]} a WHERE a.transaction_id = t.id), 0)
                        AS drawn
                FROM {quoted["tx"]} t WHERE t.membership_id IN ({marks})
            ) x
            WHERE (is_lot = 1 AND (has_lot <> 1 OR drawn <> 0)) OR (is_lot = 0 AND (has_lot <> 0 OR drawn <> -amount))
            ORDER BY id
            """,
            ids,
        )
        for tx_id, membership_id, amount, is_lot, has_lot, drawn in cursor.fetchall():
            mismatches.append(
                {
                    "member_id": members[membership_id],
                    "transaction_id": tx_id,
                    "check": "allocations",
                    "expected": 0 if is_lot else -amount,
                    "actual": drawn,
                    "has_lot": bool(has_lot),
                }
            )
    return mismatches
