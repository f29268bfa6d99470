"""Member histories for `seed_demo`, simulated in memory with the services' own rules, then bulk-written.

One member at a time, in time order: grants (welcome, birthday, exclusive), offer uses within every limit
(audience, grants, per member, per period, activation window, stock), likes and events; then the points
ledger — earnings, purchases, corrections, cancellations and expirations — exactly as the ledger services
would have written it: every lot with its `remaining`, every debit with its allocations (FIFO, soonest
expiry first), refunds as negative allocations, each expiration once per round, the cached balance and
lifetime points. `reconcile_balances` proves the result (tests/backoffice/test_seed_demo.py).

Each member draws from its own random generator (seeded by the run's seed and its index), so a member's
history does not depend on how the run was chunked.
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kit.periods import period_start
from offers.models import GRANT_TYPES, OfferGrant, OfferStatus, OfferType, Scope
from rewards import rules
from rewards.levels import level_reached
from rewards.models import Transaction

T = Transaction
MSISDN_PREFIX = "4798"  # + six digits: the member's demo index (so re-runs find the demo members)
EMAIL_DOMAIN = "infinity-mall.example"
HISTORY_DAYS = 540  # members joined over the last 18 months
MEAN_TENURE_DAYS = HISTORY_DAYS / 3  # the mean of the sign-up distribution below
JOIN_SHARE = 0.85  # members in the rewards program

# fmt: off
FIRST_NAMES = (
    "Ingrid", "Kari", "Nora", "Emma", "Sofie", "Maja", "Ella", "Olivia", "Leah", "Anne", "Marit", "Hilde", "Ida",
    "Sara", "Thea", "Astrid", "Liv", "Eva", "Amira", "Mia", "Ola", "Jonas", "Lars", "Henrik", "Magnus", "Emil",
    "Jakob", "Noah", "Filip", "Aksel", "Kristian", "Petter", "Sindre", "Ali", "Mohammed", "Erik", "Tor", "Even",
)
LAST_NAMES = (
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen", "Jensen", "Karlsen",
    "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen", "Johannessen", "Andreassen", "Jacobsen", "Dahl",
    "Jørgensen", "Halvorsen", "Henriksen", "Lund", "Sørensen", "Moen", "Solberg", "Bakken", "Ahmed", "Nguyen",
    "Khan", "Strand", "Lie", "Ali", "Martinsen", "Paulsen",
)
# fmt: on


# --- Rows (ids are filled in just before writing) ------------------------------------------------------


class MemberRow:
    __slots__ = (
        "banned_until",
        "birthday",
        "created_at",
        "email",
        "first_name",
        "groups",
        "id",
        "idx",
        "language",
        "last_name",
        "msisdn",
        "password",
    )


class MembershipRow:
    __slots__ = ("balance", "id", "lifetime", "member", "started_at")

    def __init__(self, member: MemberRow, started_at: datetime):
        self.member, self.started_at, self.balance, self.lifetime, self.id = member, started_at, 0, 0, None


class TxRow:
    __slots__ = (
        "achievement_type",
        "amount",
        "cancelled",
        "cancelled_at",
        "date",
        "details",
        "expired_at",
        "expired_lot",
        "expiry_round",
        "id",
        "lot",
        "membership",
        "ref",
        "ref_key",
        "type",
    )

    def __init__(self, membership, type_, date_, amount, details, achievement_type=None):
        self.membership, self.type, self.date, self.amount, self.details = membership, type_, date_, amount, details
        self.achievement_type = achievement_type
        self.expired_at = self.cancelled_at = self.cancelled = self.expired_lot = self.expiry_round = None
        self.lot = self.id = self.ref = self.ref_key = None

    def details_final(self) -> dict:
        if self.ref is None:
            return self.details
        return {**self.details, self.ref_key: self.ref.id}


class LotRow:
    __slots__ = ("amount", "expires_at", "expiry_round", "id", "membership", "refunded_at", "remaining", "seq", "tx")

    def __init__(self, tx: TxRow, amount: int, expires_at: datetime | None, seq: int):
        self.tx, self.membership, self.amount, self.remaining, self.expires_at = (
            tx,
            tx.membership,
            amount,
            amount,
            expires_at,
        )
        self.expiry_round, self.refunded_at, self.id, self.seq = 0, None, None, seq


class PurchaseRow:
    __slots__ = (
        "cancelled_at",
        "last_used_at",
        "membership",
        "purchased_at",
        "reward_id",
        "tx",
        "usable_until",
        "uses_count",
        "uses_left",
    )


class GrantRow:
    __slots__ = ("granted_at", "id", "member", "offer_id", "source", "usable_until", "uses_count")

    def active_at(self, at: datetime) -> bool:
        return self.granted_at <= at and (self.usable_until is None or at < self.usable_until)


@dataclass
class ChunkRows:
    members: list[MemberRow] = field(default_factory=list)
    memberships: list[MembershipRow] = field(default_factory=list)
    transactions: list[TxRow] = field(default_factory=list)
    lots: list[LotRow] = field(default_factory=list)
    allocations: list[tuple[TxRow, LotRow, int]] = field(default_factory=list)
    purchases: list[PurchaseRow] = field(default_factory=list)
    grants: list[GrantRow] = field(default_factory=list)
    usages: list[tuple] = field(default_factory=list)  # (offer_id, member, grant | None, used_at, authorized)
    states: list[tuple] = field(default_factory=list)  # (offer_id, member, uses, grants, last_used_at)
    likes: list[tuple] = field(default_factory=list)  # (offer_id, member, created_at)
    events: list[tuple] = field(default_factory=list)  # (offer_id, member, kind, created_at, context)
    group_memberships: list[tuple] = field(default_factory=list)  # (group_id, member, created_at)


# --- The catalogue as the simulation sees it ----------------------------------------------------------


class OfferSim:
    """One offer with its running global counters (across every member of the run)."""

    def __init__(self, offer, spec, groups_by_id: dict[int, str]):
        self.id = offer.pk
        self.offer = offer
        self.spec = spec
        self.type = offer.type
        self.needs_grant = offer.type in GRANT_TYPES
        self.audience = groups_by_id.get(offer.audience_id) if offer.audience_id else None
        self.weight = spec.popularity
        self.uses_count = offer.uses_count
        self.grants_count = offer.grants_count
        self.uses_added = 0
        self.grants_added = 0
        self.live_publicly = offer.status == OfferStatus.PUBLISHED

    def open_at(self, at: datetime) -> bool:
        o = self.offer
        return (
            self.live_publicly
            and at >= o.created_at
            and (o.archived_at is None or at < o.archived_at)
            and (o.usable_until is None or at < o.usable_until)
        )

    def usable_at(self, at: datetime) -> bool:
        o = self.offer
        return self.open_at(at) and o.scope != Scope.INFORMATIONAL and (o.usable_since is None or o.usable_since <= at)

    def stock_left(self) -> bool:
        return self.offer.stock is None or self.uses_count < self.offer.stock


class RewardSim:
    def __init__(self, reward, popularity: int):
        self.reward = reward
        self.id = reward.pk
        self.weight = popularity
        self.purchased = reward.purchased_count
        self.added = 0

    def buyable_at(self, at: datetime) -> bool:
        r = self.reward
        return (
            self.weight > 0
            and r.status == "published"
            and at >= r.created_at
            and (r.archived_at is None or at < r.archived_at)
            and (r.available_until is None or at < r.available_until)
            and (r.stock is None or self.purchased < r.stock)
        )


@dataclass
class World:
    """Everything the member simulations share."""

    now: datetime
    tz: ZoneInfo
    seed: int
    transactions_per_member: int
    activation: timedelta
    validity: timedelta | None
    levels_program: dict | None
    offers: list[OfferSim]
    rewards: list[RewardSim]
    achievements: dict  # type → Achievement
    groups: dict  # key → MemberGroup
    group_shares: dict  # key → share of members


# --- Members -------------------------------------------------------------------------------------------


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text.replace("ø", "o").replace("æ", "ae")).encode("ascii", "ignore").decode()


def member_build(world: World, idx: int, rng: random.Random) -> MemberRow:
    m = MemberRow()
    m.idx, m.id = idx, None
    m.first_name, m.last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    m.msisdn = f"{MSISDN_PREFIX}{idx:06d}"
    m.email = (
        None if rng.random() < 0.08 else f"{_ascii(m.first_name)}.{_ascii(m.last_name)}.{idx}@{EMAIL_DOMAIN}".lower()
    )
    m.birthday = date(rng.randint(1950, 2007), rng.randint(1, 12), rng.randint(1, 28)) if rng.random() < 0.9 else None
    m.language = "nb" if rng.random() < 0.8 else "en"
    m.password = ""
    # Linear growth: the density of sign-ups rises towards today.
    m.created_at = world.now - timedelta(days=HISTORY_DAYS) * (1 - rng.random() ** 0.5)
    m.banned_until = world.now + timedelta(days=rng.randint(1, 60)) if rng.random() < 0.004 else None
    m.groups = {key for key, share in world.group_shares.items() if rng.random() < share}
    return m


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth's method; fine for the small means used here)."""
    if mean <= 0:
        return 0
    if mean > 30:  # normal approximation keeps long-time members cheap
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random()


