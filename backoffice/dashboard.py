"""Selectors of the staff dashboard: every figure is one aggregate query (GROUP BY in SQL, never a loop over
rows), calendar months and days are the club's (its time zone), and the whole set is cached briefly. Rows are
filtered by club only when there are several clubs (the filter costs joins over the whole ledger)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncDate, TruncMonth
from django.utils import timezone

from loyalty.models import LoyaltyClub, Member
from offers.models import Offer, OfferStatus, OfferUsage
from rewards.models import Membership, Transaction

T = Transaction
MONTHS = 12
DAYS = 30
TOP_OFFERS = 10
CACHE_VERSION = 1

# Point-adding rows (the lots) are "earned"; purchases and negative corrections "spent"; expirations
# "expired". Cancellations are left out: they undo one of the others and are rare.
EARNED = Q(type__in=[T.ACHIEVEMENT, T.GRANT]) | Q(type=T.CORRECTION, amount__gt=0)
SPENT = Q(type=T.REWARD_PURCHASE) | Q(type=T.CORRECTION, amount__lt=0)
EXPIRED = Q(type=T.EXPIRATION)


@dataclass
class DashboardFigures:
    club_id: int
    club_name: str
    timezone: str
    as_of: datetime
    points_per_month: list[dict] = field(default_factory=list)  # {month, earned, spent, expired}
    members_per_month: list[dict] = field(default_factory=list)  # {month, count}
    uses_per_day: list[dict] = field(default_factory=list)  # {day, count}
    top_offers: list[dict] = field(default_factory=list)  # {offer_id, name, uses}
    totals: dict = field(default_factory=dict)


def dashboard_club(*, slug: str | None = None) -> LoyaltyClub | None:
    """The club named by `slug`; without one (or an unknown one), the club with the most members."""
    if slug:
        club = LoyaltyClub.objects.filter(slug=slug).first()
        if club is not None:
            return club
    biggest = Member.objects.values("club_id").annotate(n=Count("id")).order_by("-n", "club_id").first()
    if biggest is not None:
        return LoyaltyClub.objects.get(pk=biggest["club_id"])
    return LoyaltyClub.objects.order_by("id").first()


def month_starts(*, now: datetime, tz: ZoneInfo, count: int = MONTHS) -> list[date]:
    """The first days of the last `count` calendar months in `tz`, oldest first, the current month last."""
    year, month = timezone.localtime(now, tz).year, timezone.localtime(now, tz).month
    months = []
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def _start_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def _local_date(value) -> date:
    # TruncMonth gives an aware datetime in the club's zone (or a date on some backends).
    return value.date() if isinstance(value, datetime) else value


def points_per_month(*, club: LoyaltyClub, months: list[date], only_club: bool = False) -> list[dict]:
    """Points earned, spent and expired in each month of `months` (positive numbers), zeros included.
    `only_club`: the club is the only one, so the ledger needs no join to find its rows."""
    tz = club.tzinfo
    ledger = T.objects.all() if only_club else T.objects.filter(membership__member__club=club)
    rows = (
        ledger.filter(date__gte=_start_of(months[0], tz))
        .annotate(month=TruncMonth("date", tzinfo=tz))
        .values("month")
        .annotate(
            earned=Coalesce(Sum("amount", filter=EARNED), 0),
            spent=Coalesce(Sum("amount", filter=SPENT), 0),
            expired=Coalesce(Sum("amount", filter=EXPIRED), 0),
        )
        .order_by()
    )
    by_month = {_local_date(row["month"]): row for row in rows}
    result = []
    for month in months:
        row = by_month.get(month, {})
        result.append(
            {
                "month": month,
                "earned": row.get("earned", 0),
                "spent": -row.get("spent", 0),
                "expired": -row.get("expired", 0),
            }
        )
    return result


def members_per_month(*, club: LoyaltyClub, months: list[date]) -> list[dict]:
    """Members who joined the club in each month of `months` (index `member_club_created`)."""
    tz = club.tzinfo
    rows = (
        Member.objects.filter(club=club, created_at__gte=_start_of(months[0], tz))
        .annotate(month=TruncMonth("created_at", tzinfo=tz))
        .values("month")
        .annotate(count=Count("id"))
        .order_by()
    )
    by_month = {_local_date(row["month"]): row["count"] for row in rows}
    return [{"month": month, "count": by_month.get(month, 0)} for month in months]


def _usages_since(*, club: LoyaltyClub, since: datetime, only_club: bool = False):
    usages = OfferUsage.objects.all() if only_club else OfferUsage.objects.filter(offer__club=club)
    return usages.filter(used_at__gte=since)


def offer_uses_per_day(*, club: LoyaltyClub, now: datetime, days: int = DAYS, only_club: bool = False) -> list[dict]:
    """Offer uses on each of the last `days` calendar days (club time zone), today last, zeros included."""
    tz = club.tzinfo
    today = timezone.localtime(now, tz).date()
    first = today - timedelta(days=days - 1)
    rows = (
        _usages_since(club=club, since=_start_of(first, tz), only_club=only_club)
        .annotate(day=TruncDate("used_at", tzinfo=tz))
        .values("day")
        .annotate(count=Count("id"))
        .order_by()
    )
    by_day = {row["day"]: row["count"] for row in rows}
    return [{"day": first + timedelta(days=i), "count": by_day.get(first + timedelta(days=i), 0)} for i in range(days)]


def top_offers(*, club: LoyaltyClub, since: datetime, limit: int = TOP_OFFERS, only_club: bool = False) -> list[dict]:
    """The offers used most since `since`: `{offer_id, name, uses}`, most used first (ties by id)."""
    rows = list(
        _usages_since(club=club, since=since, only_club=only_club)
        .values("offer_id")
        .annotate(uses=Count("id"))
        .order_by("-uses", "offer_id")[:limit]
    )
    names = dict(Offer.objects.filter(pk__in=[r["offer_id"] for r in rows]).values_list("pk", "internal_name"))
    return [
        {"offer_id": r["offer_id"], "name": names.get(r["offer_id"]) or f"Offer #{r['offer_id']}", "uses": r["uses"]}
        for r in rows
    ]


def key_figures(*, club: LoyaltyClub, now: datetime) -> dict:
    """Headline numbers: members, program participants and the points they hold, live offers."""
    participants = Membership.objects.filter(member__club=club).aggregate(
        count=Count("id"), balance=Coalesce(Sum("balance"), 0)
    )
    live = (
        Offer.objects.filter(club=club, status=OfferStatus.PUBLISHED, archived_at__isnull=True)
        .filter(Q(usable_until__isnull=True) | Q(usable_until__gt=now))
        .count()
    )
    return {
        "members": Member.objects.filter(club=club).count(),
        "participants": participants["count"],
        "points_balance": participants["balance"],
        "live_offers": live,
    }


def dashboard_figures(*, club: LoyaltyClub, now: datetime | None = None, use_cache: bool = True) -> DashboardFigures:
    """Everything the dashboard shows for `club`, cached for `BACKOFFICE_DASHBOARD_CACHE_SECONDS`
    (default 300): the aggregates scan the club's ledger, which is too much to repeat on every page view."""
    key = f"backoffice:dashboard:v{CACHE_VERSION}:{club.pk}"
    if use_cache:
        cached = cache.get(key)
        if cached is not None:
            return cached
    now = now or timezone.now()
    tz = club.tzinfo
    months = month_starts(now=now, tz=tz)
    # With a single club (the usual deployment) the big scans skip the joins that only find the club's rows.
    only_club = not LoyaltyClub.objects.exclude(pk=club.pk).exists()
    uses = offer_uses_per_day(club=club, now=now, only_club=only_club)
    figures = DashboardFigures(
        club_id=club.pk,
        club_name=club.name,
        timezone=club.timezone,
        as_of=now,
        points_per_month=points_per_month(club=club, months=months, only_club=only_club),
        members_per_month=members_per_month(club=club, months=months),
        uses_per_day=uses,
        top_offers=top_offers(club=club, since=_start_of(uses[0]["day"], tz), only_club=only_club),
    )
    this_month_points = figures.points_per_month[-1]
    figures.totals = {
        **key_figures(club=club, now=now),
        "members_this_month": figures.members_per_month[-1]["count"],
        "points_earned_this_month": this_month_points["earned"],
        "points_spent_this_month": this_month_points["spent"],
        "offer_uses_30_days": sum(row["count"] for row in uses),
    }
    cache.set(key, figures, getattr(settings, "BACKOFFICE_DASHBOARD_CACHE_SECONDS", 300))
    return figures
