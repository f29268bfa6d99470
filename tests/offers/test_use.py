"""POST {ctx}/offers/{id}/use (SPEC §4.5): every error row, their order, tokens, activation, limits, periods."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from offers.models import Offer, OfferGrant, OfferType, OfferUsage, Scope
from tests.factories import MemberFactory, MemberGroupFactory
from tests.offers.conftest import BASE
from tests.offers.factories import OfferFactory

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    """Autouse, so it starts before the member's access token is issued."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def use(member_api):
    """use(offer, body=None, client=member_api, prefix=/me, scope=None) -> response."""

    def _use(offer, body=None, client=None, prefix=f"{BASE}/me", scope=None):
        url = f"{prefix}/offers/{offer.id if isinstance(offer, Offer) else offer}/use"
        if scope:
            url += f"?scope={scope}"
        return (client or member_api).post(url, body if body is not None else {}, format="json")

    return _use


def error(response):
    return response.status_code, response.json()


# --- Success ----------------------------------------------------------------------------------------


def test_a_use_records_the_usage_and_answers_the_usage_after_it(use, club, member, clock, emitted):
    offer = OfferFactory(club=club, maximum_uses_per_user=3, stock=10)

    response = use(offer)

    assert response.status_code == 200
    assert response.json() == {
        "usage": {
            "usable": True,
            "max_uses": 3,
            "uses_left": 2,
            "active_until": "2030-05-01T12:00:30.000Z",
            "period": None,
        }
    }
    usage = OfferUsage.objects.get()
    assert (usage.offer_id, usage.member_id, usage.used_at, usage.authorized, usage.grant_id) == (
        offer.id,
        member.id,
        NOW,
        False,
        None,
    )
    assert Offer.objects.get(pk=offer.pk).uses_count == 1
    assert [(t, e["data"]["offer_id"], e["member_id"]) for t, e in emitted] == [("offer.used", offer.id, member.id)]


def test_the_use_response_equals_the_usage_the_offer_shows_afterwards(use, member_api, club, clock):
    offer = OfferFactory(club=club, maximum_uses_per_user=5, stock=3, periodic_timespan="week", periodic_limit=2)

    usage = use(offer).json()["usage"]

    assert usage == member_api.get(f"{BASE}/me/offers/{offer.id}").json()["offer"]["usage"]
    assert usage == {
        "usable": True,
        "max_uses": 5,
        "uses_left": 2,
        "active_until": "2030-05-01T12:00:30.000Z",
        "period": {"timespan": "WEEK", "max_uses": 2, "uses_left": 1},
    }


def test_a_member_given_by_id_uses_an_offer(use, api, club, member, clock):
    offer = OfferFactory(club=club)

    response = use(offer, client=api, prefix=f"{BASE}/{member.id}")

    assert response.status_code == 200
    assert response.json()["usage"]["max_uses"] is None
    assert OfferUsage.objects.get().member_id == member.id


def test_there_is_no_guest_use(api, club):
    offer = OfferFactory(club=club)
    response = api.post(f"{BASE}/guest/offers/{offer.id}/use", {}, format="json")
    assert response.status_code == 404


def test_a_use_without_a_body_is_accepted(member_api, club, clock):
    offer = OfferFactory(club=club)
    assert member_api.post(f"{BASE}/me/offers/{offer.id}/use").status_code == 200


# --- 1: not found ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attrs",
    [
        {"status": "draft"},
        {"archived_at": NOW - timedelta(days=1)},
        {"visible_since": NOW + timedelta(minutes=1)},
        {"visible_until": NOW},
        {"scope": Scope.PARKING},
    ],
    ids=["draft", "archived", "not visible yet", "no longer visible", "other scope"],
)
def test_an_offer_not_visible_by_id_answers_404(use, club, clock, attrs):
    offer = OfferFactory(club=club, **attrs)
    assert error(use(offer)) == (404, {"error": f"Offer#{offer.id} not found"})