# --- Offers --------------------------------------------------------------------------------------------


class MemberOffers:
    """One member's grants and uses of each offer, checked like `offer_grant` / `offer_use`."""

    def __init__(self, world: World, member: MemberRow, rows: ChunkRows):
        self.world, self.m, self.rows = world, member, rows
        self.grants: dict[int, list[GrantRow]] = defaultdict(list)
        self.uses: dict[int, list[datetime]] = defaultdict(list)

    def in_audience(self, offer: OfferSim) -> bool:
        return offer.audience is None or offer.audience in self.m.groups

    def grant(self, offer: OfferSim, at: datetime, source: str) -> GrantRow | None:
        o = offer.offer
        if at > self.world.now or not offer.open_at(at) or not self.in_audience(offer) or not offer.stock_left():
            return None
        if o.maximum_grants_per_user is not None and len(self.grants[offer.id]) >= o.maximum_grants_per_user:
            return None
        g = GrantRow()
        g.id, g.offer_id, g.member, g.granted_at, g.source, g.uses_count = None, offer.id, self.m, at, source, 0
        g.usable_until = at + timedelta(days=offer.spec.grant_days) if offer.spec.grant_days else None
        self.grants[offer.id].append(g)
        self.rows.grants.append(g)
        offer.grants_count += 1
        offer.grants_added += 1
        return g

    def use(self, offer: OfferSim, at: datetime, rng: random.Random) -> bool:
        o = offer.offer
        if not offer.usable_at(at) or not self.in_audience(offer) or not offer.stock_left():
            return False
        maximum = o.maximum_uses_per_user
        grant = None
        if offer.needs_grant:
            live = [g for g in self.grants[offer.id] if g.active_at(at) and (maximum is None or g.uses_count < maximum)]
            if not live:
                return False
            grant = min(live, key=lambda g: (g.usable_until is None, g.usable_until or at, g.granted_at))
        elif maximum is not None and len(self.uses[offer.id]) >= maximum:
            return False
        past = self.uses[offer.id]
        if past and at < max(past) + self.world.activation:
            return False
        if o.periodic_timespan:
            start = period_start(o.periodic_timespan, now=at, tz=self.world.tz)
            if sum(1 for t in past if start <= t <= at) >= o.periodic_limit:
                return False
        authorized = o.usage_authorization_token_required or rng.random() < 0.25
        past.append(at)
        if grant is not None:
            grant.uses_count += 1
        offer.uses_count += 1
        offer.uses_added += 1
        self.rows.usages.append((offer.id, self.m, grant, at, authorized))
        return authorized

    def finish(self) -> None:
        for offer_id in set(self.grants) | set(self.uses):
            uses = self.uses.get(offer_id, [])
            self.rows.states.append(
                (offer_id, self.m, len(uses), len(self.grants.get(offer_id, [])), max(uses, default=None))
            )


