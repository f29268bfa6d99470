"""Birthday grants (SPEC §8): each published BIRTHDAY offer, once per member, offer and year, to the members
whose birthday is today in their club's time zone.

* "Today" is the club's local date at the run's instant, so a member of a `Pacific/Auckland` club is served
  on the Auckland date even while it is still yesterday in UTC. Beat ticks hourly, so every club is served
  within the first hour of its own day (and a member created later that day still gets the offer).
* 29 February birthdays are celebrated on 28 February in common years (the last day of the same month).
* The guard is a `BirthdayGrant(offer, member, year)` row, unique, inserted before the grant in the grant's
  own transaction: a second run (or a concurrent one, which waits on the first's uncommitted row) cannot
  grant again. A member who cannot receive the offer right now (banned, outside the audience, stock or
  grant limit reached) gets neither row nor grant and is tried again on the next tick of that day.
* Members are read in batches of ids (the day's birthday members of a club, index on the primary key);
  each grant is one short transaction.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import monotonic

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from kit.errors import DomainError
from loyalty.models import LoyaltyClub, Member
from offers.models import BirthdayGrant, Offer, OfferGrant, OfferStatus, OfferType
from offers.services.grants import offer_grant

DEFAULT_BATCH_SIZE = 500


@dataclass(frozen=True)
class BirthdayResult:
    granted: int = 0
    already_granted: int = 0
    refused: int = 0
    finished: bool = True


def birthday_dates_celebrated(local_day: date) -> list[tuple[int, int]]:
    """(month, day) of the birthdays celebrated on `local_day`: 29 February ones on 28 February of common years."""
    if (local_day.month, local_day.day) == (2, 28) and not calendar.isleap(local_day.year):
        return [(2, 28), (2, 29)]
    return [(local_day.month, local_day.day)]


def birthday_offers_live(*, now: datetime, club: LoyaltyClub | None = None) -> dict[int, list[Offer]]:
    """Published, not archived BIRTHDAY offers whose usable and visible windows have not ended, by club id."""
    queryset = (
        Offer.objects.filter(type=OfferType.BIRTHDAY, status=OfferStatus.PUBLISHED, archived_at__isnull=True)
        .filter(Q(usable_until__isnull=True) | Q(usable_until__gt=now))
        .filter(Q(visible_until__isnull=True) | Q(visible_until__gt=now))
        .order_by("club_id", "id")
    )
    if club is not None:
        queryset = queryset.filter(club=club)
    by_club: dict[int, list[Offer]] = {}
    for offer in queryset:
        by_club.setdefault(offer.club_id, []).append(offer)
    return by_club


def birthday_member_ids(*, club: LoyaltyClub, local_day: date) -> list[int]:
    """Ids of the club's members whose birthday is celebrated on `local_day`, ascending."""
    condition = Q()
    for month, day in birthday_dates_celebrated(local_day):
        condition |= Q(birthday__month=month, birthday__day=day)
    return list(Member.objects.filter(condition, club=club).order_by("pk").values_list("pk", flat=True))


def offers_grant_birthday(
    *,
    now: datetime | None = None,
    club: LoyaltyClub | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
    deadline: float | None = None,
) -> BirthdayResult:
    """Grant every live BIRTHDAY offer (of `club`, or of every club) to the members whose birthday is the
    club's local date at `now`. The grant is usable until the end of BIRTHDAY_GRANT_USABLE_DAYS days
    counted from the birthday (club's time zone). Safe to run any number of times, also concurrently.
    `finished` is False when `deadline` (a `time.monotonic()` value) stopped it early."""
    now = now or timezone.now()
    granted = already = refused = 0
    offers_by_club = birthday_offers_live(now=now, club=club)
    for each in LoyaltyClub.objects.filter(pk__in=list(offers_by_club)).order_by("pk"):
        tz = each.tzinfo
        local_day = now.astimezone(tz).date()
        usable_until = datetime.combine(local_day + timedelta(days=settings.BIRTHDAY_GRANT_USABLE_DAYS), time(), tz)
        offers = offers_by_club[each.pk]
        member_ids = birthday_member_ids(club=each, local_day=local_day)
        for start in range(0, len(member_ids), batch_size):
            chunk = member_ids[start : start + batch_size]
            done = set(
                BirthdayGrant.objects.filter(year=local_day.year, offer__in=offers, member_id__in=chunk).values_list(
                    "offer_id", "member_id"
                )
            )
            for member in Member.objects.filter(pk__in=chunk).order_by("pk"):
                for offer in offers:
                    if (offer.pk, member.pk) in done:
                        already += 1
                        continue
                    outcome = _grant_once(offer=offer, member=member, year=local_day.year, usable_until=usable_until)
                    granted += outcome is True
                    already += outcome is False
                    refused += outcome is None
            if on_batch is not None:
                on_batch(len(chunk))
            if deadline is not None and monotonic() >= deadline:
                return BirthdayResult(granted, already, refused, finished=False)
    return BirthdayResult(granted, already, refused)


def _grant_once(*, offer: Offer, member: Member, year: int, usable_until: datetime) -> bool | None:
    """True: granted now; False: this year's grant exists already; None: the member cannot get it now.

    One transaction: the BirthdayGrant row first (its unique constraint is the guard; a concurrent run's
    uncommitted row makes this insert wait, then fail), then `offer_grant` with its locks and checks. Any
    refusal rolls both back, so the member is tried again on the next run."""
    grant_now = timezone.now().replace(microsecond=0)
    seconds = int((usable_until - grant_now).total_seconds())
    if seconds <= 0:  # the grant window is already over (a job far behind schedule): nothing to give
        return None
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    BirthdayGrant.objects.create(offer=offer, member=member, year=year, granted_at=grant_now)
            except IntegrityError:
                return False
            offer_grant(
                offer=offer,
                member=member,
                usable_for_seconds=seconds,
                source=OfferGrant.Source.BIRTHDAY,
                now=grant_now,
            )
            return True
    except DomainError:
        return None