def test_an_offer_of_another_club_answers_404(use, other_club, clock):
    offer = OfferFactory(club=other_club)
    assert error(use(offer)) == (404, {"error": f"Offer#{offer.id} not found"})


def test_an_unknown_offer_answers_404(use, club):
    assert error(use(987654)) == (404, {"error": "Offer#987654 not found"})


def test_an_unknown_member_id_answers_404(use, api, club):
    offer = OfferFactory(club=club)
    assert error(use(offer, client=api, prefix=f"{BASE}/99999")) == (404, {"error": "Member#99999 not found"})


def test_an_offer_is_found_in_its_own_scope(use, club, clock):
    offer = OfferFactory(club=club, scope=Scope.PARKING)
    assert use(offer, scope="parking").status_code == 200


# --- 2: banned ---------------------------------------------------------------------------------------


def test_a_banned_member_gets_467_with_banned_until(use, club, member, clock):
    member.banned_until = NOW + timedelta(days=1)
    member.save(update_fields=["banned_until"])
    offer = OfferFactory(club=club)

    assert error(use(offer)) == (467, {"error": "Member is banned!", "banned_until": "2030-05-02T12:00:00.000Z"})
    assert not OfferUsage.objects.exists()


def test_a_ban_that_ended_does_not_stop_a_use(use, club, member, clock):
    member.banned_until = NOW
    member.save(update_fields=["banned_until"])
    assert use(OfferFactory(club=club)).status_code == 200


def test_404_comes_before_467(use, club, member, clock):
    member.banned_until = NOW + timedelta(days=1)
    member.save(update_fields=["banned_until"])
    assert use(123456).status_code == 404


# --- 3: usable timeframes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attrs",
    [{"usable_since": NOW + timedelta(seconds=1)}, {"usable_until": NOW}],
    ids=["not yet", "ended"],
)
def test_outside_the_usable_window_answers_not_in_usable_timeframes(use, club, clock, attrs):
    offer = OfferFactory(club=club, **attrs)
    assert error(use(offer)) == (422, {"error": "Not in usable timeframes"})


def test_an_informational_offer_is_never_usable(use, member_api, club, clock):
    offer = OfferFactory(club=club, scope=Scope.INFORMATIONAL)

    assert error(use(offer, scope="informational")) == (422, {"error": "Not in usable timeframes"})
    shown = member_api.get(f"{BASE}/me/offers/{offer.id}?scope=informational").json()["offer"]
    assert shown["usage"]["usable"] is False


def test_a_banned_member_using_an_out_of_window_offer_gets_467(use, club, member, clock):
    member.banned_until = NOW + timedelta(hours=1)
    member.save(update_fields=["banned_until"])
    offer = OfferFactory(club=club, usable_until=NOW - timedelta(days=1))
    assert use(offer).status_code == 467


# --- 4: not granted ----------------------------------------------------------------------------------


@pytest.mark.parametrize("offer_type", [OfferType.EXCLUSIVE, OfferType.BIRTHDAY, OfferType.WELCOME])
def test_a_grant_requiring_offer_without_a_grant_answers_not_granted(use, club, clock, offer_type):
    offer = OfferFactory(club=club, type=offer_type)
    assert error(use(offer)) == (422, {"error": "Not granted"})


def test_an_expired_grant_counts_as_no_grant(use, club, member, clock):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE)
    OfferGrant.objects.create(offer=offer, member=member, usable_until=NOW)
    assert error(use(offer)) == (422, {"error": "Not granted"})


def test_a_member_outside_the_audience_is_not_granted(use, club, member, clock):
    group = MemberGroupFactory(club=club)
    offer = OfferFactory(club=club, audience=group)

    assert error(use(offer)) == (422, {"error": "Not granted"})
    group.members.add(member)
    assert use(offer).status_code == 200


def test_out_of_window_comes_before_not_granted(use, club, clock):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, usable_since=NOW + timedelta(days=1))
    assert error(use(offer)) == (422, {"error": "Not in usable timeframes"})


