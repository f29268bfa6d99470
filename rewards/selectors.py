"""Reads of the rewards program: club-scoped lookups raising their own not-found, the status and summary
pages, and the ledger reconciliation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import BigIntegerField, Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate, TruncMonth

from loyalty.api.formats import format_datetime
from loyalty.api.pagination import pagination_info
from loyalty.exceptions import NotParticipating, ResourceNotFound
from loyalty.models import LoyaltyClub, Member
from rewards.exceptions import RewardNotFound
from rewards.levels import level_for
from rewards.models import Achievement, Allocation, Lot, Membership, Reward, RewardPurchase, Transaction
from rewards.periods import months_back
from rewards.presenters import TRANSACTION_ROW_FIELDS, transaction_row_to_json
from rewards.services.expiration import ExpirationResult, due_lots
from rewards.services.program import program_config_get
from rewards.services.shop import purchases_usage

T = Transaction
LOT_TYPES = Q(type__in=[T.ACHIEVEMENT, T.GRANT]) | Q(type=T.CORRECTION, amount__gt=0)


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


def reward_get_purchasable(*, club: LoyaltyClub, reward_id: int) -> Reward:
    """A published, not archived reward of the club; else 404 (stock and dates are the purchase's 422s)."""
    reward = (
        Reward.objects.filter(club=club, pk=reward_id, status=Reward.PUBLISHED, archived_at__isnull=True).first()
        if _valid_pk(reward_id)
        else None
    )
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


def membership_status(*, club: LoyaltyClub, member: Member, page_no: int, per_page: int, now: datetime) -> dict:
    """SPEC §6.5. Balance and level come from the membership's caches (never a SUM over the ledger); the
    page is one indexed query on (membership, date desc, id desc); five queries whatever the ledger size."""
    membership = Membership.objects.filter(member=member).first()
    if membership is None:
        return {"membership": False}
    config = program_config_get(club=club)
    ledger = Transaction.objects.filter(membership=membership)
    total = ledger.count()
    offset = (page_no - 1) * per_page
    rows = []
    if offset < total:
        rows = list(ledger.order_by("-date", "-id").values(*TRANSACTION_ROW_FIELDS)[offset : offset + per_page])
    expiring = (
        Lot.objects.filter(membership=membership, remaining__gt=0, expires_at__gt=now)
        .annotate(day=TruncDate("expires_at", tzinfo=club.tzinfo))
        .values("day")
        .annotate(points=Sum("remaining"))
        .order_by("day")[:3]
    )
    return {
        "membership": True,
        "membership_started_at": format_datetime(membership.started_at),
        "balance": membership.balance,
        "lifetime_points": membership.lifetime_points,
        "level": level_for(config.levels_program, lifetime_points=membership.lifetime_points),
        "expiring_points": [{"date": row["day"].isoformat(), "points": row["points"]} for row in expiring],
        "transactions": [transaction_row_to_json(row) for row in rows],
        "pagination_info": pagination_info(total_count=total, page_no=page_no, per_page=per_page),
    }


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


def ledger_reconcile(*, club: LoyaltyClub | None = None, membership_ids: list[int] | None = None) -> ReconcileResult:
    """Prove the ledger's invariants, a constant number of set-based queries whatever its size:

    * every membership: cached balance == Σ amount == Σ lot remaining, balance >= 0, cached lifetime ==
      Σ non-cancelled point-adding amounts;
    * every lot: remaining == amount − Σ its allocations (refunds are negative), 0 <= remaining <= amount;
    * every transaction: a lot row iff it adds points; Σ allocations == −amount for every other row
      (debits drew exactly their amount, refunds returned exactly theirs) and 0 for point-adding rows.
    """
    memberships = Membership.objects.all()
    if club is not None:
        memberships = memberships.filter(member__club=club)
    if membership_ids is not None:
        memberships = memberships.filter(pk__in=membership_ids)
    result = ReconcileResult()

    ledger = Transaction.objects.filter(membership=OuterRef("pk"))
    rows = memberships.annotate(
        ledger_balance=_grouped_sum(ledger, "membership", "amount"),
        lots_remaining=_grouped_sum(Lot.objects.filter(membership=OuterRef("pk")), "membership", "remaining"),
        ledger_lifetime=_grouped_sum(ledger.filter(LOT_TYPES, cancelled_at__isnull=True), "membership", "amount"),
    ).values_list(
        "pk", "member_id", "balance", "lifetime_points", "ledger_balance", "lots_remaining", "ledger_lifetime"
    )
    for pk, member_id, balance, lifetime, ledger_balance, lots_remaining, ledger_lifetime in rows.iterator(
        chunk_size=2000
    ):
        result.members_checked += 1
        base = {"member_id": member_id, "membership_id": pk}
        if balance != ledger_balance:
            result.mismatches.append({**base, "check": "balance_cache", "expected": ledger_balance, "actual": balance})
        if balance < 0:
            result.mismatches.append({**base, "check": "negative_balance", "expected": 0, "actual": balance})
        if lots_remaining != ledger_balance:
            result.mismatches.append(
                {**base, "check": "lots_remaining", "expected": ledger_balance, "actual": lots_remaining}
            )
        if lifetime != ledger_lifetime:
            result.mismatches.append(
                {**base, "check": "lifetime_cache", "expected": ledger_lifetime, "actual": lifetime}
            )

    scope = Q(membership__in=memberships.values("pk"))
    allocated = _grouped_sum(Allocation.objects.filter(lot=OuterRef("pk")), "lot", "points")
    for lot_id, member_id, amount, remaining, drawn in (
        Lot.objects.filter(scope)
        .annotate(drawn=allocated)
        .filter(~Q(remaining=F("amount") - F("drawn")) | Q(remaining__lt=0) | Q(remaining__gt=F("amount")))
        .values_list("pk", "membership__member_id", "amount", "remaining", "drawn")
        .iterator()
    ):
        result.mismatches.append(
            {
                "member_id": member_id,
                "lot_id": lot_id,
                "check": "lot_remaining",
                "expected": amount - drawn,
                "actual": remaining,
            }
        )

    tx_allocated = _grouped_sum(Allocation.objects.filter(transaction=OuterRef("pk")), "transaction", "points")
    for tx_id, member_id, tx_type, amount, drawn, is_lot in (
        Transaction.objects.filter(scope)
        .annotate(drawn=tx_allocated, has_lot=Count("lot"))
        .filter((LOT_TYPES & (~Q(drawn=0) | Q(has_lot=0))) | (~LOT_TYPES & (~Q(drawn=-F("amount")) | Q(has_lot__gt=0))))
        .values_list("pk", "membership__member_id", "type", "amount", "drawn", "has_lot")
        .iterator()
    ):
        lot_row = tx_type in (T.ACHIEVEMENT, T.GRANT) or (tx_type == T.CORRECTION and amount > 0)
        result.mismatches.append(
            {
                "member_id": member_id,
                "transaction_id": tx_id,
                "check": "allocations",
                "expected": 0 if lot_row else -amount,
                "actual": drawn,
                "has_lot": bool(is_lot),
            }
        )
    return result


def _grouped_sum(queryset, group: str, column: str):
    """Σ column of `queryset` (correlated with OuterRef) as a subquery, 0 when there are no rows."""
    return Coalesce(
        Subquery(queryset.order_by().values(group).annotate(s=Sum(column)).values("s")[:1]),
        Value(0),
        output_field=BigIntegerField(),
    )
