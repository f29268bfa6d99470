"""Rewards program: configuration, achievement rules, the points ledger and the rewards shop.

The ledger (SPEC §6.6) is append-only. `Transaction` rows are immutable facts (only the `expired_at` /
`cancelled_at` markers are ever set, once — a database trigger refuses anything else). Every point-adding
transaction owns a `Lot` holding the mutable `remaining`; every point-removing transaction records the lots it
drew from as `Allocation` rows (refunds are negative allocations). The database enforces:

* balance >= 0 on the membership (cached Σ amount), 0 <= remaining <= amount on every lot;
* a lot expires at most once per time it holds points after its expiry: UNIQUE (expired_lot, expiry_round);
* a transaction is cancelled at most once: the cancellation's `cancelled_transaction` is a one-to-one;
* a debit draws from a lot at most once: UNIQUE (transaction, lot) on allocations.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone as dj_timezone

from loyalty.models import LoyaltyClub, Member

MAX_POINTS = 1_000_000_000  # one transaction; keeps every amount well inside a 32-bit integer


def _empty_list():
    return []


def _empty_dict():
    return {}


class ProgramConfig(models.Model):
    """One per club, created lazily with these defaults the first time the rewards app needs it."""

    club = models.OneToOneField(LoyaltyClub, on_delete=models.CASCADE, related_name="rewards_program")
    points_validity_days = models.PositiveIntegerField(
        null=True, blank=True, default=365, help_text="Days a lot of points stays spendable; empty = never expire"
    )
    reward_activation_time = models.PositiveIntegerField(
        default=30, help_text="Seconds a used reward stays active (a second use inside it is refused)"
    )
    levels_program = models.JSONField(
        null=True,
        blank=True,
        default=None,
        help_text='{"type": "regular", "levels": [{"name", "points_threshold"}]} or '
        '{"type": "virtual_level", "maximum_points": int}',
    )
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "rewards program configuration"
        constraints = [
            models.CheckConstraint(
                condition=Q(points_validity_days__isnull=True) | Q(points_validity_days__gte=1),
                name="rewards_config_validity_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Rewards program of {self.club}"


class Achievement(models.Model):
    """An achievement rule: reporting `type` earns `points`, at most `limit` times ever and at most
    `frequency_limit` times per calendar `frequency_timespan` (in the club's time zone)."""

    TYPES = (
        "app_opened",
        "coupon_used",
        "link_clicked",
        "email_opened",
        "push_opened",
        "wifi_approached",
        "geofence_approached",
        "beacon_approached",
        "consent_granted",
    )
    TIMESPANS = ("hour", "day", "week", "month", "year")

    club = models.ForeignKey(LoyaltyClub, on_delete=models.CASCADE, related_name="achievements")
    type = models.CharField(max_length=40, choices=[(t, t) for t in TYPES])
    name = models.CharField(max_length=200)
    points = models.PositiveIntegerField()
    limit = models.PositiveIntegerField(null=True, blank=True, help_text="Lifetime cap per member; empty = none")
    frequency_timespan = models.CharField(max_length=10, null=True, blank=True, choices=[(t, t) for t in TIMESPANS])
    frequency_limit = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["club", "type"], name="rewards_achievement_type_unique_per_club"),
            models.CheckConstraint(
                condition=Q(points__gt=0) & Q(points__lte=MAX_POINTS), name="rewards_achievement_points_positive"
            ),
            models.CheckConstraint(
                condition=Q(limit__isnull=True) | Q(limit__gte=1), name="rewards_achievement_limit_positive"
            ),
            models.CheckConstraint(
                condition=Q(frequency_timespan__isnull=True, frequency_limit__isnull=True)
                | Q(frequency_timespan__isnull=False, frequency_limit__gte=1),
                name="rewards_achievement_frequency_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


class Membership(models.Model):
    """A member's participation. `balance` caches Σ amount of the ledger and `lifetime_points` caches
    Σ of the non-cancelled point-adding amounts; both change only in ledger services, in the same database
    transaction as the ledger rows, under `select_for_update()` on this row."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="rewards_membership")
    started_at = models.DateTimeField(default=dj_timezone.now)
    balance = models.BigIntegerField(default=0)
    lifetime_points = models.BigIntegerField(default=0)
    # The number of ledger rows, for the status page's pagination (a COUNT over 100 000 rows costs 5-10 ms).
    # Kept on PostgreSQL by a trigger on every INSERT into the ledger (migration 0004), whatever the code
    # path; the database default lets bulk loads that name their columns (seed_demo) leave it out. SQLite
    # (development) does not keep it (see migration 0005): readers count the ledger there.
    transactions_count = models.PositiveIntegerField(default=0, db_default=0, editable=False)

    # Not a column: the club's active webhook endpoints as `(id, events)` pairs, when the statement that locked
    # this row read them too (`rewards.services.ledger.membership_lock` on PostgreSQL); None when nothing read
    # them, and the events then read them themselves (`rewards.events.emit`).
    webhook_endpoints: list | None = None

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="rewards_membership_balance_not_negative"),
            models.CheckConstraint(
                condition=Q(lifetime_points__gte=0), name="rewards_membership_lifetime_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Membership of member #{self.member_id}"


class Transaction(models.Model):
    """An immutable ledger fact. Rendered as SPEC §6.5's Transaction."""

    ACHIEVEMENT = "achievement"
    GRANT = "grant"
    CORRECTION = "correction"
    REWARD_PURCHASE = "reward_purchase"
    EXPIRATION = "expiration"
    CANCELLATION = "cancellation"
    TYPES = (ACHIEVEMENT, GRANT, CORRECTION, REWARD_PURCHASE, EXPIRATION, CANCELLATION)

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="transactions")
    type = models.CharField(max_length=20, choices=[(t, t) for t in TYPES])
    date = models.DateTimeField()
    amount = models.IntegerField()
    details = models.JSONField(default=_empty_dict, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # Kept as a column (also in `details`) so limits, frequencies and the summary are index lookups.
    achievement_type = models.CharField(max_length=40, null=True, blank=True)
    cancelled_transaction = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="cancellation"
    )
    expired_lot = models.ForeignKey("Lot", null=True, blank=True, on_delete=models.CASCADE, related_name="expirations")
    expiry_round = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=-MAX_POINTS) & Q(amount__lte=MAX_POINTS) & ~Q(amount=0),
                name="rewards_transaction_amount_nonzero",
            ),
            models.CheckConstraint(
                condition=~Q(type__in=["achievement", "grant"]) | Q(amount__gt=0),
                name="rewards_transaction_earning_positive",
            ),
            models.CheckConstraint(
                condition=~Q(type__in=["reward_purchase", "expiration"]) | Q(amount__lt=0),
                name="rewards_transaction_spending_negative",
            ),
            models.CheckConstraint(
                condition=Q(type="expiration", expired_lot__isnull=False, expiry_round__isnull=False)
                | (~Q(type="expiration") & Q(expired_lot__isnull=True, expiry_round__isnull=True)),
                name="rewards_transaction_expiration_has_lot",
            ),
            models.CheckConstraint(
                condition=Q(type="cancellation", cancelled_transaction__isnull=False)
                | (~Q(type="cancellation") & Q(cancelled_transaction__isnull=True)),
                name="rewards_transaction_cancellation_has_target",
            ),
            # The final guard against double expiration, whatever the locks did.
            models.UniqueConstraint(fields=["expired_lot", "expiry_round"], name="rewards_lot_expires_once_per_round"),
        ]
        indexes = [
            models.Index(fields=["membership", "-date", "-id"], name="rewards_tx_member_date"),
            models.Index(
                fields=["membership", "achievement_type", "date"],
                condition=Q(achievement_type__isnull=False),
                name="rewards_tx_member_achievement",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.amount:+d} (#{self.pk})"

    @property
    def is_lot(self) -> bool:
        return self.type in (self.ACHIEVEMENT, self.GRANT) or (self.type == self.CORRECTION and self.amount > 0)


class Lot(models.Model):
    """The spendable remainder of one point-adding transaction.

    `expiry_round` counts the expirations this lot has had: a lot normally expires once (round 0); only points
    refunded into it after it expired (a cancelled reward purchase) make it due again, and expire in round 1,
    and so on. `refunded_at` is when such a refund happened, so that expiration is dated when the points
    came back, never before.
    """

    transaction = models.OneToOneField(Transaction, on_delete=models.CASCADE, related_name="lot")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="lots")
    amount = models.IntegerField()
    remaining = models.IntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    expiry_round = models.PositiveSmallIntegerField(default=0)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(remaining__gte=0) & Q(remaining__lte=F("amount")),
                name="rewards_lot_remaining_within_amount",
            ),
        ]
        indexes = [
            # Due lots for the expiration job: a small index (spent and expired lots drop out of it).
            models.Index(fields=["expires_at", "id"], condition=Q(remaining__gt=0), name="rewards_lot_due"),
            # A member's open lots in FIFO order (spending, expiring_points), with `remaining` carried in the
            # index (PostgreSQL; SQLite ignores INCLUDE) so both read the index alone: the expiring points sum
            # every open lot of their days, which for a busy member is thousands of lots on as many heap pages.
            models.Index(
                fields=["membership", "expires_at", "id"],
                include=["remaining"],
                condition=Q(remaining__gt=0),
                name="rewards_lot_open_cover",
            ),
        ]

    def __str__(self) -> str:
        return f"Lot #{self.pk}: {self.remaining}/{self.amount}"