# --- 5: authorization tokens -------------------------------------------------------------------------


def test_a_required_token_that_is_missing_answers_token_missing(use, club, clock):
    offer = OfferFactory(club=club, usage_authorization_token="s3cret", usage_authorization_token_required=True)
    assert error(use(offer)) == (422, {"error": "Usage authorization token missing"})
    assert error(use(offer, {"authorization_token": None})) == (422, {"error": "Usage authorization token missing"})


@pytest.mark.parametrize("required", [True, False])
def test_an_invalid_token_answers_token_invalid_whether_required_or_not(use, club, clock, required):
    offer = OfferFactory(club=club, usage_authorization_token="s3cret", usage_authorization_token_required=required)
    assert error(use(offer, {"authorization_token": "wrong"})) == (422, {"error": "Usage authorization token invalid"})
    assert error(use(offer, {"authorization_token": ""})) == (422, {"error": "Usage authorization token invalid"})
    assert not OfferUsage.objects.exists()


def test_the_offer_token_authorizes_the_use_and_calls_the_rewards_hook(use, club, member, clock, monkeypatch):
    import rewards.hooks

    calls = []
    monkeypatch.setattr(rewards.hooks, "offer_used", lambda *, usage: calls.append(usage))
    offer = OfferFactory(club=club, usage_authorization_token="s3cret", usage_authorization_token_required=True)

    assert use(offer, {"authorization_token": "s3cret"}).status_code == 200

    usage = OfferUsage.objects.get()
    assert usage.authorized is True
    assert [(u.pk, u.offer_id, u.member_id) for u in calls] == [(usage.pk, offer.id, member.id)]


def test_a_club_token_authorizes_the_use_too(use, club, clock, monkeypatch):
    import rewards.hooks

    calls = []
    monkeypatch.setattr(rewards.hooks, "offer_used", lambda *, usage: calls.append(usage))
    club.usage_authorization_tokens = ["club-wide-1", "club-wide-2"]
    club.save(update_fields=["usage_authorization_tokens"])
    offer = OfferFactory(club=club, usage_authorization_token="offer-token")

    assert use(offer, {"authorization_token": "club-wide-2"}).status_code == 200
    assert OfferUsage.objects.get().authorized is True
    assert len(calls) == 1


def test_a_use_without_token_is_unauthorized_and_skips_the_rewards_hook(use, club, clock, monkeypatch):
    import rewards.hooks

    calls = []
    monkeypatch.setattr(rewards.hooks, "offer_used", lambda *, usage: calls.append(usage))
    offer = OfferFactory(club=club, usage_authorization_token="s3cret")

    assert use(offer).status_code == 200
    assert OfferUsage.objects.get().authorized is False
    assert calls == []


def test_not_granted_comes_before_an_invalid_token(use, club, clock):
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, usage_authorization_token="s3cret")
    assert error(use(offer, {"authorization_token": "wrong"})) == (422, {"error": "Not granted"})


def test_a_token_of_the_wrong_type_answers_the_parameters_tree(use, club, clock):
    offer = OfferFactory(club=club)
    assert error(use(offer, {"authorization_token": 5})) == (
        422,
        {
            "error": "Invalid parameters",
            "details": {
                "authorization_token": [
                    {
                        "value": 5,
                        "error": "invalid",
                        "options": {"format": "string"},
                        "message": "is in invalid format (string)",
                    }
                ]
            },
        },
    )


# --- 6: already active -------------------------------------------------------------------------------


def test_a_second_use_within_the_activation_time_answers_already_active(use, club, clock):
    offer = OfferFactory(club=club)
    assert use(offer).status_code == 200

    clock.shift(timedelta(seconds=29))
    assert error(use(offer)) == (422, {"error": "Already active"})
    clock.shift(timedelta(seconds=1))
    assert use(offer).status_code == 200


def test_an_invalid_token_comes_before_already_active(use, club, clock):
    offer = OfferFactory(club=club, usage_authorization_token="s3cret")
    use(offer)
    assert error(use(offer, {"authorization_token": "wrong"})) == (422, {"error": "Usage authorization token invalid"})


