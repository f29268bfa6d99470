"""Crash consistency: the API under gunicorn (production settings) takes a burst of offer uses, point grants
and reward purchases from many clients at once; gunicorn workers are SIGKILLed in the middle of it. Whatever
a dead worker was doing is either wholly written or not at all: every usage has its counter increments,
every ledger write its allocations and balance, every purchase its transaction and stock, and the
invariants (what `reconcile_balances` checks) hold. A request whose answer was lost may have committed, so the
counts are bounded by the answers: successes <= rows <= successes + lost answers.

PostgreSQL only: the workers share the test database, which `transaction=True` commits to.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
from django.db import connection

from bench.harness import Gunicorn, bench_env
from loyalty.services.oauth import oauth_tokens_issue
from loyalty.services.tokens import client_token_issue
from offers.models import Offer, OfferMemberState, OfferUsage
from rewards import services as rewards
from rewards.models import Membership, Reward, RewardPurchase, Transaction
from tests.factories import LoyaltyClubFactory, MemberFactory
from tests.offers.factories import OfferFactory
from tests.reliability.invariants import assert_invariants

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MEMBERS = 8
CLIENT_THREADS = 8
REQUESTS_PER_THREAD = 20
OFFER_STOCK = 70  # below the uses sent: the global limit is reached during the burst
REWARD_STOCK = 30  # likewise, and some members run out of points first
KILLS_AFTER = (40, 100)  # SIGKILL a worker after this many answers


@dataclass
class Tally:
    answers: Counter = field(default_factory=Counter)  # (kind, status)
    lost: Counter = field(default_factory=Counter)  # kind -> requests without an answer (connection died)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def answered(self) -> int:
        return sum(self.answers.values())

    def ok(self, kind: str) -> int:
        return self.answers[(kind, 200)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _world():
    club = LoyaltyClubFactory(slug="crash-mall", activated_seconds_time=0)
    token = client_token_issue(
        name="crash", permits=[], policies=["FullAccess"], loyalty_club_ids=[club.id], product=None
    )
    offer = OfferFactory(club=club, stock=OFFER_STOCK)
    reward = Reward.objects.create(club=club, name="Mug", price=3, status=Reward.PUBLISHED, stock=REWARD_STOCK)
    members = []
    for i in range(MEMBERS):
        member = MemberFactory(club=club, email=f"crash{i}@example.com")
        rewards.membership_join(member=member)
        rewards.points_grant(member=member, points=30)  # ten purchases' worth: "Not enough points" happens too
        members.append((member.id, oauth_tokens_issue(member=member).access_token))
    return club, token.secret, offer, reward, members


def _burst(base_url: str, slug: str, secret: str, offer_id: int, reward_id: int, members, tally: Tally, start):
    def client(n: int) -> None:
        member_id, bearer = members[n % len(members)]
        session = requests.Session()
        session.headers.update({"X-Client-Authorization": secret, "X-User-Agent": "crash", "X-Product-Name": "t"})
        me = {"Authorization": f"Bearer {bearer}"}
        calls = {
            "use": ("post", f"/v3/{slug}/members/me/offers/{offer_id}/use", me, {}),
            "purchase": ("post", f"/v3/{slug}/members/me/rewards-program/rewards/{reward_id}/purchase", me, {}),
            "grant": ("post", f"/v1/{slug}/members/{member_id}/rewards-program/grant_points", {}, {"points": 2}),
        }
        kinds = ["use", "purchase", "use", "grant"]
        start.wait()
        for i in range(REQUESTS_PER_THREAD):
            kind = kinds[(i + n) % len(kinds)]
            method, path, headers, body = calls[kind]
            try:
                response = session.request(method, base_url + path, headers=headers, json=body, timeout=20)
            except requests.RequestException:
                with tally.lock:
                    tally.lost[kind] += 1
                session = requests.Session()  # the connection died with its worker
                session.headers.update(
                    {"X-Client-Authorization": secret, "X-User-Agent": "crash", "X-Product-Name": "t"}
                )
                continue
            with tally.lock:
                tally.answers[(kind, response.status_code)] += 1

    return [threading.Thread(target=client, args=(n,)) for n in range(CLIENT_THREADS)]


def test_killing_workers_mid_burst_leaves_no_partial_write():
    club, secret, offer, reward, members = _world()
    database = connection.settings_dict
    url = (
        f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"
    )
    env = bench_env(url, LOG_LEVEL="ERROR", DATABASE_CONN_MAX_AGE="0")
    env.pop("PYTEST_CURRENT_TEST", None)
    tally = Tally()
    killed: list[int] = []
    kill_times: list[float] = []

    began = time.monotonic()
    with Gunicorn(env, workers=2, threads=2, port=_free_port()) as server:
        up = time.monotonic()
        start = threading.Event()
        threads = _burst(server.base_url, club.slug, secret, offer.id, reward.id, members, tally, start)
        for thread in threads:
            thread.start()
        start.set()
        for threshold in KILLS_AFTER:
            deadline = time.monotonic() + 30
            while tally.answered < threshold and time.monotonic() < deadline and any(t.is_alive() for t in threads):
                time.sleep(0.005)
            victim = server.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            kill_times.append(round(time.monotonic() - up, 1))
        for thread in threads:
            thread.join(timeout=60)
        survivors = server.worker_pids()
        burst = time.monotonic() - up

    print(
        f"gunicorn up in {up - began:.1f}s, burst {burst:.1f}s, kills at {kill_times}s; "
        f"answers={dict(tally.answers)} lost={dict(tally.lost)}"
    )
    assert len(killed) == 2 and not set(killed) & set(survivors), "the workers were not killed"
    assert tally.answered >= CLIENT_THREADS * REQUESTS_PER_THREAD // 2, "the burst did not run"
    assert not [key for key in tally.answers if key[1] >= 500], tally.answers

    # Every use: its row, the offer's counter and the member's counter, or none of them.
    usages = OfferUsage.objects.filter(offer=offer).count()
    assert tally.ok("use") <= usages <= tally.ok("use") + tally.lost["use"]
    assert Offer.objects.get(pk=offer.pk).uses_count == usages <= OFFER_STOCK
    assert sum(OfferMemberState.objects.filter(offer=offer).values_list("uses_count", flat=True)) == usages

    # Every purchase: its row, its transaction (with allocations), and the reward's stock.
    purchases = RewardPurchase.objects.filter(reward=reward).count()
    assert tally.ok("purchase") <= purchases <= tally.ok("purchase") + tally.lost["purchase"]
    assert Transaction.objects.filter(type=Transaction.REWARD_PURCHASE).count() == purchases
    assert Reward.objects.get(pk=reward.pk).purchased_count == purchases <= REWARD_STOCK

    # Every grant: its row, and the balance moves with it (reconciled below).
    grants = Transaction.objects.filter(type=Transaction.GRANT).count() - MEMBERS
    assert tally.ok("grant") <= grants <= tally.ok("grant") + tally.lost["grant"]
    balances = sum(Membership.objects.values_list("balance", flat=True))
    assert balances == MEMBERS * 30 + 2 * grants - 3 * purchases

    assert_invariants(club=club)
