"""seed_demo: a realistic club whose bulk-written ledger and counters satisfy every invariant the services keep,
and re-runs that add only what is missing."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, F, Q

from backoffice.seed import DEMO_SLUG, SeedReport, _write_chunk, demo_seed
from backoffice.seed.simulate import ChunkRows, Ledger, MemberRow, MembershipRow, RewardSim, World
from backoffice.seed.writer import BulkWriter
from loyalty.models import ClientToken, LoyaltyClub, Member
from loyalty.normalizers import member_attributes_normalize
from loyalty.services.tokens import client_token_issue
from offers.models import Offer, OfferGrant, OfferMemberState, OfferStatus, OfferType, OfferUsage, Scope
from rewards import services as rewards_services
from rewards.models import Lot, Membership, Reward, RewardPurchase, Transaction
from rewards.selectors import ledger_reconcile

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def seeded(db):
    report = demo_seed(members=60, offers=30, transactions_per_member=10, now=NOW)
    return LoyaltyClub.objects.get(slug=DEMO_SLUG), report


def test_the_seeded_ledger_reconciles_for_every_member(seeded):
    club, report = seeded

    result = ledger_reconcile(club=club)

    assert result.mismatches == []
    assert result.members_checked == Membership.objects.filter(member__club=club).count() > 40
    out = StringIO()
    call_command("reconcile_balances", "--club", club.slug, "--json", stdout=out)  # exits 1 on a mismatch
    assert json.loads(out.getvalue())["mismatches"] == []
    assert report.rows["transactions"] == Transaction.objects.count()


def test_the_ledger_has_every_kind_of_transaction(seeded):
    types = set(Transaction.objects.values_list("type", flat=True))

    assert types == set(Transaction.TYPES)
    assert Transaction.objects.filter(type="expiration", amount__lt=0).exists()
    assert Transaction.objects.filter(type="correction", amount__lt=0).exists()
    assert RewardPurchase.objects.filter(cancelled_at__isnull=False).exists()
    assert RewardPurchase.objects.filter(uses_count__gt=0).exists()


def test_offer_counters_equal_their_rows_and_limits_hold(seeded):
    club, _ = seeded
    offers = Offer.objects.filter(club=club).annotate(
        usages_n=Count("usages", distinct=True), grants_n=Count("grants", distinct=True)
    )
    for offer in offers:
        assert (offer.uses_count, offer.grants_count) == (offer.usages_n, offer.grants_n), offer.internal_name
        assert offer.stock is None or offer.uses_count <= offer.stock
    assert not OfferGrant.objects.annotate(n=Count("usages")).exclude(n=F("uses_count")).exists()
    for state in OfferMemberState.objects.all():
        usages = OfferUsage.objects.filter(offer_id=state.offer_id, member_id=state.member_id)
        assert state.uses_count == usages.count()
        assert (
            state.grants_count == OfferGrant.objects.filter(offer_id=state.offer_id, member_id=state.member_id).count()
        )
        assert state.last_used_at == max(usages.values_list("used_at", flat=True), default=None)
    limited = Offer.objects.filter(club=club, maximum_uses_per_user__isnull=False, type=OfferType.REGULAR)
    for offer in limited:
        assert not OfferMemberState.objects.filter(offer=offer, uses_count__gt=offer.maximum_uses_per_user).exists()


def test_uses_respect_status_scope_windows_audience_and_grants(seeded):
    club, _ = seeded
    usages = OfferUsage.objects.filter(offer__club=club)

    assert usages.exists()
    assert not usages.filter(offer__status=OfferStatus.DRAFT).exists()
    assert not usages.filter(offer__scope=Scope.INFORMATIONAL).exists()
    assert not usages.filter(offer__archived_at__lte=F("used_at")).exists()
    assert not usages.filter(offer__usable_until__lte=F("used_at")).exists()
    assert not usages.filter(offer__usable_since__gt=F("used_at")).exists()
    assert not usages.filter(used_at__lt=F("offer__created_at")).exists()
    granted_types = [OfferType.EXCLUSIVE, OfferType.BIRTHDAY, OfferType.WELCOME]
    assert not usages.filter(offer__type__in=granted_types, grant__isnull=True).exists()
    assert not usages.filter(grant__granted_at__gt=F("used_at")).exists()
    assert not usages.filter(grant__usable_until__lte=F("used_at")).exists()
    audience = usages.filter(offer__audience__isnull=False)
    assert audience.exists()
    assert not audience.exclude(member__group_memberships__group=F("offer__audience")).exists()


def test_rewards_sold_match_purchases_and_stock_and_levels_hold(seeded):
    club, _ = seeded
    for reward in Reward.objects.filter(club=club).annotate(
        live=Count("purchases", filter=Q(purchases__cancelled_at__isnull=True))
    ):
        assert reward.purchased_count == reward.live, reward.name
        assert reward.stock is None or reward.purchased_count <= reward.stock
    assert not RewardPurchase.objects.filter(reward__status=Reward.DRAFT).exists()
    assert not RewardPurchase.objects.filter(reward__archived_at__lte=F("purchased_at")).exists()


def test_the_catalogue_covers_every_offer_type_scope_and_status(seeded):
    club, report = seeded
    offers = Offer.objects.filter(club=club)

    assert set(offers.values_list("type", flat=True)) == set(OfferType.values)
    assert set(offers.values_list("scope", flat=True)) == set(Scope.values)
    assert offers.filter(status=OfferStatus.DRAFT).exists()
    assert offers.filter(archived_at__isnull=False).exists()
    assert offers.filter(stock__isnull=False).exists() and offers.filter(periodic_timespan__isnull=False).exists()
    assert offers.filter(audience__isnull=False).exists() and offers.filter(usable_until__lt=NOW).exists()
    assert offers.filter(collections__isnull=False).distinct().count() >= 10
    assert offers.filter(store_rows__isnull=False).count() == offers.count() == 30
    assert club.timezone == "Europe/Oslo"
    assert report.catalog_created["offers"] == 30


def test_members_are_valid_by_the_members_rules(seeded):
    club, _ = seeded
    members = list(Member.objects.filter(club=club))

    assert len(members) == 60
    for member in members:
        properties = {f: getattr(member, f) for f in ("email", "msisdn", "first_name", "last_name", "language")}
        normalized, errors = member_attributes_normalize({k: v for k, v in properties.items() if v is not None})
        assert errors == {}, member.pk
        assert normalized["msisdn"] == member.msisdn
        assert member.created_at <= NOW


def test_the_services_keep_working_on_seeded_data(seeded):
    club, _ = seeded
    purchase = (
        RewardPurchase.objects.filter(membership__member__club=club, cancelled_at__isnull=True, uses_count=0)
        .select_related("membership__member")
        .first()
    )
    member = purchase.membership.member
    member.banned_until = None

    rewards_services.transaction_cancel(member=member, transaction_id=purchase.transaction_id)
    rewards_services.points_correct(member=member, points=-1, comment="test")
    a_year_later = NOW + timedelta(days=400)
    expired = rewards_services.points_expire_due(as_of=a_year_later)

    assert expired.lots > 0
    assert ledger_reconcile(club=club).mismatches == []
    assert not Lot.objects.filter(membership__member__club=club, remaining__gt=0, expires_at__lte=a_year_later).exists()


def test_running_again_with_the_same_arguments_writes_nothing(seeded):
    counts = (Member.objects.count(), Transaction.objects.count(), OfferUsage.objects.count(), Offer.objects.count())

    report = demo_seed(members=60, offers=30, transactions_per_member=10, now=NOW)

    assert (report.members_created, report.members_existing, report.catalog_created, report.rows) == (0, 60, {}, {})
    assert counts == (
        Member.objects.count(),
        Transaction.objects.count(),
        OfferUsage.objects.count(),
        Offer.objects.count(),
    )


def test_a_larger_run_tops_up_members_and_offers_without_touching_existing_histories(seeded):
    club, _ = seeded
    before = dict(Membership.objects.values_list("member_id", "balance"))

    report = demo_seed(members=70, offers=32, transactions_per_member=10, now=NOW + timedelta(days=1))

    assert (report.members_created, report.catalog_created) == (10, {"offers": 2})
    assert Member.objects.filter(club=club).count() == 70
    assert {k: v for k, v in Membership.objects.values_list("member_id", "balance") if k in before} == before
    assert ledger_reconcile(club=club).mismatches == []


def test_reset_starts_over_but_keeps_the_club_and_its_tokens(seeded):
    club, _ = seeded
    token = client_token_issue(name="demo", policies=["FullAccess"], loyalty_club_ids=[club.id], product=None)

    report = demo_seed(members=5, offers=3, transactions_per_member=2, now=NOW, reset=True)

    assert report.members_created == 5
    assert Member.objects.filter(club=club).count() == 5
    assert Offer.objects.filter(club=club).count() == 3
    assert LoyaltyClub.objects.filter(pk=club.pk).exists()
    assert ClientToken.objects.filter(pk=token.token.pk, revoked_at__isnull=True).exists()
    assert ledger_reconcile(club=club).mismatches == []


def test_a_refund_into_an_expired_lot_and_a_lot_cancellation_are_written_like_the_services_do(db):
    """The rare paths of the simulated ledger, forced: a purchase refunded after the lot it drew from expired
    (the lot expires again, in round 1, dated at the refund) and a grant cancelled after part of it was spent
    (its own unspent points first, then FIFO)."""
    club = LoyaltyClub.objects.create(slug="ledger-paths", name="Ledger paths", timezone="Europe/Oslo")
    start = NOW - timedelta(days=500)
    world = World(
        now=NOW,
        tz=club.tzinfo,
        seed=1,
        transactions_per_member=0,
        activation=timedelta(seconds=30),
        validity=timedelta(days=365),
        levels_program=None,
        offers=[],
        rewards=[],
        achievements={},
        groups={},
        group_shares={},
    )
    rows = ChunkRows()
    member = MemberRow()
    member.idx, member.id, member.email, member.msisdn = 1, None, "paths@example.com", "4798999999"
    member.first_name = member.last_name = member.birthday = member.language = member.banned_until = None
    member.password, member.created_at, member.groups = "", start, set()
    rows.members.append(member)
    membership = MembershipRow(member, start)
    rows.memberships.append(membership)
    ledger = Ledger(world, membership, rows)
    toaster = RewardSim(Reward.objects.create(club=club, name="Toaster", price=80, status=Reward.PUBLISHED), 1)
    day = lambda n: start + timedelta(days=n)  # noqa: E731

    first = ledger.credit(Transaction.GRANT, day(0), 100, {})
    assert ledger.purchase(toaster, day(10), random.Random(0))  # 80 of the 100
    ledger.expire_due(day(366))  # the other 20 expire at day 365: round 0
    purchase = ledger.purchases[0]
    assert purchase.uses_count == 0
    second = ledger.credit(Transaction.GRANT, day(370), 50, {})
    assert ledger.cancel_purchase(purchase, day(380), {toaster.id: toaster})  # 80 back into the expired lot
    ledger.credit(Transaction.GRANT, day(385), 100, {})
    assert ledger.debit(Transaction.CORRECTION, day(390), 30, {"comment": "oops"}) is not None  # 30 of `second`
    assert ledger.cancel_lot(second, day(395))  # its 20 left, then 30 of the third grant
    ledger.expire_due(NOW)

    with transaction.atomic():
        _write_chunk(BulkWriter(), world, club, rows, SeedReport(club=club.slug))

    assert ledger_reconcile(club=club).mismatches == []
    expirations = list(
        Transaction.objects.filter(type="expiration").order_by("date").values_list("amount", "expiry_round", "date")
    )
    assert expirations == [(-20, 0, day(365)), (-80, 1, day(380))]
    assert Transaction.objects.get(pk=first.id).expired_at == day(365)
    assert Lot.objects.get(transaction_id=first.id).refunded_at == day(380)
    membership = Membership.objects.get(member__club=club)
    assert (membership.balance, membership.lifetime_points) == (70, 200)


def test_the_command_reports_and_refuses_bad_arguments(db):
    out = StringIO()
    call_command("seed_demo", "--members", "3", "--offers", "5", "--transactions-per-member", "2", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert (report["club"], report["members_created"], report["catalog_created"]["offers"]) == (DEMO_SLUG, 3, 5)
    assert report["demo_login"] and report["rows"]["members"] == 3

    human = StringIO()
    call_command("seed_demo", "--members", "3", "--offers", "5", stdout=human)
    assert "0 demo members created (3 existed)" in human.getvalue()
    with pytest.raises(CommandError):
        call_command("seed_demo", "--members", "-1")