def test_the_activation_time_comes_from_the_club(use, club, clock):
    club.activated_seconds_time = 0
    club.save(update_fields=["activated_seconds_time"])
    offer = OfferFactory(club=club)

    assert use(offer).json()["usage"]["active_until"] == "2030-05-01T12:00:00.000Z"
    assert use(offer).status_code == 200


# --- 7: user limit -----------------------------------------------------------------------------------


def test_uses_beyond_maximum_uses_per_user_answer_user_limit_exceeded(use, club, clock):
    offer = OfferFactory(club=club, maximum_uses_per_user=2)
    assert use(offer).json()["usage"]["uses_left"] == 1
    clock.shift(timedelta(minutes=1))
    assert use(offer).json()["usage"] == {
        "usable": False,
        "max_uses": 2,
        "uses_left": 0,
        "active_until": "2030-05-01T12:01:30.000Z",
        "period": None,
    }
    clock.shift(timedelta(minutes=1))
    assert error(use(offer)) == (422, {"error": "User limit exceeded"})
    assert Offer.objects.get(pk=offer.pk).uses_count == 2


def test_already_active_comes_before_user_limit_exceeded(use, club, clock):
    offer = OfferFactory(club=club, maximum_uses_per_user=1)
    use(offer)
    assert error(use(offer)) == (422, {"error": "Already active"})


def test_another_members_uses_do_not_count_against_the_user_limit(use, api, club, clock):
    offer = OfferFactory(club=club, maximum_uses_per_user=1)
    other = MemberFactory(club=club)
    assert use(offer, client=api, prefix=f"{BASE}/{other.id}").status_code == 200
    assert use(offer).status_code == 200


# --- 8: periodic limit -------------------------------------------------------------------------------


def test_uses_beyond_the_periodic_limit_answer_periodic_user_limit_exceeded(use, club, clock):
    offer = OfferFactory(club=club, periodic_timespan="hour", periodic_limit=1)
    assert use(offer).status_code == 200
    clock.shift(timedelta(minutes=10))
    assert error(use(offer)) == (422, {"error": "Periodic user limit exceeded"})
    clock.shift(timedelta(minutes=50))
    assert use(offer).json()["usage"]["period"] == {"timespan": "HOUR", "max_uses": 1, "uses_left": 0}


def test_user_limit_comes_before_the_periodic_limit(use, club, clock):
    offer = OfferFactory(club=club, maximum_uses_per_user=1, periodic_timespan="day", periodic_limit=1)
    use(offer)
    clock.shift(timedelta(minutes=5))
    assert error(use(offer)) == (422, {"error": "User limit exceeded"})


@pytest.fixture
def oslo(club):
    club.timezone = "Europe/Oslo"
    club.activated_seconds_time = 0
    club.save(update_fields=["timezone", "activated_seconds_time"])
    return club


@pytest.fixture
def use_by_id(use, api, member):
    """Uses through the by-id context: no access token to expire while the clock jumps."""
    return lambda offer: use(offer, client=api, prefix=f"{BASE}/{member.id}")


def test_day_periods_follow_the_club_timezone(use_by_id, oslo):
    offer = OfferFactory(club=oslo, periodic_timespan="day", periodic_limit=1)
    # 23:30 and 00:30 Oslo summer time (UTC+2) are 21:30 and 22:30 UTC: one UTC day, two Oslo days.
    with time_machine.travel(datetime(2030, 6, 10, 21, 30, tzinfo=UTC), tick=False):
        assert use_by_id(offer).status_code == 200
    with time_machine.travel(datetime(2030, 6, 10, 21, 59, tzinfo=UTC), tick=False):
        assert error(use_by_id(offer)) == (422, {"error": "Periodic user limit exceeded"})
    with time_machine.travel(datetime(2030, 6, 10, 22, 30, tzinfo=UTC), tick=False):
        assert use_by_id(offer).status_code == 200


