"""Expiry warnings [ext] (SPEC §8, §10.2): a daily `points.expiring` event per member with points expiring within
30 days, with the amounts and dates, once per member per day (club's local date) however often the job runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kit.models import JobRun
from rewards import services
from rewards.models import ExpiryWarning
from rewards.services.expiry_warnings import points_expiring_warn
from rewards.tasks import WARNINGS_JOB, warn_expiring_points
from tests.concurrency import run_in_parallel
from tests.factories import LoyaltyClubFactory, MemberFactory
from tests.rewards.conftest import at
from webhooks.models import OutboxEvent
from webhooks.services import webhook_endpoint_create

NOW = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
VALIDITY_DAYS = 60


@pytest.fixture
def listening(club):
    services.program_config_update(club=club, points_validity_days=VALIDITY_DAYS)
    return webhook_endpoint_create(club=club, url="http://127.0.0.1:9/hook", events=["points.expiring"])


def joined(club, email: str):
    member = MemberFactory(club=club, email=email)
    services.membership_join(member=member)
    return member


def lot(member, points: int, *, expires_at: datetime) -> None:
    with at(expires_at - timedelta(days=VALIDITY_DAYS)):
        services.points_grant(member=member, points=points)


def warnings() -> list[tuple[int, dict]]:
    return [(e.member_id, e.data) for e in OutboxEvent.objects.filter(type="points.expiring").order_by("member_id")]


def test_members_with_points_expiring_within_30_days_get_the_amounts_by_day(club, listening):
    ada = joined(club, "ada@example.com")
    lot(ada, 10, expires_at=NOW + timedelta(days=3))
    lot(ada, 5, expires_at=NOW + timedelta(days=3, hours=5))  # same calendar day
    lot(ada, 7, expires_at=NOW + timedelta(days=30))  # the window's last instant
    lot(ada, 100, expires_at=NOW + timedelta(days=30, seconds=1))  # outside
    later = joined(club, "later@example.com")
    lot(later, 50, expires_at=NOW + timedelta(days=45))
    overdue = joined(club, "overdue@example.com")
    lot(overdue, 9, expires_at=NOW - timedelta(hours=1))  # due: the hourly expiration's business
    joined(club, "empty@example.com")

    result = points_expiring_warn(now=NOW)

    assert result.warned == 1
    assert warnings() == [
        (
            ada.pk,
            {
                "member_id": ada.pk,
                "points": 22,
                "expiring_points": [{"date": "2024-03-04", "points": 15}, {"date": "2024-03-31", "points": 7}],
                "expires_before": "2024-03-31T10:00:00.000Z",
                "balance": 122,
            },
        )
    ]


def test_a_second_run_the_same_day_warns_nobody_again_and_the_next_day_warns_again(club, listening):
    ada = joined(club, "ada@example.com")
    lot(ada, 10, expires_at=NOW + timedelta(days=10))

    assert points_expiring_warn(now=NOW).warned == 1
    assert points_expiring_warn(now=NOW + timedelta(hours=13)).warned == 0  # 23:00 UTC, same day
    assert points_expiring_warn(now=NOW + timedelta(days=1)).warned == 1

    assert len(warnings()) == 2
    assert ExpiryWarning.objects.get().warned_on.isoformat() == "2024-03-02"


def test_the_day_is_the_clubs_local_date(db):
    auckland = LoyaltyClubFactory(slug="auckland", timezone="Pacific/Auckland")  # UTC+13 in March
    utc = LoyaltyClubFactory(slug="utc", timezone="UTC")
    members = []
    for club in (auckland, utc):
        services.program_config_update(club=club, points_validity_days=VALIDITY_DAYS)
        webhook_endpoint_create(club=club, url="http://127.0.0.1:9/hook", events=["points.expiring"])
        member = joined(club, f"m@{club.slug}.example")
        lot(member, 10, expires_at=NOW + timedelta(days=10))
        members.append(member)

    points_expiring_warn(now=datetime(2024, 3, 1, 10, 30, tzinfo=UTC))  # 23:30 on 1 March in Auckland
    points_expiring_warn(now=datetime(2024, 3, 1, 11, 30, tzinfo=UTC))  # 00:30 on 2 March in Auckland

    warned = [member_id for member_id, _ in warnings()]
    assert sorted(warned) == sorted([members[0].pk, members[0].pk, members[1].pk])


def test_clubs_nobody_listens_to_get_no_events_and_no_guard_rows(club):
    services.program_config_update(club=club, points_validity_days=VALIDITY_DAYS)
    webhook_endpoint_create(club=club, url="http://127.0.0.1:9/hook", events=["points.expired"])
    lot(joined(club, "ada@example.com"), 10, expires_at=NOW + timedelta(days=3))

    assert points_expiring_warn(now=NOW).warned == 0
    assert not OutboxEvent.objects.exists() and not ExpiryWarning.objects.exists()


def test_small_batches_warn_every_member_once(club, listening):
    members = [joined(club, f"m{i}@example.com") for i in range(5)]
    for member in members:
        lot(member, 10, expires_at=NOW + timedelta(days=2))
    batches = []

    assert points_expiring_warn(now=NOW, batch_size=2, on_batch=batches.append).warned == 5

    assert batches == [2, 2, 1]
    assert [member_id for member_id, _ in warnings()] == [m.pk for m in members]


def test_the_task_runs_under_its_job_name_and_a_rerun_the_same_day_warns_nobody(club, listening):
    lot(joined(club, "ada@example.com"), 10, expires_at=NOW + timedelta(days=3))

    assert warn_expiring_points.delay(now=NOW.isoformat()).get() == {"warned_members": 1}
    assert warn_expiring_points.delay(now=(NOW + timedelta(hours=1)).isoformat()).get() == {"warned_members": 0}

    assert list(JobRun.objects.values_list("name", "status")) == [(WARNINGS_JOB, "ok")] * 2
    assert len(warnings()) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_warn_each_member_exactly_once(monkeypatch):
    monkeypatch.setattr("webhooks.services._schedule_delivery", lambda: None)  # nothing listens on port 9
    club = LoyaltyClubFactory(slug="racing")
    services.program_config_update(club=club, points_validity_days=VALIDITY_DAYS)
    webhook_endpoint_create(club=club, url="http://127.0.0.1:9/hook", events=["points.expiring"])
    members = [joined(club, f"m{i}@example.com") for i in range(30)]
    for member in members:
        lot(member, 10, expires_at=NOW + timedelta(days=5))

    runs = run_in_parallel([lambda: points_expiring_warn(now=NOW, batch_size=4)] * 4)

    assert not any(isinstance(run, Exception) for run in runs), runs
    assert sum(run.warned for run in runs) == 30
    assert sorted(member_id for member_id, _ in warnings()) == sorted(m.pk for m in members)
