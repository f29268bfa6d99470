"""Admin pages of the back office: the dashboard and the figures on the admin index."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse

from backoffice import charts
from backoffice.dashboard import DashboardFigures, dashboard_club, dashboard_figures
from loyalty.models import LoyaltyClub


def _month_label(month) -> str:
    # The year only on January: twelve labels must fit under a half-width card.
    return month.strftime("%b ’%y") if month.month == 1 else month.strftime("%b")


def _offer_link(offer_id: int) -> str:
    try:
        return reverse("admin:offers_offer_change", args=[offer_id])
    except NoReverseMatch:  # the offers admin is not installed
        return ""


def chart_context(figures: DashboardFigures) -> dict:
    """The four charts and the legend of the points chart, as SVG markup."""
    months = [row["month"] for row in figures.points_per_month]
    month_labels = [_month_label(m) for m in months]
    month_tips = [m.strftime("%B %Y") for m in months]
    points_series = [
        charts.Series("Earned", "earned", [row["earned"] for row in figures.points_per_month]),
        charts.Series("Spent", "spent", [row["spent"] for row in figures.points_per_month]),
        charts.Series("Expired", "expired", [row["expired"] for row in figures.points_per_month]),
    ]
    days = [row["day"] for row in figures.uses_per_day]
    return {
        "points_chart": charts.column_chart(
            "chart-points",
            "Points earned, spent and expired per month",
            month_labels,
            points_series,
            tooltips=month_tips,
            partial_last=True,
        ),
        "points_legend": charts.legend(points_series),
        "uses_chart": charts.column_chart(
            "chart-uses",
            "Offer uses per day, last 30 days",
            [d.strftime("%-d %b") for d in days],
            [charts.Series("Uses", "uses", [row["count"] for row in figures.uses_per_day])],
            tooltips=[d.strftime("%a %-d %b %Y") for d in days],
            label_every=5,
            partial_last=True,
        ),
        "top_chart": charts.bar_list(
            "chart-top-offers",
            "Top offers by uses, last 30 days",
            [(row["name"], row["uses"], _offer_link(row["offer_id"])) for row in figures.top_offers],
        ),
        "members_chart": charts.column_chart(
            "chart-members",
            "New members per month",
            month_labels,
            [charts.Series("New members", "members", [row["count"] for row in figures.members_per_month])],
            tooltips=month_tips,
            partial_last=True,
        ),
    }


def dashboard(request, *, site: admin.AdminSite):
    club = dashboard_club(slug=request.GET.get("club"))
    context = {
        **site.each_context(request),
        "title": "Dashboard",
        "is_nav_sidebar_enabled": False,  # the charts get the width; the header links to the rest
        "club": club,
        "clubs": LoyaltyClub.objects.order_by("name").only("slug", "name") if club else [],
    }
    if club is not None:
        figures = dashboard_figures(club=club, use_cache="refresh" not in request.GET)
        context.update(figures=figures, **chart_context(figures))
    return TemplateResponse(request, "admin/backoffice/dashboard.html", context)


def index_context(request) -> dict:
    """Headline figures of the biggest club for the admin index (from the dashboard's cache)."""
    club = dashboard_club()
    if club is None:
        return {}
    return {"bo_club": club, "bo_figures": dashboard_figures(club=club)}