def test_a_utc_day_boundary_is_not_an_oslo_day_boundary(use_by_id, oslo):
    offer = OfferFactory(club=oslo, periodic_timespan="day", periodic_limit=1)
    # 00:30 and 01:30 Oslo winter time (UTC+1) are 23:30 and 00:30 UTC: two UTC days, one Oslo day.
    with time_machine.travel(datetime(2030, 1, 9, 23, 30, tzinfo=UTC), tick=False):
        assert use_by_id(offer).status_code == 200
    with time_machine.travel(datetime(2030, 1, 10, 0, 30, tzinfo=UTC), tick=False):
        assert error(use_by_id(offer)) == (422, {"error": "Periodic user limit exceeded"})


def test_week_periods_start_on_monday_in_the_club_timezone(use_by_id, oslo):
    offer = OfferFactory(club=oslo, periodic_timespan="week", periodic_limit=1)
    # Sunday 2030-06-16 23:30 Oslo, then Monday 00:10 Oslo: a new ISO week.
    with time_machine.travel(datetime(2030, 6, 16, 21, 30, tzinfo=UTC), tick=False):
        assert use_by_id(offer).status_code == 200
    with time_machine.travel(datetime(2030, 6, 16, 21, 50, tzinfo=UTC), tick=False):
        assert error(use_by_id(offer)) == (422, {"error": "Periodic user limit exceeded"})
    with time_machine.travel(datetime(2030, 6, 16, 22, 10, tzinfo=UTC), tick=False):
        assert use_by_id(offer).status_code == 200


# --- 9: global limit ---------------------------------------------------------------------------------


def test_a_use_after_the_stock_is_gone_answers_global_limit_exceeded(use, api, club, clock):
    offer = OfferFactory(club=club, stock=1)
    other = MemberFactory(club=club)
    assert use(offer, client=api, prefix=f"{BASE}/{other.id}").json()["usage"]["uses_left"] == 0

    assert error(use(offer)) == (422, {"error": "Global limit exceeded"})
    assert Offer.objects.get(pk=offer.pk).uses_count == OfferUsage.objects.count() == 1


def test_the_periodic_limit_comes_before_the_global_limit(use, api, club, clock):
    offer = OfferFactory(club=club, stock=1, periodic_timespan="month", periodic_limit=1)
    assert use(offer).status_code == 200
    clock.shift(timedelta(minutes=1))
    assert error(use(offer)) == (422, {"error": "Periodic user limit exceeded"})


def test_a_refused_use_writes_nothing(use, club, member, clock, emitted):
    offer = OfferFactory(club=club, stock=0)
    assert error(use(offer)) == (422, {"error": "Global limit exceeded"})
    assert Offer.objects.get(pk=offer.pk).uses_count == 0
    assert not OfferUsage.objects.exists()
    assert emitted == []


# --- Grants and stacked uses -------------------------------------------------------------------------


def test_each_active_grant_adds_maximum_uses_per_user(use, member_api, club, member, clock):
    club.activated_seconds_time = 0
    club.save(update_fields=["activated_seconds_time"])
    offer = OfferFactory(club=club, type=OfferType.EXCLUSIVE, maximum_uses_per_user=1)
    short = OfferGrant.objects.create(offer=offer, member=member, usable_until=NOW + timedelta(hours=1))
    OfferGrant.objects.create(offer=offer, member=member)

    first = use(offer).json()["usage"]
    assert (first["max_uses"], first["uses_left"], first["usable"]) == (2, 1, True)
    assert OfferUsage.objects.get().grant_id == short.id  # the soonest-expiring grant is drawn first
    assert use(offer).json()["usage"]["uses_left"] == 0
    assert error(use(offer)) == (422, {"error": "User limit exceeded"})

    clock.shift(timedelta(hours=2))  # the short grant expired, taking its allowance and its use with it
    usage = member_api.get(f"{BASE}/me/offers/{offer.id}").json()["offer"]["usage"]
    assert (usage["max_uses"], usage["uses_left"], usage["usable"]) == (1, 0, False)


