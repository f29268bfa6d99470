"""Rewards shop (SPEC §7): management, purchase and use."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, ProtectedError, Q
from django.utils import timezone

from kit.errors import InvalidParameters
from loyalty.models import LoyaltyClub, Member
from loyalty.selectors import member_ensure_not_banned
from rewards import events
from rewards.exceptions import (
    AlreadyActive,
    GlobalLimitExceeded,
    MemberLevelTooLow,
    NotEnoughPoints,
    NotGranted,
    NotInUsableTimeframes,
    RewardNotFound,
    UserLimitExceeded,
)
from rewards.levels import level_reached, regular_levels
from rewards.models import Reward, RewardPurchase, Transaction
from rewards.presenters import usage_to_json
from rewards.services.ledger import debit, membership_lock
from rewards.services.program import program_config_get

# --- Management --------------------------------------------------------------------------------------


def reward_level_check(*, club_id: int, required_member_level: str | None) -> None:
    """A reward's required level must be a level of the club's regular program: 422 on
    `reward.required_member_level` otherwise (no level, or none required, is always fine). Reads only."""
    if not required_member_level:
        return
    names = [level["name"] for level in regular_levels(program_config_get(club_id=club_id).levels_program)]
    if required_member_level not in names:
        leaf = {
            "value": required_member_level,
            "error": "inclusion",
            "options": {"in": names},
            "message": "must be one of: " + ", ".join(names),
        }
        raise InvalidParameters({"reward": {"required_member_level": [leaf]}})


@transaction.atomic
def reward_create(*, club: LoyaltyClub, **fields) -> Reward:
    """A new reward (a new row, locks nothing); its required level must exist (`reward_level_check`)."""
    reward_level_check(club_id=club.pk, required_member_level=fields.get("required_member_level"))
    return Reward.objects.create(club=club, **fields)


@transaction.atomic
def reward_update(*, reward: Reward, **fields) -> Reward:
    """Partial update. Lowering `stock` below what was sold simply leaves none (remaining_stock 0).
    A new required level must exist (`reward_level_check`)."""
    if "required_member_level" in fields:
        reward_level_check(club_id=reward.club_id, required_member_level=fields["required_member_level"])
    for key, value in fields.items():
        setattr(reward, key, value)
    reward.save(update_fields=[*fields, "updated_at"])
    return reward


@transaction.atomic
def reward_delete(*, reward: Reward) -> None:
    """Delete a reward nobody bought; a reward with purchases is archived instead, so members' purchases
    (and the ledger's reward_purchase rows that name it) stay intact."""
    if reward.purchases.exists():
        if reward.archived_at is None:
            reward.archived_at = timezone.now()
            reward.save(update_fields=["archived_at", "updated_at"])
        return
    try:
        with transaction.atomic():
            reward.delete()
    except ProtectedError:  # bought by a concurrent request since the check above: archive it instead
        reward.archived_at = timezone.now()
        reward.save(update_fields=["archived_at", "updated_at"])


# --- Purchase and use --------------------------------------------------------------------------------


@transaction.atomic
def reward_purchase(*, member: Member, reward: Reward) -> RewardPurchase:
    """Buy `reward` (already found published and not archived: 404 is the caller's). Checks in order:
    467 banned, 480 not joined, 422 level, 422 `Global limit exceeded` (no stock left or `available_until`
    passed), 422 `Not enough points`. One transaction: the stock is claimed with a conditional UPDATE
    (never oversold), the points drawn FIFO under the membership lock (never below zero).
    Locks: membership, then the reward row (the UPDATE), then lots."""
    member_ensure_not_banned(member=member)
    membership = membership_lock(member=member)
    if reward.required_member_level:
        config = program_config_get(club_id=member.club_id)
        if not level_reached(
            config.levels_program, required=reward.required_member_level, lifetime_points=membership.lifetime_points
        ):
            raise MemberLevelTooLow()
    now = timezone.now()
    if reward.available_until is not None and reward.available_until <= now:
        raise GlobalLimitExceeded()
    claimed = (
        Reward.objects.filter(pk=reward.pk)
        .filter(Q(stock__isnull=True) | Q(purchased_count__lt=F("stock")))
        .update(purchased_count=F("purchased_count") + 1)
    )
    if not claimed:
        # No row claimed: out of stock, or deleted by a concurrent request since the caller found it.
        if not Reward.objects.filter(pk=reward.pk).exists():
            raise RewardNotFound(reward.pk)
        raise GlobalLimitExceeded()
    tx = debit(
        membership=membership,
        type=Transaction.REWARD_PURCHASE,
        points=reward.price,
        details={"reward_name": reward.name, "reward_id": reward.pk},
        now=now,
        error=NotEnoughPoints,
    )
    purchase = RewardPurchase.objects.create(
        membership=membership,
        reward=reward,
        transaction=tx,
        purchased_at=now,
        usable_until=now + timedelta(seconds=reward.usable_for_seconds) if reward.usable_for_seconds else None,
        uses_left=reward.uses_per_purchase,
    )
    events.emit(
        club_id=member.club_id,
        member_id=member.pk,
        type="reward.purchased",
        data={"reward_id": reward.pk, "purchase_id": purchase.pk, "transaction_id": tx.pk, "price": reward.price},
        endpoints=membership.webhook_endpoints,
    )
    return purchase


def purchases_usage(purchases: list[RewardPurchase], *, now: datetime, activation_seconds: int) -> dict:
    """RewardUsage of one reward over the member's non-cancelled purchases (their uses add up):
    `left` uses of purchases still in their timeframe (null = unlimited), `active_until` last use +
    activation time, `usable_until` of the purchases that can still be used, `usable` whether any can."""
    live = [p for p in purchases if p.usable_until is None or p.usable_until > now]
    usable = [p for p in live if p.uses_left is None or p.uses_left > 0]
    left = None if any(p.uses_left is None for p in live) else sum(p.uses_left for p in live)
    last_used = max((p.last_used_at for p in purchases if p.last_used_at), default=None)
    window = usable or purchases
    usable_until = None if any(p.usable_until is None for p in window) else max(p.usable_until for p in window)
    return {
        "left": left,
        "active_until": last_used + timedelta(seconds=activation_seconds) if last_used else None,
        "usable_until": usable_until,
        "usable": bool(usable),
    }


@transaction.atomic
def reward_use(*, member: Member, reward: Reward) -> dict:
    """Use a purchased reward; returns its RewardUsage JSON after the use. Checks in order: 467, 480,
    422 `Not granted` (no purchase), `Not in usable timeframes` (all purchases expired), `Already active`
    (within `reward_activation_time` of the last use), `User limit exceeded` (no uses left). Uses the
    purchase that runs out first. Locks the membership, then the purchases."""
    member_ensure_not_banned(member=member)
    membership = membership_lock(member=member)
    purchases = list(
        RewardPurchase.objects.select_for_update()
        .filter(membership=membership, reward=reward, cancelled_at__isnull=True)
        .order_by("id")
    )
    if not purchases:
        raise NotGranted()
    now = timezone.now()
    live = [p for p in purchases if p.usable_until is None or p.usable_until > now]
    if not live:
        raise NotInUsableTimeframes()
    activation = program_config_get(club_id=member.club_id).reward_activation_time
    last_used = max((p.last_used_at for p in purchases if p.last_used_at), default=None)
    if last_used is not None and now < last_used + timedelta(seconds=activation):
        raise AlreadyActive()
    candidates = [p for p in live if p.uses_left is None or p.uses_left > 0]
    if not candidates:
        raise UserLimitExceeded()
    chosen = min(candidates, key=lambda p: (p.usable_until is None, p.usable_until or now, p.pk))
    if chosen.uses_left is not None:
        chosen.uses_left -= 1
    chosen.uses_count += 1
    chosen.last_used_at = now
    chosen.save(update_fields=["uses_left", "uses_count", "last_used_at"])
    usage = usage_to_json(purchases_usage(purchases, now=now, activation_seconds=activation))
    events.emit(
        club_id=member.club_id,
        member_id=member.pk,
        type="reward.used",
        data={"reward_id": reward.pk, "purchase_id": chosen.pk, "usage": usage},
        endpoints=membership.webhook_endpoints,
    )
    return usage
