"""`seed_demo` (SPEC §9): a realistic demo club, fast enough for 100 000 members with their ledgers.

Re-running is safe and adds only what is missing: the catalogue is found again by its keys, and members are
identified by their demo msisdn (`4798` + their index), so `--members N` tops the club up to N demo members
and a second identical run writes nothing. Histories of members that exist are never touched. `--reset`
first deletes the club's members, offers, collections, rewards, achievements and groups (the club itself,
its API tokens, program settings and webhook endpoints stay).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from backoffice.seed import simulate
from backoffice.seed.catalog import GROUPS, catalog_ensure
from backoffice.seed.simulate import ChunkRows, OfferSim, RewardSim, World
from backoffice.seed.writer import BulkWriter
from loyalty.models import LoyaltyClub, Member, MemberGroup, MemberGroupMembership, MemberOAuthToken
from offers.models import (
    Collection,
    CollectionOffer,
    Offer,
    OfferEvent,
    OfferFile,
    OfferGrant,
    OfferLike,
    OfferMemberState,
    OfferStore,
    OfferTag,
    OfferUsage,
)
from rewards.models import Achievement, Allocation, Lot, Membership, Reward, RewardPurchase, Transaction

DEMO_SLUG = "infinity-mall"
CHUNK_SIZE = 2000
MAX_MEMBERS = 999_999  # the demo msisdn holds six digits of index
DEMO_PASSWORD = "demo-password"  # member #1 can sign in through OAuth with it


@dataclass
class SeedReport:
    club: str
    members_created: int = 0
    members_existing: int = 0
    catalog_created: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    demo_login: str | None = None

    def as_dict(self) -> dict:
        return {
            "club": self.club,
            "members_created": self.members_created,
            "members_existing": self.members_existing,
            "catalog_created": self.catalog_created,
            "rows": self.rows,
            "seconds": round(self.seconds, 1),
            "demo_login": self.demo_login,
        }


def demo_club_get_or_create(*, slug: str = DEMO_SLUG) -> LoyaltyClub:
    club, _ = LoyaltyClub.objects.get_or_create(
        slug=slug,
        defaults={
            "name": "Infinity Mall",
            "timezone": "Europe/Oslo",
            "default_language": "nb",
            "offers_enabled": True,
            "rewards_enabled": True,
        },
    )
    return club


def demo_member_indexes(*, club: LoyaltyClub) -> set[int]:
    prefix = simulate.MSISDN_PREFIX
    found = Member.objects.filter(club=club, msisdn__startswith=prefix).values_list("msisdn", flat=True)
    return {int(m[len(prefix) :]) for m in found if len(m) == len(prefix) + 6 and m[len(prefix) :].isdigit()}


def demo_seed(
    *,
    members: int,
    offers: int,
    transactions_per_member: int,
    seed: int = 1,
    slug: str = DEMO_SLUG,
    reset: bool = False,
    now: datetime | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Fill the demo club: the catalogue, then the missing demo members (indexes 1..`members`) with their
    histories, `CHUNK_SIZE` members per database transaction."""
    if not 0 <= members <= MAX_MEMBERS:
        raise ValueError(f"--members must be between 0 and {MAX_MEMBERS}")
    started = time.monotonic()
    now = now or timezone.now()
    club = demo_club_get_or_create(slug=slug)
    if reset:
        demo_reset(club=club)
    report = SeedReport(club=club.slug)
    catalog = catalog_ensure(club=club, offers=offers, now=now)
    report.catalog_created = catalog.created

    existing = demo_member_indexes(club=club)
    todo = [i for i in range(1, members + 1) if i not in existing]
    report.members_existing = len(existing)
    if on_start:
        on_start(len(todo))

    config = catalog.club.rewards_program
    groups_by_id = {group.pk: key for key, group in catalog.groups.items()}
    world = World(
        now=now,
        tz=club.tzinfo,
        seed=seed,
        transactions_per_member=transactions_per_member,
        activation=timedelta(seconds=club.activated_seconds_time),
        validity=timedelta(days=config.points_validity_days) if config.points_validity_days else None,
        levels_program=config.levels_program,
        offers=[OfferSim(offer, catalog.specs[offer.pk], groups_by_id) for offer in catalog.offers],
        rewards=[RewardSim(reward, catalog.reward_popularity.get(reward.pk, 0)) for reward in catalog.rewards],
        achievements=catalog.achievements,
        groups=catalog.groups,
        group_shares={key: share for key, (_name, share) in GROUPS.items()},
    )
    writer = BulkWriter()
    for start in range(0, len(todo), CHUNK_SIZE):
        chunk = todo[start : start + CHUNK_SIZE]
        rows = _simulate_chunk(world, chunk)
        with transaction.atomic():
            _write_chunk(writer, world, club, rows, report)
        if on_progress:
            on_progress(len(chunk))
    report.members_created = len(todo)
    if todo and connection.vendor == "postgresql":
        _analyze()
    if 1 in todo:
        report.demo_login = (
            Member.objects.filter(club=club, msisdn=f"{simulate.MSISDN_PREFIX}000001")
            .values_list("email", flat=True)
            .first()
        )
    report.seconds = time.monotonic() - started
    return report


