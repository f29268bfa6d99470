"""Benchmark data, bulk-created straight into the database (run inside Django, prints JSON for the driver).

.venv/bin/python -m bench.data <scenario> [...]   (with bench_env: DATABASE_URL, DJANGO_SETTINGS_MODULE)

Each scenario makes its own club, so several can live in one database (run_all seeds them all once).
Rows are written with bulk_create / COPY-sized batches rather than through the services: the benchmarks
measure requests, and the seeding must stay a few seconds even for 100 000 ledger rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import F  # noqa: E402
from django.utils import timezone  # noqa: E402

from loyalty.models import LoyaltyClub, Member  # noqa: E402
from loyalty.services.oauth import oauth_tokens_issue  # noqa: E402
from loyalty.services.tokens import client_token_issue  # noqa: E402
from offers.models import (  # noqa: E402
    Collection,
    CollectionOffer,
    Offer,
    OfferFile,
    OfferStatus,
    OfferStore,
    OfferTag,
    OfferType,
)
from offers.services.catalog import offers_name_keys_refresh  # noqa: E402
from rewards.models import Achievement, Lot, Membership, ProgramConfig, Reward, Transaction  # noqa: E402

PASSWORD_HASH = "!"  # members of the benchmark never sign in with a password


def _club(slug: str, **fields) -> tuple[LoyaltyClub, str]:
    club = LoyaltyClub.objects.create(
        slug=slug,
        name=slug,
        offers_enabled=True,
        rewards_enabled=True,
        # No activation window: a member may use an offer twice in a row (the mixed run draws members at random).
        activated_seconds_time=0,
        **fields,
    )
    token = client_token_issue(name=f"{slug} bench", policies=["FullAccess"], loyalty_club_ids=[club.id]).secret
    return club, token


def _members(club: LoyaltyClub, count: int, *, prefix: str) -> list[int]:
    rows = [
        Member(
            club=club, email=f"{prefix}{i}@bench.example", first_name=f"First{i}", last_name=f"Last{i}", language="en"
        )
        for i in range(count)
    ]
    created = Member.objects.bulk_create(rows, batch_size=5000)
    return [m.pk for m in created]


def _offer(club: LoyaltyClub, i: int, **fields) -> Offer:
    defaults = dict(
        club=club,
        status=OfferStatus.PUBLISHED,
        type=OfferType.REGULAR,
        name={"en": f"Offer {i:05d}", "nb": f"Tilbud {i:05d}"},
        description={"en": f"Description of offer {i}. " * 4, "nb": f"Beskrivelse av tilbud {i}. " * 4},
        internal_name=f"offer-{i}",
        external_url=f"https://shop.example/offers/{i}",
        extras={"brand": f"Brand {i % 37}", "priority": i % 5},
        read_more={"button_title": {"en": "Read more"}, "url": f"https://shop.example/{i}"},
        usable_since=timezone.now() - timedelta(days=30),
    )
    defaults.update(fields)
    return Offer(**defaults)


def _catalogue(club: LoyaltyClub, count: int) -> list[int]:
    """`count` published REGULAR offers with two tags, one store, one image and a collection each."""
    offers = Offer.objects.bulk_create([_offer(club, i) for i in range(count)], batch_size=2000)
    ids = [o.pk for o in offers]
    OfferTag.objects.bulk_create(
        [OfferTag(offer_id=pk, club=club, value=f"tag{(pk + k) % 20}") for pk in ids for k in (0, 7)], batch_size=5000
    )
    OfferStore.objects.bulk_create(
        [OfferStore(offer_id=pk, club=club, value=f"Store {pk % 50}") for pk in ids], batch_size=5000
    )
    OfferFile.objects.bulk_create(
        [OfferFile(offer_id=pk, url=f"https://cdn.example/{pk}.jpg", width=640, height=480) for pk in ids],
        batch_size=5000,
    )
    collections = Collection.objects.bulk_create(
        [Collection(club=club, title={"en": f"Collection {c}"}) for c in range(10)]
    )
    CollectionOffer.objects.bulk_create(
        [CollectionOffer(collection=collections[pk % 10], offer_id=pk) for pk in ids], batch_size=5000
    )
    offers_name_keys_refresh(club=club)  # what the catalog service writes with each offer
    return ids


def _bearer(member_ids: list[int]) -> list[str]:
    return [oauth_tokens_issue(member=m).access_token for m in Member.objects.filter(pk__in=member_ids).order_by("pk")]


# --- Scenarios ---------------------------------------------------------------------------------------


def seed_use(*, members: int = 40_000, offers: int = 20) -> dict:
    """Targets 1 and 3: REGULAR offers without limits, and members who never used them (the `{id}` context)."""
    club, token = _club("bench-use")
    offer_ids = [o.pk for o in Offer.objects.bulk_create([_offer(club, i) for i in range(offers)])]
    offers_name_keys_refresh(club=club)
    member_ids = _members(club, members, prefix="use")
    return {"club": club.slug, "token": token, "offer_ids": offer_ids, "member_ids": _span(member_ids)}


def seed_hot(*, club: str, stock: int = 1000) -> dict:
    """Target 3: one more offer of the `use` club with a stock (made fresh for each measurement)."""
    offer = _offer(LoyaltyClub.objects.get(slug=club), 100_000, stock=stock)
    offer.save()
    return {"offer_id": offer.pk}


def seed_list(*, offers: int = 10_000) -> dict:
    """Target 2: a club with 10 000 published offers and a signed-in member."""
    club, token = _club("bench-list")
    _catalogue(club, offers)
    member_ids = _members(club, 1, prefix="list")
    return {"club": club.slug, "club_id": club.pk, "token": token, "bearer": _bearer(member_ids)[0]}


def _ledger(membership: Membership, count: int, *, now) -> None:
    """`count` transactions over the last three years: achievements of 10 points (each with its lot, valid
    365 days) and, every fifth, a purchase of 20 points drawn from the oldest lots (no allocations are
    written: the status page does not read them). Caches are set to what the rows say."""
    start = now - timedelta(days=3 * 365)
    step = (now - start) / max(count, 1)
    txs, lots = [], []
    for i in range(count):
        date = start + step * i
        if i % 5 == 4:
            txs.append(
                Transaction(
                    membership=membership,
                    type=Transaction.REWARD_PURCHASE,
                    date=date,
                    amount=-20,
                    details={"reward_name": "Coffee", "reward_id": 1},
                )
            )
        else:
            txs.append(
                Transaction(
                    membership=membership,
                    type=Transaction.ACHIEVEMENT,
                    date=date,
                    amount=10,
                    details={"achievement_type": "app_opened"},
                    achievement_type="app_opened",
                )
            )
    Transaction.objects.bulk_create(txs, batch_size=5000)
    earned = [tx for tx in txs if tx.amount > 0]
    spent = 20 * (count - len(earned))
    for tx in earned:  # FIFO: the oldest lots paid for the purchases
        take = min(spent, 10)
        spent -= take
        lots.append(
            Lot(
                transaction=tx,
                membership=membership,
                amount=10,
                remaining=10 - take,
                expires_at=tx.date + timedelta(days=365),
            )
        )
    Lot.objects.bulk_create(lots, batch_size=5000)
    balance = sum(lot.remaining for lot in lots)
    Membership.objects.filter(pk=membership.pk).update(balance=balance, lifetime_points=10 * len(earned))


def seed_status(*, big: int = 100_000, small: int = 10) -> dict:
    """Target 4: two members of one club, with 100 000 and with 10 ledger transactions."""
    club, token = _club("bench-status")
    ProgramConfig.objects.get_or_create(club=club)
    member_ids = _members(club, 2, prefix="status")
    now = timezone.now()
    for member_id, count in zip(member_ids, (big, small), strict=True):
        membership = Membership.objects.create(member_id=member_id, started_at=now - timedelta(days=3 * 365 + 1))
        _ledger(membership, count, now=now)
    return {"club": club.slug, "token": token, "big": member_ids[0], "small": member_ids[1]}


# The scaling ledger, written by PostgreSQL itself (a million rows through bulk_create would take minutes).
# Transaction i (0-based) of a member is, every fifth, a purchase of 20 points, else an achievement of 10
# points; dates are evenly spread over the last three years, so ids and dates grow together. Purchase j
# draws the oldest lots 2j and 2j + 1 in full: the FIFO plan at the time of the purchase (every lot is
# valid VALIDITY_DAYS, so the soonest-expiring lot is the oldest, and lot 2j + 1 was earned before purchase
# j), written as its two allocations and its RewardPurchase. No lot has expired yet, so no expiration is
# missing. Balance, lifetime points and (by the trigger) transactions_count follow from the rows.
SCALING_VALIDITY_DAYS = 3650

_SCALING_LEDGER_SQL = [
    """
    INSERT INTO rewards_transaction (membership_id, type, date, amount, details, achievement_type)
    SELECT %(membership)s,
        CASE WHEN i %% 5 = 4 THEN 'reward_purchase' ELSE 'achievement' END,
        %(start)s::timestamptz + (i::bigint * %(step)s::bigint) * interval '1 microsecond',
        CASE WHEN i %% 5 = 4 THEN -20 ELSE 10 END,
        CASE WHEN i %% 5 = 4 THEN jsonb_build_object('reward_name', 'Coffee', 'reward_id', %(reward)s)
             ELSE jsonb_build_object('achievement_type', 'app_opened', 'rule_id', %(rule)s) END,
        CASE WHEN i %% 5 = 4 THEN NULL ELSE 'app_opened' END
    FROM generate_series(0, %(count)s - 1) AS i ORDER BY i
    """,
    """
    INSERT INTO rewards_lot (transaction_id, membership_id, amount, remaining, expires_at, expiry_round)
    SELECT id, membership_id, amount,
        CASE WHEN row_number() OVER (ORDER BY id) <= 2 * %(purchases)s THEN 0 ELSE amount END,
        date + %(validity)s * interval '1 day', 0
    FROM rewards_transaction WHERE membership_id = %(membership)s AND type = 'achievement' ORDER BY id
    """,
    """
    WITH purchase AS (
        SELECT id, row_number() OVER (ORDER BY id) - 1 AS j FROM rewards_transaction
        WHERE membership_id = %(membership)s AND type = 'reward_purchase'
    ), lot AS (
        SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM rewards_lot WHERE membership_id = %(membership)s
    )
    INSERT INTO rewards_allocation (transaction_id, lot_id, points)
    SELECT purchase.id, lot.id, 10 FROM purchase JOIN lot ON lot.k / 2 = purchase.j ORDER BY lot.id
    """,
    """
    INSERT INTO rewards_rewardpurchase (membership_id, reward_id, transaction_id, purchased_at, uses_count)
    SELECT membership_id, %(reward)s, id, date, 0 FROM rewards_transaction
    WHERE membership_id = %(membership)s AND type = 'reward_purchase' ORDER BY id
    """,
    """
    UPDATE rewards_membership SET
        balance = (SELECT sum(amount) FROM rewards_transaction WHERE membership_id = %(membership)s),
        lifetime_points = (SELECT sum(amount) FROM rewards_transaction
                           WHERE membership_id = %(membership)s AND type = 'achievement')
    WHERE id = %(membership)s
    """,
]


def _ledger_sql(membership: Membership, count: int, *, now, rule: Achievement, reward: Reward) -> None:
    start = now - timedelta(days=3 * 365)
    step_us = int((now - start) / timedelta(microseconds=1)) // max(count, 1)
    params = {
        "membership": membership.pk,
        "count": count,
        "start": start,
        "step": step_us,
        "purchases": count // 5,
        "validity": SCALING_VALIDITY_DAYS,
        "rule": rule.pk,
        "reward": reward.pk,
    }
    with connection.cursor() as cursor:
        for statement in _SCALING_LEDGER_SQL:
            cursor.execute(statement, params)
    Reward.objects.filter(pk=reward.pk).update(purchased_count=F("purchased_count") + count // 5)


def seed_status_scaling(*, big: int = 1_000_000, small: int = 1_000) -> dict:
    """Issue 21, target 5: two members of one club (Europe/Oslo), with 1 000 000 and with 1 000 ledger
    transactions, every ledger invariant holding (lots, allocations, purchases, caches)."""
    club, token = _club("bench-status-scaling", timezone="Europe/Oslo")
    ProgramConfig.objects.update_or_create(
        club=club,
        defaults={
            "points_validity_days": SCALING_VALIDITY_DAYS,
            "levels_program": {
                "type": "regular",
                "levels": [{"name": "Bronze", "points_threshold": 0}, {"name": "Gold", "points_threshold": 5000}],
            },
        },
    )
    rule = Achievement.objects.create(club=club, type="app_opened", name="Visit", points=10)
    reward = Reward.objects.create(club=club, name="Coffee", price=20, status=Reward.PUBLISHED)
    member_ids = _members(club, 2, prefix="scaling")
    now = timezone.now()
    for member_id, count in zip(member_ids, (big, small), strict=True):
        membership = Membership.objects.create(member_id=member_id, started_at=now - timedelta(days=3 * 365 + 1))
        _ledger_sql(membership, count, now=now, rule=rule, reward=reward)
    return {"club": club.slug, "token": token, "big": member_ids[0], "small": member_ids[1], "sizes": [big, small]}


def seed_mixed(*, members: int = 2000, offers: int = 60) -> dict:
    """Targets 6 and 7: a demo-sized club (60 offers) whose members are signed in, joined, with points, a
    reward to buy and an achievement to report."""
    club, token = _club("bench-mixed")
    ProgramConfig.objects.get_or_create(club=club)
    offer_ids = _catalogue(club, offers)
    member_ids = _members(club, members, prefix="mixed")
    now = timezone.now()
    memberships = Membership.objects.bulk_create(
        [Membership(member_id=pk, started_at=now - timedelta(days=30)) for pk in member_ids]
    )
    txs = Transaction.objects.bulk_create(
        [
            Transaction(
                membership=m,
                type=Transaction.ACHIEVEMENT,
                date=now - timedelta(days=10 + k),
                amount=100,
                details={"achievement_type": "app_opened"},
                achievement_type="app_opened",
            )
            for m in memberships
            for k in range(10)
        ],
        batch_size=5000,
    )
    Lot.objects.bulk_create(
        [
            Lot(
                transaction=tx,
                membership_id=tx.membership_id,
                amount=100,
                remaining=100,
                expires_at=tx.date + timedelta(days=365),
            )
            for tx in txs
        ],
        batch_size=5000,
    )
    Membership.objects.filter(pk__in=[m.pk for m in memberships]).update(balance=1000, lifetime_points=1000)
    Achievement.objects.create(club=club, type="app_opened", name="Visit", points=10)
    reward = Reward.objects.create(club=club, name="Coffee", price=1, status=Reward.PUBLISHED)
    with transaction.atomic():
        bearers = _bearer(member_ids)
    return {
        "club": club.slug,
        "token": token,
        "offer_ids": offer_ids,
        "member_ids": member_ids,
        "bearers": bearers,
        "reward_id": reward.pk,
    }


def seed_scaling(*, size: int = 1000) -> dict:
    """Issue 21, target 1: a club with `size` published offers (the `_catalogue` of target 2) and `size`
    rewards of which 100 are on offer (the rest archived: the shop's history), a joined, signed-in member."""
    club, token = _club(f"bench-scale-{size}")
    ProgramConfig.objects.get_or_create(club=club)
    _catalogue(club, size)
    member_ids = _members(club, 1, prefix=f"scale{size}-")
    Membership.objects.create(member_id=member_ids[0], started_at=timezone.now() - timedelta(days=30))
    now = timezone.now()
    Reward.objects.bulk_create(
        [
            Reward(
                club=club,
                name=f"Reward {i:06d}",
                price=10 + i % 90,
                status=Reward.PUBLISHED,
                archived_at=None if i < 100 else now - timedelta(days=1),
            )
            for i in range(max(size, 100))
        ],
        batch_size=5000,
    )
    return {"club": club.slug, "club_id": club.pk, "token": token, "bearer": _bearer(member_ids)[0]}


def seed_plumbing(*, members: int = 2000, bearers: int = 200) -> dict:
    """Issue 21, target 2: a club whose members are looked up by id (and the first `bearers` also by token)."""
    club, token = _club("bench-plumbing")
    member_ids = _members(club, members, prefix="plumbing")
    with transaction.atomic():
        tokens = _bearer(member_ids[:bearers])
    return {"club": club.slug, "token": token, "member_ids": _span(member_ids), "bearers": tokens}


def _span(ids: list[int]) -> dict:
    """Contiguous ids as {first, count} (bulk_create in a fresh table), so Lua scripts stay small."""
    ids = sorted(ids)
    assert ids[-1] - ids[0] + 1 == len(ids), "member ids are not contiguous"
    return {"first": ids[0], "count": len(ids)}


SCENARIOS = {
    "use": seed_use,
    "hot": seed_hot,
    "list": seed_list,
    "status": seed_status,
    "status_scaling": seed_status_scaling,
    "mixed": seed_mixed,
    "scaling": seed_scaling,
    "plumbing": seed_plumbing,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--club", help="existing club slug (hot)")
    parser.add_argument("--size", type=int, help="offers and rewards of the club (scaling)")
    parser.add_argument("--big", type=int, help="ledger size of the big member (status, status_scaling)")
    parser.add_argument("--small", type=int, help="ledger size of the small member (status, status_scaling)")
    args = parser.parse_args()
    names = ("club", "size", "big", "small")
    kwargs = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    with transaction.atomic():
        result = SCENARIOS[args.scenario](**kwargs)
    print("BENCHDATA " + json.dumps(result))


if __name__ == "__main__":
    main()