def _attempt_soon(rng: random.Random, attempts: list, granted: GrantRow, offer: OfferSim, now: datetime) -> None:
    """A use of a grant a few days after it came (4 on average), if that is still inside its window and past."""
    at = granted.granted_at + timedelta(days=rng.expovariate(1 / 4))
    if at < now and (granted.usable_until is None or at < granted.usable_until):
        attempts.append((at, offer))


def simulate_offers(world: World, m: MemberRow, rng: random.Random, rows: ChunkRows) -> list[datetime]:
    """Grants, uses, likes and events of one member; returns the times of its authorized uses (each earns
    the `coupon_used` achievement through the rewards hook)."""
    now, tz = world.now, world.tz
    member_offers = MemberOffers(world, m, rows)
    attempts: list[tuple[datetime, OfferSim | None]] = []
    mean_tenure = timedelta(days=MEAN_TENURE_DAYS)
    tenure = (now - m.created_at) / mean_tenure  # 1.0 for a member of average seniority
    for offer in world.offers:
        if offer.type == OfferType.WELCOME:
            granted = member_offers.grant(offer, m.created_at + timedelta(minutes=1), OfferGrant.Source.WELCOME)
            if granted and rng.random() < 0.45:
                _attempt_soon(rng, attempts, granted, offer, now)
        elif offer.type == OfferType.BIRTHDAY and m.birthday is not None:
            for year in range(m.created_at.year, now.year + 1):
                day = m.birthday.replace(year=year)
                at = datetime.combine(day, time(7, 0), tzinfo=tz).astimezone(UTC)
                if m.created_at <= at:
                    granted = member_offers.grant(offer, at, OfferGrant.Source.BIRTHDAY)
                    if granted and rng.random() < 0.5:
                        _attempt_soon(rng, attempts, granted, offer, now)
        elif offer.type == OfferType.EXCLUSIVE and member_offers.in_audience(offer):
            if offer.audience is not None:  # the whole audience is granted once, open-ended
                granted = member_offers.grant(offer, _between(rng, m.created_at, now), OfferGrant.Source.AUDIENCE)
                if granted:
                    for _ in range(_poisson(rng, 1.5 * (now - granted.granted_at) / mean_tenure)):
                        attempts.append((_between(rng, granted.granted_at, now), offer))
            elif "newsletter" in m.groups:  # now and then a newsletter carries a code, used or not
                for _ in range(_poisson(rng, tenure)):
                    granted = member_offers.grant(offer, _between(rng, m.created_at, now), OfferGrant.Source.API)
                    if granted and rng.random() < 0.6:
                        _attempt_soon(rng, attempts, granted, offer, now)
    # About three spontaneous uses in an average membership, in proportion to how long the member has been
    # around: so the uses of a day grow with the club, and are not crowded into the newest members' days.
    for _ in range(_poisson(rng, 3.0 * tenure)):
        attempts.append((_between(rng, m.created_at, now), None))
    attempts.sort(key=lambda a: a[0])

    regular = [o for o in world.offers if not o.needs_grant and o.weight > 0]
    coupon_times = []
    for at, offer in attempts:
        if offer is None:
            candidates = [o for o in regular if o.usable_at(at) and member_offers.in_audience(o)]
            if not candidates:
                continue
            offer = rng.choices(candidates, weights=[o.weight for o in candidates])[0]
        if member_offers.use(offer, at, rng):
            coupon_times.append(at)
    member_offers.finish()

    visible = [o for o in world.offers if o.live_publicly and o.offer.archived_at is None]
    for offer in rng.sample(visible, k=min(len(visible), rng.choice((0, 0, 1, 1, 2, 3)))):
        rows.likes.append((offer.id, m, _between(rng, max(m.created_at, offer.offer.created_at), now)))
    for _ in range(rng.choice((0, 0, 1, 2, 3, 5)) if visible else 0):
        offer = rng.choice(visible)
        at = _between(rng, max(m.created_at, offer.offer.created_at), now)
        kind = "clicked" if rng.random() < 0.25 else "seen"
        rows.events.append((offer.id, m, kind, at, {"screen": rng.choice(("home", "offers", "store"))}))
    return coupon_times