def _simulate_chunk(world: World, indexes: list[int]) -> ChunkRows:
    rows = ChunkRows()
    for idx in indexes:
        rng = random.Random(world.seed * 1_000_003 + idx)
        member = simulate.member_build(world, idx, rng)
        rows.members.append(member)
        for key in member.groups:
            rows.group_memberships.append((world.groups[key].pk, member, member.created_at))
        coupon_times = simulate.simulate_offers(world, member, rng, rows)
        if rng.random() < simulate.JOIN_SHARE:
            simulate.simulate_ledger(world, member, rng, rows, coupon_times)
    return rows


def _assign_ids(writer: BulkWriter, model, rows: list) -> None:
    for row, pk in zip(rows, writer.reserve_ids(model, len(rows)), strict=True):
        row.id = pk


def _write_chunk(writer: BulkWriter, world: World, club: LoyaltyClub, rows: ChunkRows, report: SeedReport) -> None:
    _assign_ids(writer, Member, rows.members)
    _assign_ids(writer, Membership, rows.memberships)
    _assign_ids(writer, Transaction, rows.transactions)
    _assign_ids(writer, Lot, rows.lots)
    _assign_ids(writer, OfferGrant, rows.grants)

    def put(model, columns, data):
        writer.insert(model, columns, data)
        label = model._meta.verbose_name_plural
        report.rows[str(label)] = report.rows.get(str(label), 0) + len(data)

    put(
        Member,
        (
            "id",
            "club_id",
            "email",
            "msisdn",
            "first_name",
            "last_name",
            "birthday",
            "language",
            "password",
            "banned_until",
            "created_at",
            "updated_at",
        ),
        [
            (
                m.id,
                club.pk,
                m.email,
                m.msisdn,
                m.first_name,
                m.last_name,
                m.birthday,
                m.language,
                make_password(DEMO_PASSWORD) if m.idx == 1 else "",
                m.banned_until,
                m.created_at,
                m.created_at,
            )
            for m in rows.members
        ],
    )
    put(
        MemberGroupMembership,
        ("group_id", "member_id", "created_at"),
        [(group_id, m.id, at) for group_id, m, at in rows.group_memberships],
    )
    put(
        Membership,
        ("id", "member_id", "started_at", "balance", "lifetime_points"),
        [(ms.id, ms.member.id, ms.started_at, ms.balance, ms.lifetime) for ms in rows.memberships],
    )
    put(
        Transaction,
        (
            "id",
            "membership_id",
            "type",
            "date",
            "amount",
            "details",
            "expired_at",
            "cancelled_at",
            "achievement_type",
            "cancelled_transaction_id",
            "expired_lot_id",
            "expiry_round",
        ),
        [
            (
                tx.id,
                tx.membership.id,
                tx.type,
                tx.date,
                tx.amount,
                tx.details_final(),
                tx.expired_at,
                tx.cancelled_at,
                tx.achievement_type,
                tx.cancelled.id if tx.cancelled is not None else None,
                tx.expired_lot.id if tx.expired_lot is not None else None,
                tx.expiry_round,
            )
            for tx in rows.transactions
        ],
    )
    put(
        Lot,
        ("id", "transaction_id", "membership_id", "amount", "remaining", "expires_at", "expiry_round", "refunded_at"),
        [
            (
                lot.id,
                lot.tx.id,
                lot.membership.id,
                lot.amount,
                lot.remaining,
                lot.expires_at,
                lot.expiry_round,
                lot.refunded_at,
            )
            for lot in rows.lots
        ],
    )
    put(
        Allocation,
        ("transaction_id", "lot_id", "points"),
        [(tx.id, lot.id, points) for tx, lot, points in rows.allocations],
    )
    put(
        RewardPurchase,
        (
            "membership_id",
            "reward_id",
            "transaction_id",
            "purchased_at",
            "usable_until",
            "uses_left",
            "uses_count",
            "last_used_at",
            "cancelled_at",
        ),
        [
            (
                p.membership.id,
                p.reward_id,
                p.tx.id,
                p.purchased_at,
                p.usable_until,
                p.uses_left,
                p.uses_count,
                p.last_used_at,
                p.cancelled_at,
            )
            for p in rows.purchases
        ],
    )
    put(
        OfferGrant,
        ("id", "offer_id", "member_id", "granted_at", "usable_until", "uses_count", "source"),
        [(g.id, g.offer_id, g.member.id, g.granted_at, g.usable_until, g.uses_count, g.source) for g in rows.grants],
    )
    put(
        OfferUsage,
        ("offer_id", "member_id", "grant_id", "used_at", "authorized"),
        [(offer_id, m.id, g.id if g else None, at, auth) for offer_id, m, g, at, auth in rows.usages],
    )
    put(
        OfferMemberState,
        ("offer_id", "member_id", "uses_count", "grants_count", "last_used_at"),
        [(offer_id, m.id, uses, grants, last) for offer_id, m, uses, grants, last in rows.states],
    )
    put(OfferLike, ("offer_id", "member_id", "created_at"), [(o, m.id, at) for o, m, at in rows.likes])
    put(
        OfferEvent,
        ("club_id", "offer_id", "member_id", "kind", "created_at", "received_at", "context"),
        [(club.pk, o, m.id, kind, at, at + timedelta(seconds=2), ctx) for o, m, kind, at, ctx in rows.events],
    )
    # Counters move with the rows that justify them, in the same transaction (as the services do).
    for offer in world.offers:
        if offer.uses_added or offer.grants_added:
            Offer.objects.filter(pk=offer.id).update(
                uses_count=F("uses_count") + offer.uses_added, grants_count=F("grants_count") + offer.grants_added
            )
            offer.uses_added = offer.grants_added = 0
    for reward in world.rewards:
        if reward.added:
            Reward.objects.filter(pk=reward.id).update(purchased_count=F("purchased_count") + reward.added)
            reward.added = 0


