"""POST offers/grant (SPEC §5.2, §8): grants to every member of a group, inline for small groups, as a chunked
Celery task for large ones; each member at most once per call, however often the task runs."""

from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
import time_machine
from django.db.models import Count

from loyalty.models import Member, MemberGroupMembership
from offers.models import AudienceGrant, Offer, OfferGrant, OfferType
from offers.services.grants import audience_grant_run, audience_grant_run_chunk
from offers.tasks import run_audience_grant
from tests.concurrency import run_in_parallel
from tests.factories import MemberFactory, MemberGroupFactory
from tests.offers.conftest import BASE
from tests.offers.factories import OfferFactory

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
URL = "/v3/infinity-mall/offers/grant"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def group_of(club, members):
    group = MemberGroupFactory(club=club)
    MemberGroupMembership.objects.bulk_create([MemberGroupMembership(group=group, member=m) for m in members])
    return group


def bulk_members(club, n):
    Member.objects.bulk_create([Member(club=club, email=f"m{i}@example.com") for i in range(n)], batch_size=1000)
    return list(Member.objects.filter(club=club).order_by("id"))


def grants_per_member(offer):
    return dict(
        OfferGrant.objects.filter(offer=offer).values("member_id").annotate(n=Count("id")).values_list("member_id", "n")
    )


def test_a_small_group_is_granted_during_the_request(api, club):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, maximum_uses_per_user=1)
    members = [MemberFactory(club=club) for _ in range(3)]
    outsider = MemberFactory(club=club)
    group = group_of(club, members)

    response = api.post(
        URL, {"offers": [{"id": offer.id, "audience_id": group.id, "usable_for_seconds": 60}]}, format="json"
    )

    assert (response.status_code, response.json()) == (200, {"granted": 3})
    assert grants_per_member(offer) == {m.id: 1 for m in members}
    assert set(OfferGrant.objects.values_list("usable_until", "source")) == {(NOW + timedelta(seconds=60), "audience")}
    assert Offer.objects.get(pk=offer.pk).grants_count == 3
    call = AudienceGrant.objects.get()
    assert (call.status, call.members_count, call.granted_count, call.skipped_count, call.cursor) == (
        "done",
        3,
        3,
        0,
        members[-1].id,
    )
    assert set(OfferGrant.objects.values_list("audience_grant_id", flat=True)) == {call.id}
    # The members can use it now; the one outside the group cannot.
    assert api.post(f"{BASE}/{members[0].id}/offers/{offer.id}/use", {}, format="json").status_code == 200
    refused = api.post(f"{BASE}/{outsider.id}/offers/{offer.id}/use", {}, format="json")
    assert refused.json() == {"error": "Not granted"}


def test_members_the_offer_refuses_are_skipped_and_not_counted(api, club, clock):
    audience = MemberGroupFactory(club=club)
    offer = OfferFactory(club=club, type=OfferType.BIRTHDAY, maximum_grants_per_user=1, audience=audience)
    fine, banned, outside, maxed = (MemberFactory(club=club) for _ in range(4))
    Member.objects.filter(pk=banned.pk).update(banned_until=NOW + timedelta(days=1))
    MemberGroupMembership.objects.bulk_create(
        [MemberGroupMembership(group=audience, member=m) for m in (fine, banned, maxed)]
    )
    OfferGrant.objects.create(offer=offer, member=maxed)
    from offers.models import OfferMemberState

    OfferMemberState.objects.create(offer=offer, member=maxed, grants_count=1)
    group = group_of(club, [fine, banned, outside, maxed])

    response = api.post(URL, {"offers": [{"id": offer.id, "audience_id": group.id}]}, format="json")

    assert response.json() == {"granted": 1}
    assert OfferGrant.objects.filter(audience_grant__isnull=False).get().member_id == fine.id
    call = AudienceGrant.objects.get()
    assert (call.granted_count, call.skipped_count) == (1, 3)


def test_regular_and_archived_offers_are_not_grantable(api, club):
    group = group_of(club, [MemberFactory(club=club)])
    regular = OfferFactory(club=club)
    archived = OfferFactory(club=club, type=OfferType.EXCLUSIVE, archived_at=NOW)

    for offer in (regular, archived):
        response = api.post(URL, {"offers": [{"id": offer.id, "audience_id": group.id}]}, format="json")
        assert (response.status_code, response.json()) == (422, {"error": "Not grantable"})
    assert not OfferGrant.objects.exists()
    assert not AudienceGrant.objects.exists()


