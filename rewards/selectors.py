"""Reads of the rewards program: club-scoped lookups raising their own not-found, the status and summary
pages, and the ledger reconciliation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth

from kit.db.arrays import IsAnyOf
from kit.errors import NotParticipating, ResourceNotFound
from kit.formats import format_datetime
from kit.pagination import pagination_info
from kit.periods import months_back
from kit.prepared import PreparedLookup
from loyalty.models import LoyaltyClub, Member
from rewards import sql
from rewards.exceptions import RewardNotFound
from rewards.levels import level_for
from rewards.models import Achievement, Membership, Reward, RewardPurchase, Transaction
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
    ledger size. A page deep in the history skips its offset along the index alone (`_ledger_rows`).
    On PostgreSQL the first page reads all four in one statement (`_membership_status_first_page`)."""
    if page_no == 1 and sql.status_in_one_statement():
        return _membership_status_first_page(club=club, member=member, per_page=per_page, now=now)
    return _membership_status(club=club, member=member, page_no=page_no, per_page=per_page, now=now)


def _membership_status(*, club: LoyaltyClub, member: Member, page_no: int, per_page: int, now: datetime) -> dict:
    membership = _membership_of_member.first(member_id=member.pk)
    if membership is None:
        return {"membership": False}
    config = program_config_get(club=club)
    total = sql.membership_transactions_total(membership=membership)
    offset = (page_no - 1) * per_page
    rows = []
    if offset < total:
        found = _ledger_rows(membership_id=membership.pk, limit=per_page, offset=offset)
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


def _membership_status_first_page(*, club: LoyaltyClub, member: Member, per_page: int, now: datetime) -> dict:
    """`membership_status` of page 1 from `sql.membership_status_first_page`: the same reads in one
    statement, the same answer (tests/rewards/test_status_pages.py holds the two paths equal)."""
    found = sql.membership_status_first_page(
        member_id=member.pk, club_id=club.pk, tz=club.tzinfo, now=now, limit=per_page, days=EXPIRING_DAYS
    )
    if found is None:
        return {"membership": False}
    levels_program = found.levels_program if found.config_found else program_config_get(club=club).levels_program
    total = found.transactions_count
    rows = found.rows if total > 0 else []
    return {
        "membership": True,
        "membership_started_at": format_datetime(found.started_at),
        "balance": found.balance,
        "lifetime_points": found.lifetime_points,
        "level": level_for(levels_program, lifetime_points=found.lifetime_points),
        "expiring_points": [{"date": day, "points": points} for day, points in found.expiring],
        "transactions": [transaction_row_to_json(dict(zip(TRANSACTION_ROW_FIELDS, row, strict=True))) for row in rows],
        "pagination_info": pagination_info(total_count=total, page_no=1, per_page=per_page),
    }


def _ledger_rows(*, membership_id: int, limit: int, offset: int) -> list:
    """One page of the ledger, newest first (date desc, id desc). The first page reads its rows straight
    along the (membership, date desc, id desc) index. A later page would make the database build every
    skipped row too — the row and its lot, 500 000 of each on page 501 of a million — so it first skips
    along that index alone (an index-only scan: ids and dates are in it), then reads the page's rows and
    lots: 1.4 s → 0.1 s at offset 499 000. The order is the same one index, so the answers are."""
    if offset == 0:
        return _ledger_page.rows(membership_id=membership_id, limit=limit, offset=0)
    ledger = Transaction.objects.filter(membership_id=membership_id).order_by("-date", "-id")
    page_ids = ledger.values("id")[offset : offset + limit]
    if sql.deep_page_skip_as_array():
        # `id = ANY(ARRAY(…))`: the skip runs once (an InitPlan) and its ids then select the page's rows. With
        # `id IN (…)` the planner may instead rescan the skip for every row of the member's ledger: a
        # 100 000-row ledger's page 50 then ran for minutes on a database without statistics.
        return list(ledger.filter(IsAnyOf(F("pk"), ArraySubquery(page_ids))).values_list(*TRANSACTION_ROW_FIELDS))
    return list(ledger.filter(pk__in=page_ids).values_list(*TRANSACTION_ROW_FIELDS))


EXPIRING_DAYS = 3


def _expiring_points(*, membership: Membership, tz, now: datetime) -> list[dict]:
    """Unspent points of the three soonest calendar days (club time zone) with points expiring after now."""
    rows = sql.lots_expiring_by_day(membership=membership, tz=tz, now=now, days=EXPIRING_DAYS)
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
    mismatches: list[dict] = []
    members = {}
    for row in sql.reconcile_memberships(ids):
        pk, member_id, balance, lifetime, count, ledger_count, ledger_balance, ledger_lifetime, lots_remaining = row
        members[pk] = member_id
        base = {"member_id": member_id, "membership_id": pk}
        checks = (
            ("transactions_count", ledger_count, count if sql.transactions_count_kept() else ledger_count),
            ("balance_cache", ledger_balance, balance),
            ("negative_balance", max(balance, 0), balance),
            ("lots_remaining", ledger_balance, lots_remaining),
            ("lifetime_cache", ledger_lifetime, lifetime),
        )
        for check, expected, actual in checks:
            if expected != actual:
                mismatches.append({**base, "check": check, "expected": expected, "actual": actual})
    for lot_id, membership_id, amount, remaining, drawn in sql.reconcile_lots(ids):
        mismatches.append(
            {
                "member_id": members[membership_id],
                "lot_id": lot_id,
                "check": "lot_remaining",
                "expected": amount - drawn,
                "actual": remaining,
            }
        )
    for tx_id, membership_id, amount, is_lot, has_lot, drawn in sql.reconcile_transactions(ids):
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