def _analyze() -> None:
    """Fresh planner statistics after a bulk load (autovacuum would get there, minutes later)."""
    models = (Member, Membership, Transaction, Lot, Allocation, RewardPurchase, OfferGrant, OfferUsage)
    with connection.cursor() as cursor:
        for model in (*models, OfferMemberState, OfferLike, OfferEvent, MemberGroupMembership):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


@transaction.atomic
def demo_reset(*, club: LoyaltyClub) -> None:
    """Delete the club's demo content. The large tables go with plain DELETEs (no per-row collector); the
    rest through the ORM, so relations added by other apps are handled by their `on_delete`."""

    def raw(queryset) -> None:
        queryset._raw_delete(queryset.db)

    raw(Allocation.objects.filter(lot__membership__member__club=club))
    raw(RewardPurchase.objects.filter(membership__member__club=club))
    raw(Lot.objects.filter(membership__member__club=club))
    raw(Transaction.objects.filter(membership__member__club=club))
    raw(Membership.objects.filter(member__club=club))
    raw(OfferUsage.objects.filter(offer__club=club))
    raw(OfferGrant.objects.filter(offer__club=club))
    raw(OfferMemberState.objects.filter(offer__club=club))
    raw(OfferLike.objects.filter(offer__club=club))
    raw(OfferEvent.objects.filter(club=club))
    raw(MemberGroupMembership.objects.filter(group__club=club))
    raw(MemberOAuthToken.objects.filter(club=club))
    for model in (OfferTag, OfferStore, OfferFile):
        raw(model.objects.filter(offer__club=club))
    raw(CollectionOffer.objects.filter(collection__club=club))
    Member.objects.filter(club=club).delete()
    Offer.objects.filter(club=club).delete()
    Collection.objects.filter(club=club).delete()
    MemberGroup.objects.filter(club=club).delete()
    Reward.objects.filter(club=club).delete()
    Achievement.objects.filter(club=club).delete()
