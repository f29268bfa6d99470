"""Selectors of the member page: points (balance, level, what expires soon), recent ledger rows, offer grants and
uses, groups — each a bounded query, whatever the size of the member's history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, Q, Sum
from django.db.models.functions import TruncDate

from loyalty.models import Member
from offers.models import OfferGrant, OfferUsage
from rewards.levels import level_for, regular_levels
from rewards.models import Lot, Membership, RewardPurchase, Transaction
from rewards.services import program_config_get

RECENT = 12

T = Transaction


@dataclass
class MemberOverview:
    membership: Membership | None
    level: str | None = None
    next_level: dict | None = None  # {"name", "points_needed"}
    expiring: list[dict] = field(default_factory=list)  # {"day", "points"}
    transactions: list[Transaction] = field(default_factory=list)
    transactions_total: int = 0
    purchases_open: int = 0
    grants: list[OfferGrant] = field(default_factory=list)
    grants_total: int = 0
    usages: list[OfferUsage] = field(default_factory=list)
    usages_total: int = 0
    groups: list = field(default_factory=list)


def transaction_cancellable(tx: Transaction) -> bool:
    """What `transaction_cancel` may accept (it still checks balances and uses under its locks)."""
    return tx.type not in (T.CANCELLATION, T.EXPIRATION) and tx.cancelled_at is None and tx.expired_at is None


def member_overview(*, member: Member, now: datetime) -> MemberOverview:
    membership = Membership.objects.filter(member=member).first()
    overview = MemberOverview(membership=membership)
    if membership is not None:
        config = program_config_get(club_id=member.club_id)
        overview.level = level_for(config.levels_program, lifetime_points=membership.lifetime_points)
        above = [
            lvl for lvl in regular_levels(config.levels_program) if lvl["points_threshold"] > membership.lifetime_points
        ]
        if above:
            overview.next_level = {
                "name": above[0]["name"],
                "points_needed": above[0]["points_threshold"] - membership.lifetime_points,
            }
        overview.expiring = [
            {"day": row["day"], "points": row["points"]}
            for row in Lot.objects.filter(membership=membership, remaining__gt=0, expires_at__gt=now)
            .annotate(day=TruncDate("expires_at", tzinfo=member.club.tzinfo))
            .values("day")
            .annotate(points=Sum("remaining"))
            .order_by("day")[:3]
        ]
        ledger = Transaction.objects.filter(membership=membership)
        overview.transactions = list(ledger.annotate(expires_at=F("lot__expires_at")).order_by("-date", "-id")[:RECENT])
        for tx in overview.transactions:
            tx.cancellable = transaction_cancellable(tx)
        overview.transactions_total = ledger.count()
        overview.purchases_open = (
            RewardPurchase.objects.filter(membership=membership, cancelled_at__isnull=True)
            .filter(Q(usable_until__isnull=True) | Q(usable_until__gt=now))
            .count()
        )
    grants = OfferGrant.objects.filter(member=member)
    overview.grants = list(grants.select_related("offer").order_by("-granted_at", "-id")[:RECENT])
    for grant in overview.grants:
        grant.active = grant.usable_until is None or grant.usable_until > now
    overview.grants_total = grants.count()
    usages = OfferUsage.objects.filter(member=member)
    overview.usages = list(usages.select_related("offer").order_by("-used_at", "-id")[:RECENT])
    overview.usages_total = usages.count()
    overview.groups = list(member.groups.order_by("name"))
    return overview