def test_unknown_offers_and_groups_are_not_found(api, club, other_club):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    theirs = MemberGroupFactory(club=other_club)

    no_offer = api.post(URL, {"offers": [{"id": 987654, "audience_id": theirs.id}]}, format="json")
    no_group = api.post(URL, {"offers": [{"id": offer.id, "audience_id": theirs.id}]}, format="json")

    assert (no_offer.status_code, no_offer.json()) == (404, {"error": "Offer#987654 not found"})
    assert (no_group.status_code, no_group.json()) == (404, {"error": f"MembersGroup#{theirs.id} not found"})


def test_the_body_is_checked(api, club):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    group = MemberGroupFactory(club=club)

    response = api.post(
        URL,
        {
            "offers": [
                {"id": offer.id, "audience_id": group.id},
                {"id": offer.id, "audience_id": group.id, "usable_for_seconds": 0},
                {"audience_id": "x"},
            ]
        },
        format="json",
    )

    assert response.status_code == 422
    assert response.json()["details"] == {
        "offers": {
            "1": {
                "usable_for_seconds": [
                    {"value": 0, "error": "greater_than", "options": {"number": 0}, "message": "must be greater than 0"}
                ]
            },
            "2": {
                "id": [{"value": None, "error": "presence", "options": {}, "message": "is missing"}],
                "audience_id": [
                    {"value": "x", "error": "not_an_integer", "options": {}, "message": "must be an integer"}
                ],
            },
        }
    }


def test_an_offer_may_appear_once_per_call(api, club):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    a, b = MemberGroupFactory(club=club), MemberGroupFactory(club=club)

    response = api.post(
        URL, {"offers": [{"id": offer.id, "audience_id": a.id}, {"id": offer.id, "audience_id": b.id}]}, format="json"
    )

    assert response.status_code == 422
    assert response.json()["details"] == {
        "offers": {
            "1": {"id": [{"value": offer.id, "error": "taken", "options": {}, "message": "has already been taken"}]}
        }
    }


def test_a_5000_member_group_is_granted_by_the_task_exactly_once_each(
    api, club, settings, django_capture_on_commit_callbacks
):
    settings.OFFERS_AUDIENCE_GRANT_INLINE_LIMIT = 100
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    members = bulk_members(club, 5000)
    group = group_of(club, members)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(URL, {"offers": [{"id": offer.id, "audience_id": group.id}]}, format="json")

    assert (response.status_code, response.json()) == (200, {"granted": 5000})  # queued members
    assert len(callbacks) == 1
    assert grants_per_member(offer) == {m.id: 1 for m in members}
    call = AudienceGrant.objects.get()
    assert (call.status, call.granted_count, call.skipped_count, call.cursor) == ("done", 5000, 0, members[-1].id)
    assert Offer.objects.get(pk=offer.pk).grants_count == 5000

    # The same call again (a redelivered message): nothing more.
    assert run_audience_grant(call.id) == 5000
    # Even with its progress lost (two deliveries racing from the start), each member keeps one grant.
    AudienceGrant.objects.filter(pk=call.pk).update(status="running", cursor=0)
    run_audience_grant(call.id)
    assert grants_per_member(offer) == {m.id: 1 for m in members}
    assert OfferGrant.objects.count() == 5000
    assert Offer.objects.get(pk=offer.pk).grants_count == 5000
    # A new call is a new grant for everyone ("once per call").
    with django_capture_on_commit_callbacks(execute=True):
        api.post(URL, {"offers": [{"id": offer.id, "audience_id": group.id}]}, format="json")
    assert set(grants_per_member(offer).values()) == {2}


def test_a_task_out_of_time_continues_in_a_new_task(club, settings):
    settings.SCHEDULED_JOB_TIME_BUDGET_SECONDS = 0
    settings.OFFERS_AUDIENCE_GRANT_CHUNK_SIZE = 2
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    members = bulk_members(club, 5)
    group = group_of(club, members)
    call = AudienceGrant.objects.create(club=club, offer=offer, group=group, members_count=5)

    # One chunk per task run, each run enqueuing the next (eager here): 3 chunks, then the empty one.
    with patch.object(run_audience_grant, "delay", wraps=run_audience_grant.delay) as delay:
        run_audience_grant(call.id)
    assert delay.call_count == 3

    call.refresh_from_db()
    assert (call.status, call.granted_count) == ("done", 5)
    assert grants_per_member(offer) == {m.id: 1 for m in members}


def test_chunks_walk_the_group_by_member_id_and_record_their_progress(club):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    members = bulk_members(club, 5)
    group = group_of(club, members)
    call = AudienceGrant.objects.create(club=club, offer=offer, group=group, members_count=5)

    assert audience_grant_run_chunk(audience_grant_id=call.id, chunk_size=2) is False
    call.refresh_from_db()
    assert (call.status, call.cursor, call.granted_count) == ("running", members[1].id, 2)

    Offer.objects.filter(pk=offer.pk).update(archived_at=NOW)  # archived meanwhile: the call stops
    assert audience_grant_run_chunk(audience_grant_id=call.id, chunk_size=2) is True
    assert audience_grant_run(audience_grant_id=call.id).status == "done"
    assert OfferGrant.objects.count() == 2