# --- The ledger ----------------------------------------------------------------------------------------


class Ledger:
    """One membership's ledger, written like rewards.services.ledger writes it."""

    def __init__(self, world: World, membership: MembershipRow, rows: ChunkRows):
        self.world, self.ms, self.rows = world, membership, rows
        self.lots: list[LotRow] = []
        self.drawn: dict[int, list[tuple[LotRow, int]]] = {}  # id(tx) → [(lot, points)]
        self.achieved: dict[str, list[datetime]] = defaultdict(list)  # non-cancelled achievement dates
        self.purchases: list[PurchaseRow] = []
        self.grants: list[TxRow] = []

    def _tx(self, type_: str, at: datetime, amount: int, details: dict, achievement_type=None) -> TxRow:
        tx = TxRow(self.ms, type_, at, amount, details, achievement_type)
        self.rows.transactions.append(tx)
        return tx

    def _allocate(self, tx: TxRow, lot: LotRow, points: int) -> None:
        lot.remaining -= points
        self.rows.allocations.append((tx, lot, points))
        self.drawn.setdefault(id(tx), []).append((lot, points))

    # Expiration (rewards.services.expiration.expire_locked)
    def expire_due(self, as_of: datetime) -> None:
        for lot in self.lots:
            if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= as_of:
                refunded = lot.refunded_at
                at = refunded if refunded is not None and refunded > lot.expires_at else lot.expires_at
                tx = self._tx(T.EXPIRATION, at, -lot.remaining, {})
                tx.ref, tx.ref_key = lot.tx, "expired_transaction_id"
                tx.expired_lot, tx.expiry_round = lot, lot.expiry_round
                self.rows.allocations.append((tx, lot, lot.remaining))
                self.ms.balance -= lot.remaining
                lot.remaining = 0
                lot.expiry_round += 1
                if lot.tx.expired_at is None:
                    lot.tx.expired_at = at

    # Earning (credit)
    def credit(self, type_: str, at: datetime, points: int, details: dict, achievement_type=None) -> TxRow:
        tx = self._tx(type_, at, points, details, achievement_type)
        expires = at + self.world.validity if self.world.validity is not None else None
        lot = LotRow(tx, points, expires, len(self.rows.lots))
        tx.lot = lot
        self.lots.append(lot)
        self.rows.lots.append(lot)
        self.ms.balance += points
        self.ms.lifetime += points
        if type_ == T.GRANT:
            self.grants.append(tx)
        return tx

    def achieve(self, type_: str, at: datetime) -> bool:
        rule = self.world.achievements.get(type_)
        if rule is None:
            return False
        done = self.achieved[type_]
        refusal = rules.achievement_refusal(
            limit=rule.limit,
            frequency_timespan=rule.frequency_timespan,
            frequency_limit=rule.frequency_limit,
            earned_since=lambda start: sum(1 for d in done if start is None or d >= start),
            now=at,
            tz=self.world.tz,
        )
        if refusal is not None:
            return False
        done.append(at)
        self.credit(T.ACHIEVEMENT, at, rule.points, {"achievement_type": type_, "rule_id": rule.pk}, type_)
        return True

    # Spending (draw / debit): the ledger's own FIFO plan (rewards.rules) over the lots spendable at `at`
    def _plan(self, points: int, at: datetime, first: LotRow | None = None) -> list[tuple[LotRow, int]] | None:
        spendable = sorted(
            (
                lot
                for lot in self.lots
                if lot is not first and rules.lot_spendable(remaining=lot.remaining, expires_at=lot.expires_at, at=at)
            ),
            key=lambda lot: rules.fifo_key(expires_at=lot.expires_at, seq=lot.seq),
        )
        return rules.fifo_plan(
            points,
            ((lot, lot.remaining) for lot in spendable),
            first=(first, first.remaining) if first is not None else None,
        )

    def _draw(self, tx: TxRow, plan: list[tuple[LotRow, int]]) -> None:
        for lot, take in plan:
            self._allocate(tx, lot, take)

    def debit(self, type_: str, at: datetime, points: int, details: dict) -> TxRow | None:
        plan = self._plan(points, at) if self.ms.balance >= points else None
        if plan is None:
            return None
        tx = self._tx(type_, at, -points, details)
        self._draw(tx, plan)
        self.ms.balance -= points
        return tx

    def purchase(self, reward: RewardSim, at: datetime, rng: random.Random) -> bool:
        r = reward.reward
        if r.required_member_level and not level_reached(
            self.world.levels_program, required=r.required_member_level, lifetime_points=self.ms.lifetime
        ):
            return False
        tx = self.debit(T.REWARD_PURCHASE, at, r.price, {"reward_name": r.name, "reward_id": r.pk})
        if tx is None:
            return False
        reward.purchased += 1
        reward.added += 1
        p = PurchaseRow()
        p.membership, p.reward_id, p.tx, p.purchased_at, p.cancelled_at = self.ms, r.pk, tx, at, None
        p.usable_until = at + timedelta(seconds=r.usable_for_seconds) if r.usable_for_seconds else None
        p.uses_left, p.uses_count, p.last_used_at = r.uses_per_purchase, 0, None
        used_at = at
        for _ in range(rng.choice((0, 1, 1, 1, 2)) if rng.random() < 0.65 else 0):
            used_at += timedelta(hours=rng.uniform(1, 240))
            if used_at >= self.world.now or (p.usable_until and used_at >= p.usable_until):
                break
            if p.uses_left is not None and p.uses_left == 0:
                break
            p.uses_count += 1
            p.uses_left = None if p.uses_left is None else p.uses_left - 1
            p.last_used_at = used_at
        self.purchases.append(p)
        self.rows.purchases.append(p)
        return True

    # Cancellation (transaction_cancel)
    def _cancellation(self, original: TxRow, at: datetime) -> TxRow:
        tx = self._tx(T.CANCELLATION, at, -original.amount, {})
        tx.ref, tx.ref_key = original, "cancelled_transaction_id"
        tx.cancelled, tx.cancelled_at = original, at
        original.cancelled_at = at
        return tx

    def cancel_purchase(self, p: PurchaseRow, at: datetime, rewards_by_id: dict[int, RewardSim]) -> bool:
        original = p.tx
        if original.cancelled_at is not None or p.uses_count > 0:
            return False
        tx = self._cancellation(original, at)
        for lot, points in self.drawn[id(original)]:
            lot.remaining += points
            self.rows.allocations.append((tx, lot, -points))
            if lot.expires_at is not None and lot.expires_at <= at:
                lot.refunded_at = at
        self.ms.balance += -original.amount
        p.cancelled_at = at
        reward = rewards_by_id[p.reward_id]
        reward.purchased -= 1
        reward.added -= 1
        return True

    def cancel_lot(self, original: TxRow, at: datetime) -> bool:
        lot = original.lot
        if original.cancelled_at is not None or original.expired_at is not None or self.ms.balance < original.amount:
            return False
        # As `draw(first_lot=…)`: the lot's own unspent points first, then the other spendable lots.
        plan = self._plan(original.amount, at, first=lot)
        if plan is None:
            return False
        tx = self._cancellation(original, at)
        self._draw(tx, plan)
        self.ms.balance -= original.amount
        self.ms.lifetime -= original.amount
        return True