def test_a_grant_requiring_offer_without_per_user_limit_is_unlimited_while_granted(use, club, member, clock):
    offer = OfferFactory(club=club, type=OfferType.WELCOME)
    OfferGrant.objects.create(offer=offer, member=member)
    assert use(offer).json()["usage"] == {
        "usable": True,
        "max_uses": None,
        "uses_left": None,
        "active_until": "2030-05-01T12:00:30.000Z",
        "period": None,
    }


@pytest.mark.parametrize("seed", range(12))
def test_the_use_response_always_agrees_with_the_sql_usage(api, club, member, clock, seed):
    """The use service computes the usage in Python, GET in SQL: random uses, grants and clock jumps must
    never make them disagree, and `usable: false` must mean the next use is refused."""
    import random

    rng = random.Random(seed)
    offer = OfferFactory(
        club=club,
        type=rng.choice([OfferType.REGULAR, OfferType.EXCLUSIVE]),
        maximum_uses_per_user=rng.choice([None, 1, 2, 3]),
        stock=rng.choice([None, 4, 8]),
        periodic_timespan=rng.choice([None, "hour", "day"]),
        periodic_limit=2,
    )
    if offer.periodic_timespan is None:
        Offer.objects.filter(pk=offer.pk).update(periodic_limit=None)
        offer.periodic_limit = None
    prefix = f"{BASE}/{member.id}/offers/{offer.id}"
    for _ in range(25):
        action = rng.choice(["use", "use", "grant", "wait"])
        if action == "grant" and offer.type != OfferType.REGULAR:
            body = {"usable_for_seconds": rng.choice([600, 7200])} if rng.random() < 0.5 else {}
            granted = api.post(f"{prefix}/grant", body, format="json")
            assert granted.status_code == 200 or granted.json() == {"error": "Global limit exceeded"}
        elif action == "wait":
            clock.shift(timedelta(minutes=rng.choice([1, 20, 90])))
        else:
            before = api.get(prefix).json()["offer"]["usage"]
            response = api.post(f"{prefix}/use", {}, format="json")
            # No activation window is ever running here (the clock jumps past it after each use).
            assert before["usable"] is (response.status_code == 200), (before, response.json())
            if response.status_code == 200:
                assert response.json()["usage"] == api.get(prefix).json()["offer"]["usage"]
                clock.shift(timedelta(seconds=31))
    offer.refresh_from_db()
    assert offer.uses_count == OfferUsage.objects.filter(offer=offer).count()


def test_an_authorized_use_goes_through_the_real_rewards_hook(use, club, member):
    offer = OfferFactory(club=club, usage_authorization_token="s3cret")
    response = use(offer, {"authorization_token": "s3cret"})
    assert response.status_code == 200
    assert OfferUsage.objects.get().authorized is True


def test_a_use_makes_a_handful_of_queries(api, club, member, django_assert_max_num_queries):
    offer = OfferFactory(club=club, stock=10, maximum_uses_per_user=5)
    # Client token, club, member; the offer; then in the transaction (a savepoint under the test's own
    # transaction, so SAVEPOINT and RELEASE are counted): lock-or-create the state row, take the stock,
    # insert the usage, bump the state row; the webhook outbox looks up the club's endpoints.
    with django_assert_max_num_queries(11):
        response = api.post(f"{BASE}/{member.id}/offers/{offer.id}/use", {}, format="json")
    assert response.status_code == 200


def test_a_long_or_padded_token_is_simply_invalid(use, club):
    offer = OfferFactory(club=club, usage_authorization_token="s3cret")
    assert error(use(offer, {"authorization_token": "x" * 5000})) == (
        422,
        {"error": "Usage authorization token invalid"},
    )
    assert error(use(offer, {"authorization_token": " s3cret "})) == (
        422,
        {"error": "Usage authorization token invalid"},
    )
