"""The dashboard: figures computed in SQL on the club's calendar (Europe/Oslo here), cached, drawn as SVG."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from backoffice import charts
from backoffice.dashboard import dashboard_figures
from loyalty.models import LoyaltyClub
from offers.models import OfferStatus, OfferUsage
from rewards import services as rewards_services
from rewards.models import Reward
from tests.factories import LoyaltyClubFactory, MemberFactory
from tests.offers.factories import OfferFactory

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DASHBOARD = "/admin/dashboard/"


def at(iso: str):
    return time_machine.travel(datetime.fromisoformat(iso), tick=False)


@pytest.fixture
def oslo(db):
    return LoyaltyClubFactory(slug="oslo-mall", name="Oslo Mall", timezone="Europe/Oslo")


@pytest.fixture
def ledger_history(oslo):
    """One member's points: Aug earned 40 and expired 40; Sep earned 100 (cancelled in Nov, left out);
    Nov (by Oslo's calendar) earned 50 + 20, spent 80 + 10. Plus another club's member, never counted."""
    member = MemberFactory(club=oslo, created_at=datetime(2026, 1, 10, tzinfo=UTC))
    with at("2026-01-10T10:00:00Z"):
        rewards_services.membership_join(member=member)
    rewards_services.program_config_update(club=oslo, points_validity_days=30)
    with at("2026-08-01T10:00:00Z"):
        rewards_services.points_grant(member=member, points=40)
    rewards_services.points_expire_due(as_of=datetime(2026, 9, 1, tzinfo=UTC))
    rewards_services.program_config_update(club=oslo, points_validity_days=None)
    with at("2026-09-15T10:00:00Z"):
        september = rewards_services.points_grant(member=member, points=100)
    with at("2026-10-31T23:30:00Z"):  # 00:30 on 1 November in Oslo
        rewards_services.points_correct(member=member, points=50, comment="late receipt")
    with at("2026-11-02T10:00:00Z"):
        rewards_services.points_grant(member=member, points=20)
    reward = Reward.objects.create(club=oslo, name="Mug", price=80, status=Reward.PUBLISHED)
    with at("2026-11-05T10:00:00Z"):
        rewards_services.reward_purchase(member=member, reward=reward)
    with at("2026-11-06T10:00:00Z"):
        rewards_services.points_correct(member=member, points=-10, comment="duplicate")
    with at("2026-11-07T10:00:00Z"):
        rewards_services.points_grant(member=member, points=100)
        rewards_services.transaction_cancel(member=member, transaction_id=september.pk)

    elsewhere = MemberFactory(club=LoyaltyClubFactory(slug="elsewhere"))
    rewards_services.membership_join(member=elsewhere)
    with at("2026-11-03T10:00:00Z"):
        rewards_services.points_grant(member=elsewhere, points=999)
    return member


def test_points_per_month_follow_the_clubs_calendar_and_leave_out_cancellations(oslo, ledger_history):
    figures = dashboard_figures(club=oslo, now=NOW)

    months = figures.points_per_month
    assert [row["month"] for row in months] == [date(2025, 12, 1)] + [date(2026, m, 1) for m in range(1, 12)]
    by_month = {row["month"].month: (row["earned"], row["spent"], row["expired"]) for row in months}
    assert by_month[8] == (40, 0, 40)
    assert by_month[9] == (100, 0, 0)
    assert by_month[10] == (0, 0, 0)
    assert by_month[11] == (50 + 20 + 100, 80 + 10, 0)
    assert figures.totals["points_earned_this_month"] == 170
    assert figures.totals["points_spent_this_month"] == 90
    assert figures.totals["points_balance"] == 40 + 100 + 50 + 20 + 100 - 40 - 80 - 10 - 100


def test_members_per_month_count_sign_ups_by_the_clubs_calendar(oslo):
    MemberFactory(club=oslo, created_at=datetime(2026, 10, 31, 23, 30, tzinfo=UTC))  # 1 Nov in Oslo
    MemberFactory(club=oslo, created_at=datetime(2026, 10, 31, 22, 30, tzinfo=UTC))  # 31 Oct in Oslo
    MemberFactory(club=oslo, created_at=datetime(2025, 11, 30, 12, 0, tzinfo=UTC))  # before the 12 months
    MemberFactory(club=LoyaltyClubFactory(slug="elsewhere"), created_at=datetime(2026, 11, 2, tzinfo=UTC))

    figures = dashboard_figures(club=oslo, now=NOW)

    counts = {row["month"]: row["count"] for row in figures.members_per_month}
    assert (counts[date(2026, 10, 1)], counts[date(2026, 11, 1)]) == (1, 1)
    assert sum(counts.values()) == 2
    assert (figures.totals["members"], figures.totals["members_this_month"]) == (3, 1)


def test_offer_uses_per_day_cover_thirty_days_and_top_offers_rank_them(oslo):
    member = MemberFactory(club=oslo)
    coffee = OfferFactory(club=oslo, internal_name="Coffee")
    pizza = OfferFactory(club=oslo, internal_name="Pizza")
    foreign = OfferFactory(club=LoyaltyClubFactory(slug="elsewhere"), internal_name="Foreign")
    uses = [
        (coffee, "2026-11-19T23:30:00Z"),  # 20 Nov in Oslo
        (coffee, "2026-11-20T08:00:00Z"),
        (pizza, "2026-11-20T09:00:00Z"),
        (coffee, "2026-10-22T10:00:00Z"),  # the first of the 30 days
        (pizza, "2026-10-20T10:00:00Z"),  # before them
        (foreign, "2026-11-20T09:00:00Z"),
    ]
    for offer, used_at in uses:
        OfferUsage.objects.create(offer=offer, member=member, used_at=datetime.fromisoformat(used_at))

    figures = dashboard_figures(club=oslo, now=NOW)

    days = {row["day"]: row["count"] for row in figures.uses_per_day}
    assert len(days) == 30 and min(days) == date(2026, 10, 22) and max(days) == date(2026, 11, 20)
    assert (days[date(2026, 11, 20)], days[date(2026, 11, 19)], days[date(2026, 10, 22)]) == (3, 0, 1)
    assert figures.totals["offer_uses_30_days"] == 4
    assert [(row["name"], row["uses"]) for row in figures.top_offers] == [("Coffee", 3), ("Pizza", 1)]


def test_a_single_club_gets_the_same_figures_without_the_club_joins(oslo, ledger_history):
    """The `elsewhere` club of the fixture makes the selectors filter by club; without it they need not."""
    filtered = dashboard_figures(club=oslo, now=NOW, use_cache=False)
    elsewhere = LoyaltyClub.objects.get(slug="elsewhere")
    elsewhere.members.all().delete()
    elsewhere.delete()

    single = dashboard_figures(club=oslo, now=NOW, use_cache=False)

    assert single.points_per_month == filtered.points_per_month
    assert single.totals == filtered.totals


def test_live_offers_are_published_not_archived_and_not_over(oslo):
    OfferFactory(club=oslo)
    OfferFactory(club=oslo, status=OfferStatus.DRAFT)
    OfferFactory(club=oslo, archived_at=NOW - timedelta(days=1))
    OfferFactory(club=oslo, usable_until=NOW - timedelta(days=1))
    OfferFactory(club=oslo, usable_until=NOW + timedelta(days=1))

    assert dashboard_figures(club=oslo, now=NOW).totals["live_offers"] == 2


def test_figures_are_a_fixed_number_of_queries_then_come_from_the_cache(
    oslo, ledger_history, django_assert_num_queries
):
    for _ in range(3):
        OfferUsage.objects.create(offer=OfferFactory(club=oslo), member=ledger_history, used_at=NOW)
    with django_assert_num_queries(9):  # one per figure and one to count the clubs, whatever the data
        first = dashboard_figures(club=oslo, now=NOW)
    with django_assert_num_queries(0):
        again = dashboard_figures(club=oslo, now=NOW + timedelta(minutes=1))
    assert again.as_of == first.as_of
    assert dashboard_figures(club=oslo, use_cache=False).as_of > first.as_of


# --- The page ----------------------------------------------------------------------------------------


def _svg(html: str, chart_id: str) -> str:
    match = re.search(rf'<svg class="bo-chart" id="{chart_id}".*?</svg>', html, re.S)
    assert match, f"no chart {chart_id}"
    return match.group(0)


def test_the_dashboard_draws_four_charts_with_the_figures(staff, oslo, ledger_history):
    OfferUsage.objects.create(
        offer=OfferFactory(club=oslo, internal_name="Coffee"), member=ledger_history, used_at=NOW - timedelta(hours=1)
    )

    with time_machine.travel(NOW, tick=False):  # the page draws the 12 months up to today
        response = staff.get(DASHBOARD)

    assert response.status_code == 200
    html = response.content.decode()
    points = _svg(html, "chart-points")
    values = [int(v) for v in re.findall(r'data-value="(\d+)"', points)]
    assert len(values) == 12 * 3 and sum(values) == 40 + 40 + 100 + 170 + 90
    assert 'data-value="170"' in points and "November 2026 (so far) · Earned: 170" in points
    assert re.findall(r'data-value="(\d+)"', _svg(html, "chart-uses"))[-1] == "1"
    assert ">Coffee</text>" in _svg(html, "chart-top-offers")
    assert len(re.findall(r"<rect", _svg(html, "chart-members"))) == 12
    assert "Oslo Mall" in html and "Europe/Oslo" in html


def test_the_dashboard_shows_the_chosen_club_and_a_club_picker(staff, oslo, ledger_history):
    other = LoyaltyClubFactory(slug="bergen", name="Bergen Storsenter")

    default = staff.get(DASHBOARD).content.decode()
    chosen = staff.get(DASHBOARD, {"club": "bergen"}).content.decode()

    assert "<h1>Oslo Mall</h1>" in default  # the club with the most members
    assert f'<option value="{other.slug}"' in default
    assert "<h1>Bergen Storsenter</h1>" in chosen
    assert 'data-total="0"' in _svg(chosen, "chart-points")


def test_offer_names_are_escaped_in_the_charts(staff, oslo):
    member = MemberFactory(club=oslo)
    offer = OfferFactory(club=oslo, internal_name='<script>alert("x")</script>')
    OfferUsage.objects.create(offer=offer, member=member)

    html = staff.get(DASHBOARD).content.decode()

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in _svg(html, "chart-top-offers")


def test_without_any_club_the_dashboard_explains_how_to_start(staff):
    response = staff.get(DASHBOARD)

    assert response.status_code == 200
    assert "seed_demo" in response.content.decode()


def test_the_dashboard_is_for_staff_only(client, db):
    response = client.get(DASHBOARD)

    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))


def test_the_admin_index_shows_the_key_figures_and_links_to_the_dashboard(staff, oslo, ledger_history):
    html = staff.get(reverse("admin:index")).content.decode()

    assert 'data-kpi="members">1<' in html
    assert 'data-kpi="points_balance">80<' in html
    assert f'href="{DASHBOARD}?club=oslo-mall"' in html


# --- Chart helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, (4, 1)), (1, (4, 1)), (7, (8, 2)), (99, (120, 20)), (12345, (15000, 2500)), (1234567, (1500000, 250000))],
)
def test_axes_end_on_a_round_number_just_above_the_tallest_bar(value, expected):
    assert charts.nice_ceiling(value) == expected


@pytest.mark.parametrize(("value", "text"), [(950, "950"), (1200, "1.2k"), (15000, "15k"), (1_500_000, "1.5M")])
def test_axis_labels_are_compact(value, text):
    assert charts.compact(value) == text