RECEIPT_STORES = (
    "Nordlys Kaffebar",
    "Fjord Fashion",
    "Polar Sport",
    "Bokhuset",
    "Tindra Beauty",
    "Peppino Pizzeria",
    "Elektro Nord",
    "Hjem & Hage",
)
EVERYDAY_ACHIEVEMENTS = ("app_opened", "geofence_approached", "email_opened", "push_opened", "link_clicked")


def simulate_ledger(world: World, m: MemberRow, rng: random.Random, rows: ChunkRows, coupon_times: list[datetime]):
    """The member's rewards membership and ledger (when it joined the program)."""
    now = world.now
    started = min(m.created_at + timedelta(hours=rng.uniform(0, 48)), now)
    ms = MembershipRow(m, started)
    rows.memberships.append(ms)
    ledger = Ledger(world, ms, rows)
    rewards_by_id = {r.id: r for r in world.rewards}

    events: list[tuple[datetime, str]] = [(started, "welcome")]
    if rng.random() < 0.7:
        events.append((started + timedelta(minutes=rng.uniform(1, 600)), "consent"))
    events += [(t, "coupon") for t in coupon_times if t >= started]
    # --transactions-per-member is the average; each member's share follows its time in the program.
    tenure = (now - started) / timedelta(days=MEAN_TENURE_DAYS)
    target = max(1, _poisson(rng, world.transactions_per_member * tenure))
    kinds = ("receipt", "achievement", "purchase", "correction", "cancel", "campaign")
    weights = (38, 30, 21, 4, 4, 3)
    for _ in range(max(target - len(events), 0)):
        events.append((_between(rng, started, now), rng.choices(kinds, weights)[0]))
    events.sort(key=lambda e: e[0])

    for at, kind in events:
        ledger.expire_due(at)
        if kind == "welcome":
            ledger.credit(T.GRANT, at, 100, {"grant_type": "welcome_bonus"})
        elif kind == "consent":
            ledger.achieve("consent_granted", at)
        elif kind == "coupon":
            ledger.achieve("coupon_used", at)
        elif kind == "achievement":
            ledger.achieve(rng.choice(EVERYDAY_ACHIEVEMENTS), at)
        elif kind == "receipt":
            amount = int(rng.lognormvariate(5.8, 0.8))  # kroner: mostly 150–800, sometimes thousands
            if amount >= 10:
                details = {
                    "grant_type": "receipt",
                    "grant_properties": {"store": rng.choice(RECEIPT_STORES), "amount": amount},
                }
                ledger.credit(T.GRANT, at, min(amount // 5, 2000), details)  # 2 points per 10 kr
        elif kind == "campaign":
            ledger.credit(T.GRANT, at, 200, {"grant_type": "campaign", "grant_properties": {"name": "Double points"}})
        elif kind == "purchase":
            # The member wants something (popular rewards more often); saves up or settles for less.
            wanted = [r for r in world.rewards if r.buyable_at(at)]
            if wanted:
                choice = rng.choices(wanted, [r.weight for r in wanted])[0]
                if choice.reward.price > ms.balance and rng.random() < 0.5:
                    affordable = [r for r in wanted if r.reward.price <= ms.balance]
                    choice = rng.choices(affordable, [r.weight for r in affordable])[0] if affordable else None
                if choice is not None:
                    ledger.purchase(choice, at, rng)
        elif kind == "correction":
            if rng.random() < 0.6:
                ledger.credit(T.CORRECTION, at, rng.choice((50, 100, 150, 250)), {"comment": "Missing receipt points"})
            else:
                points = rng.choice((20, 50, 100))
                ledger.debit(T.CORRECTION, at, points, {"comment": "Duplicate receipt removed"})
        elif kind == "cancel":  # a returned item: an unused reward, else a receipt's points
            recent = at - timedelta(days=30)
            purchases = [p for p in ledger.purchases if p.purchased_at >= recent and p.cancelled_at is None]
            grants = [tx for tx in ledger.grants if tx.date >= recent and tx.details.get("grant_type") == "receipt"]
            if purchases:
                ledger.cancel_purchase(rng.choice(purchases), at, rewards_by_id)
            elif grants:
                ledger.cancel_lot(rng.choice(grants), at)
    ledger.expire_due(now)