def test_an_offer_whose_stock_is_used_up_grants_nobody(api, club):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, stock=1)
    Offer.objects.filter(pk=offer.pk).update(uses_count=1)
    group = group_of(club, [MemberFactory(club=club) for _ in range(2)])

    response = api.post(URL, {"offers": [{"id": offer.id, "audience_id": group.id}]}, format="json")

    assert response.json() == {"granted": 0}
    assert not OfferGrant.objects.exists()
    call = AudienceGrant.objects.get()
    assert (call.granted_count, call.skipped_count, Offer.objects.get(pk=offer.pk).grants_count) == (0, 2, 0)


def test_each_grant_emits_offer_granted_like_a_single_grant(api, club):
    from webhooks.models import OutboxEvent
    from webhooks.services import webhook_endpoint_create

    webhook_endpoint_create(club=club, url="https://hooks.example.com/x", events=["offer.granted"])
    offer = OfferFactory(club=club, type=OfferType.WELCOME)
    members = [MemberFactory(club=club) for _ in range(2)]
    group = group_of(club, members)

    api.post(URL, {"offers": [{"id": offer.id, "audience_id": group.id}]}, format="json")

    grants = {g.member_id: g.id for g in OfferGrant.objects.all()}
    assert sorted((e.member_id, e.data) for e in OutboxEvent.objects.filter(type="offer.granted")) == [
        (
            m.id,
            {
                "grant_id": grants[m.id],
                "offer_id": offer.id,
                "member_id": m.id,
                "granted_at": "2030-05-01T12:00:00.000Z",
                "usable_until": None,
            },
        )
        for m in members
    ]


def test_several_offers_in_one_call_add_up(api, club):
    first = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    second = OfferFactory(club=club, type=OfferType.BIRTHDAY)
    small = group_of(club, [MemberFactory(club=club)])
    larger = group_of(club, [MemberFactory(club=club) for _ in range(3)])

    response = api.post(
        URL,
        {"offers": [{"id": first.id, "audience_id": small.id}, {"id": second.id, "audience_id": larger.id}]},
        format="json",
    )

    assert response.json() == {"granted": 4}
    assert (OfferGrant.objects.filter(offer=first).count(), OfferGrant.objects.filter(offer=second).count()) == (1, 3)


# --- Real races (PostgreSQL) -----------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_deliveries_of_one_call_racing_grant_each_member_once(club):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    members = bulk_members(club, 300)
    call = AudienceGrant.objects.create(club=club, offer=offer, group=group_of(club, members), members_count=300)

    results = run_in_parallel([lambda: audience_grant_run(audience_grant_id=call.id, chunk_size=50)] * 4)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert grants_per_member(offer) == {m.id: 1 for m in members}
    call.refresh_from_db()
    assert (call.status, call.granted_count, call.skipped_count) == ("done", 300, 0)
    assert Offer.objects.get(pk=offer.pk).grants_count == 300


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_overlapping_calls_and_member_uses_race_without_deadlock_or_lost_counts(club, full_token):
    from tests.conftest import make_client

    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, maximum_uses_per_user=1)
    members = bulk_members(club, 200)
    users = members[::20]
    OfferGrant.objects.bulk_create([OfferGrant(offer=offer, member=m) for m in users])
    from offers.models import OfferMemberState

    OfferMemberState.objects.bulk_create([OfferMemberState(offer=offer, member=m, grants_count=1) for m in users])
    Offer.objects.filter(pk=offer.pk).update(grants_count=len(users))
    first = AudienceGrant.objects.create(club=club, offer=offer, group=group_of(club, members), members_count=200)
    second = AudienceGrant.objects.create(
        club=club, offer=offer, group=group_of(club, members[::-1]), members_count=200
    )

    def use(member):
        return lambda: make_client(full_token).post(f"{BASE}/{member.id}/offers/{offer.id}/use", {}, format="json")

    results = run_in_parallel(
        [
            lambda: audience_grant_run(audience_grant_id=first.id, chunk_size=30),
            lambda: audience_grant_run(audience_grant_id=second.id, chunk_size=30),
            *[use(m) for m in users],
        ]
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert {r.status_code for r in results[2:]} == {200}
    counts = grants_per_member(offer)
    assert counts == {m.id: 3 if m in users else 2 for m in members}
    assert Offer.objects.get(pk=offer.pk).grants_count == sum(counts.values())
    assert Offer.objects.get(pk=offer.pk).uses_count == len(users)
