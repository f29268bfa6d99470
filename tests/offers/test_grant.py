"""POST {member_id}/offers/{id}/grant (SPEC §4.6) and the welcome grants on member creation (§8)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from loyalty.signals import member_created
from offers.models import Offer, OfferGrant, OfferMemberState, OfferType
from offers.services.grants import offer_grant, offers_grant_welcome
from tests.factories import MemberFactory, MemberGroupFactory
from tests.offers.conftest import BASE
from tests.offers.factories import OfferFactory

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def grant(api, member):
    def _grant(offer, body=None, member_id=None):
        url = f"{BASE}/{member_id or member.id}/offers/{offer if isinstance(offer, int) else offer.id}/grant"
        return api.post(url, body if body is not None else {}, format="json")

    return _grant


def error(response):
    return response.status_code, response.json()


def test_a_grant_answers_an_empty_object_and_makes_the_offer_usable(grant, api, club, member, emitted):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, maximum_uses_per_user=2)

    response = grant(offer)

    assert (response.status_code, response.json()) == (200, {})
    stored = OfferGrant.objects.get()
    assert (stored.offer_id, stored.member_id, stored.granted_at, stored.usable_until) == (
        offer.id,
        member.id,
        NOW,
        None,
    )
    assert Offer.objects.get(pk=offer.pk).grants_count == 1
    usage = api.get(f"{BASE}/{member.id}/offers/{offer.id}").json()["offer"]["usage"]
    assert (usage["usable"], usage["max_uses"], usage["uses_left"]) == (True, 2, 2)
    assert [(t, e["data"]["grant_id"]) for t, e in emitted] == [("offer.granted", stored.id)]


def test_usable_for_seconds_limits_the_grant(grant, api, club, member, clock):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)

    assert grant(offer, {"usable_for_seconds": 3600}).status_code == 200

    assert OfferGrant.objects.get().usable_until == NOW + timedelta(hours=1)
    clock.shift(timedelta(minutes=59))
    assert api.post(f"{BASE}/{member.id}/offers/{offer.id}/use", {}, format="json").status_code == 200
    clock.shift(timedelta(minutes=2))
    response = api.post(f"{BASE}/{member.id}/offers/{offer.id}/use", {}, format="json")
    assert error(response) == (422, {"error": "Not granted"})


def test_granting_again_stacks_uses(grant, api, club, member):
    offer = OfferFactory(club=club, type=OfferType.BIRTHDAY, maximum_uses_per_user=3)
    grant(offer)
    grant(offer)
    usage = api.get(f"{BASE}/{member.id}/offers/{offer.id}").json()["offer"]["usage"]
    assert (usage["max_uses"], usage["uses_left"]) == (6, 6)


def test_a_regular_offer_is_not_grantable(grant, club):
    assert error(grant(OfferFactory(club=club))) == (422, {"error": "Not grantable"})
    assert not OfferGrant.objects.exists()


def test_the_grant_limit_per_member_answers_user_grant_limit_exceeded(grant, club, member):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, maximum_grants_per_user=2)
    assert grant(offer).status_code == grant(offer).status_code == 200

    assert error(grant(offer)) == (422, {"error": "User grant limit exceeded"})
    assert OfferGrant.objects.count() == 2
    assert OfferMemberState.objects.get(offer=offer, member=member).grants_count == 2
    other = MemberFactory(club=club)
    assert grant(offer, member_id=other.id).status_code == 200


def test_expired_grants_still_count_against_the_grant_limit(grant, club, clock):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, maximum_grants_per_user=1)
    grant(offer, {"usable_for_seconds": 60})
    clock.shift(timedelta(minutes=5))
    assert error(grant(offer)) == (422, {"error": "User grant limit exceeded"})


def test_a_grant_when_the_stock_is_used_up_answers_global_limit_exceeded(grant, club):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, stock=1)
    Offer.objects.filter(pk=offer.pk).update(uses_count=1)
    assert error(grant(offer)) == (422, {"error": "Global limit exceeded"})
    assert Offer.objects.get(pk=offer.pk).grants_count == 0


def test_a_member_outside_the_audience_cannot_be_granted(grant, club, member):
    group = MemberGroupFactory(club=club)
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, audience=group)

    assert error(grant(offer)) == (422, {"error": "Member not in audience"})
    group.members.add(member)
    assert grant(offer).status_code == 200


def test_a_banned_member_cannot_be_granted(grant, club, member):
    member.banned_until = NOW + timedelta(days=3)
    member.save(update_fields=["banned_until"])
    offer = OfferFactory(club=club)  # even a REGULAR offer: 467 comes first
    assert error(grant(offer)) == (467, {"error": "Member is banned!", "banned_until": "2030-05-04T12:00:00.000Z"})


def test_grant_errors_come_in_order(grant, club, member):
    group = MemberGroupFactory(club=club)
    # Not grantable before audience, audience before the grant limit, grant limit before the stock.
    regular = OfferFactory(club=club, audience=group)
    assert grant(regular).json() == {"error": "Not grantable"}
    outside = OfferFactory(club=club, type=OfferType.EXCLUSIVE, audience=group, stock=0)
    assert grant(outside).json() == {"error": "Member not in audience"}
    limited = OfferFactory(club=club, type=OfferType.EXCLUSIVE, maximum_grants_per_user=1, stock=1)
    grant(limited)
    Offer.objects.filter(pk=limited.pk).update(uses_count=1)
    assert grant(limited).json() == {"error": "User grant limit exceeded"}


def test_an_unknown_offer_or_member_answers_404(grant, club, member):
    assert error(grant(4242)) == (404, {"error": "Offer#4242 not found"})
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    assert error(grant(offer, member_id=777777)) == (404, {"error": "Member#777777 not found"})
    assert error(grant(OfferFactory(club=club, type=OfferType.EXCLUSIVE, status="draft"))) == (
        404,
        {"error": f"Offer#{Offer.objects.latest('id').id} not found"},
    )


@pytest.mark.parametrize(
    ("value", "error_key", "options", "message"),
    [
        (0, "greater_than", {"number": 0}, "must be greater than 0"),
        (-5, "greater_than", {"number": 0}, "must be greater than 0"),
        ("soon", "not_an_integer", {}, "must be an integer"),
        (True, "not_an_integer", {}, "must be an integer"),
    ],
)
def test_usable_for_seconds_must_be_a_positive_integer(grant, club, value, error_key, options, message):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    assert error(grant(offer, {"usable_for_seconds": value})) == (
        422,
        {
            "error": "Invalid parameters",
            "details": {
                "usable_for_seconds": [{"value": value, "error": error_key, "options": options, "message": message}]
            },
        },
    )


def test_there_is_no_grant_in_the_me_or_guest_context(member_api, api, club):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    assert member_api.post(f"{BASE}/me/offers/{offer.id}/grant", {}, format="json").status_code == 404
    assert api.post(f"{BASE}/guest/offers/{offer.id}/grant", {}, format="json").status_code == 404


# --- Welcome offers ------------------------------------------------------------------------------------


def test_a_new_member_is_granted_the_published_welcome_offers_after_commit(club, django_capture_on_commit_callbacks):
    welcome = OfferFactory(club=club, type=OfferType.WELCOME)
    OfferFactory(club=club, type=OfferType.WELCOME, status="draft")
    OfferFactory(club=club, type=OfferType.WELCOME, usable_until=NOW - timedelta(days=1))
    OfferFactory(club=club, type=OfferType.EXCLUSIVE)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        newcomer = MemberFactory(club=club)
        member_created.send(sender=type(newcomer), member=newcomer)
        assert not OfferGrant.objects.exists()  # nothing before the commit
    assert len(callbacks) == 1
    callbacks[0]()  # the commit: the task runs eagerly in tests

    grant = OfferGrant.objects.get()
    assert (grant.offer_id, grant.member_id, grant.source) == (welcome.id, newcomer.id, "welcome")


def test_a_member_created_through_the_api_receives_the_welcome_offer(api, club, django_capture_on_commit_callbacks):
    welcome = OfferFactory(club=club, type=OfferType.WELCOME, maximum_uses_per_user=1)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/v3/infinity-mall/members", {"member": {"properties": {"email": "new@example.com"}}}, format="json"
        )
    assert response.status_code == 201, response.json()

    new_id = response.json()["member"]["id"]
    assert list(OfferGrant.objects.values_list("offer_id", "member_id", "source")) == [(welcome.id, new_id, "welcome")]
    listed = api.get(f"{BASE}/{new_id}/offers").json()["offers"]
    assert [(o["id"], o["usage"]["usable"], o["usage"]["uses_left"]) for o in listed] == [(welcome.id, True, 1)]


def test_welcome_grants_are_idempotent(club):
    welcome = OfferFactory(club=club, type=OfferType.WELCOME)
    newcomer = MemberFactory(club=club)

    assert [g.offer_id for g in offers_grant_welcome(member=newcomer)] == [welcome.id]
    assert offers_grant_welcome(member=newcomer) == []
    assert OfferGrant.objects.count() == 1


def test_welcome_grants_skip_offers_the_member_cannot_receive(club):
    group = MemberGroupFactory(club=club)
    OfferFactory(club=club, type=OfferType.WELCOME, audience=group)
    OfferFactory(club=club, type=OfferType.WELCOME, stock=0)
    open_offer = OfferFactory(club=club, type=OfferType.WELCOME)

    granted = offers_grant_welcome(member=MemberFactory(club=club))

    assert [g.offer_id for g in granted] == [open_offer.id]


def test_the_welcome_task_ignores_a_member_deleted_before_it_ran(club):
    from offers.tasks import grant_welcome_offers

    OfferFactory(club=club, type=OfferType.WELCOME)
    assert grant_welcome_offers.delay(987654).get() == 0


def test_offer_grant_can_be_told_to_grant_only_once(club, member):
    offer = OfferFactory(club=club, type=OfferType.BIRTHDAY)
    assert offer_grant(offer=offer, member=member, only_if_never_granted=True, source="birthday") is not None
    assert offer_grant(offer=offer, member=member, only_if_never_granted=True, source="birthday") is None
    assert OfferGrant.objects.filter(source="birthday").count() == 1
