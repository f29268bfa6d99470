"""The offers part of `reconcile_balances`: clean after real uses and grants, and each counter that drifts
from its rows is named."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F

from offers.invariants import offers_reconcile
from offers.models import Offer, OfferGrant, OfferMemberState, OfferType, OfferUsage
from offers.services import grants, use
from tests.factories import MemberFactory
from tests.offers.factories import OfferFactory
from tests.reliability.invariants import assert_invariants, invariant_violations


@pytest.fixture
def used(club, member):
    """A REGULAR offer used twice (by two members) and an EXCLUSIVE one granted twice and used once."""
    regular = OfferFactory(club=club, stock=5)
    exclusive = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    use.offer_use(offer=regular, member=member)
    use.offer_use(offer=regular, member=MemberFactory(club=club))
    grants.offer_grant(offer=exclusive, member=member)
    grants.offer_grant(offer=exclusive, member=member)
    use.offer_use(offer=exclusive, member=member)
    return regular, exclusive


def _reconcile_json(*args) -> tuple[int, dict]:
    out = StringIO()
    try:
        call_command("reconcile_balances", "--json", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue())


def test_real_uses_and_grants_reconcile(club, used):
    assert_invariants()
    assert _reconcile_json("--club", club.slug) == (0, {"members_checked": 0, "offers_checked": 2, "mismatches": []})


def test_an_offer_counter_out_of_step_with_its_rows_is_reported_and_exits_1(club, used):
    regular, exclusive = used
    Offer.objects.filter(pk=regular.pk).update(uses_count=F("uses_count") + 1)  # a use without its row
    OfferUsage.objects.filter(offer=exclusive).delete()  # a row lost after its counter moved
    OfferGrant.objects.filter(offer=exclusive).update(uses_count=0)

    code, report = _reconcile_json()

    assert code == 1
    checks = {(m["check"], m["offer_id"]) for m in report["mismatches"]}
    assert checks == {
        ("offer_uses_count", regular.pk),
        ("offer_uses_count", exclusive.pk),
        ("member_state_uses_count", exclusive.pk),
    }
    assert [m for m in report["mismatches"] if m["offer_id"] == regular.pk] == [
        {"offer_id": regular.pk, "check": "offer_uses_count", "expected": 2, "actual": 3}
    ]


def test_a_grant_counter_out_of_step_is_reported(club, member, used):
    _, exclusive = used
    Offer.objects.filter(pk=exclusive.pk).update(grants_count=1)
    OfferMemberState.objects.filter(offer=exclusive, member=member).update(grants_count=5)
    OfferGrant.objects.filter(offer=exclusive).order_by("pk").filter(uses_count=1).update(uses_count=2)

    checks = sorted(m["check"] for m in offers_reconcile(club=club).mismatches)

    assert checks == ["grant_uses_count", "member_state_grants_count", "offer_grants_count"]


def test_a_reward_whose_purchase_counter_fell_below_its_purchases_is_reported(club, member, db):
    from rewards import services as rewards
    from rewards.models import Reward

    rewards.membership_join(member=member)
    rewards.points_grant(member=member, points=100)
    reward = Reward.objects.create(club=club, name="Mug", price=10, status=Reward.PUBLISHED)
    rewards.reward_purchase(member=member, reward=reward)
    assert invariant_violations() == []

    Reward.objects.filter(pk=reward.pk).update(purchased_count=0)

    assert [v["check"] for v in invariant_violations()] == ["reward_purchased_count"]