class Allocation(models.Model):
    """Points a transaction took from a lot (> 0), or gave back to it (< 0, a refund)."""

    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="allocations")
    lot = models.ForeignKey(Lot, on_delete=models.CASCADE, related_name="allocations")
    points = models.IntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="rewards_allocation_nonzero"),
            models.UniqueConstraint(fields=["transaction", "lot"], name="rewards_allocation_once_per_lot"),
        ]
        indexes = [models.Index(fields=["lot"], name="rewards_allocation_lot")]

    def __str__(self) -> str:
        return f"{self.points} points of lot #{self.lot_id} for transaction #{self.transaction_id}"


class Reward(models.Model):
    """A shop item. `remaining_stock` = stock − purchased_count (never below 0); `stock` null = unlimited.
    Purchases claim stock with one conditional UPDATE on `purchased_count`, so they never oversell."""

    DRAFT, PUBLISHED = "draft", "published"

    club = models.ForeignKey(LoyaltyClub, on_delete=models.CASCADE, related_name="rewards")
    name = models.CharField(max_length=200)
    description = models.TextField(null=True, blank=True)
    price = models.PositiveIntegerField()
    required_member_level = models.CharField(max_length=200, null=True, blank=True)
    status = models.CharField(max_length=10, choices=[(DRAFT, DRAFT), (PUBLISHED, PUBLISHED)], default=DRAFT)
    stock = models.PositiveIntegerField(null=True, blank=True, help_text="Total items; empty = unlimited")
    purchased_count = models.PositiveIntegerField(default=0, editable=False)
    uses_per_purchase = models.PositiveIntegerField(null=True, blank=True, help_text="Empty = unlimited")
    usable_for_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Empty = forever")
    available_until = models.DateTimeField(null=True, blank=True)
    files = models.JSONField(default=_empty_list, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gt=0) & Q(price__lte=MAX_POINTS), name="rewards_reward_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(uses_per_purchase__isnull=True) | Q(uses_per_purchase__gte=1),
                name="rewards_reward_uses_positive",
            ),
            models.CheckConstraint(
                condition=Q(usable_for_seconds__isnull=True) | Q(usable_for_seconds__gte=1),
                name="rewards_reward_usable_for_positive",
            ),
        ]
        indexes = [
            # The shop (`rewards_available`): the club's published, not archived rewards by id, however many
            # archived ones the club keeps. Not partial: a generic plan could not prove its predicate.
            models.Index(fields=["club", "status", "archived_at", "id"], name="rewards_reward_on_offer"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def remaining_stock(self) -> int | None:
        return None if self.stock is None else max(self.stock - self.purchased_count, 0)


class RewardPurchase(models.Model):
    """One purchase: its `reward_purchase` transaction and the uses it grants."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="purchases")
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="purchases")
    transaction = models.OneToOneField(Transaction, on_delete=models.CASCADE, related_name="purchase")
    purchased_at = models.DateTimeField()
    usable_until = models.DateTimeField(null=True, blank=True)
    uses_left = models.PositiveIntegerField(null=True, blank=True, help_text="Empty = unlimited")
    uses_count = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["membership", "reward"], name="rewards_purchase_member_reward")]

    def __str__(self) -> str:
        return f"Purchase #{self.pk} of {self.reward_id}"


class ExpiryWarning(models.Model):
    """When a member was last sent `points.expiring` (the club's local date): the daily job's guard. The
    job moves `warned_on` forward with one conditional upsert per batch and emits only for the rows it
    moved, so a member is warned at most once a day however often, or however concurrently, the job runs."""

    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, primary_key=True, related_name="+")
    warned_on = models.DateField()

    def __str__(self) -> str:
        return f"membership #{self.membership_id} warned on {self.warned_on}"
