"""The usage annotation (SQL, for filtering and sorting lists) and `offers.rules.usage_figures` (Python, for
the use and the simulator) are two forms of one rule: on generated offers — random types, scopes, windows,
audiences, per-member and periodic limits, stock, grants and past uses — they must agree on every figure.

The facts fed to the Python rule are taken from the generated case itself, not read back from the database,
so a wrong annotation and a wrong rule cannot agree by sharing a query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.periods import period_start
from offers import rules
from offers.models import (
    Offer,
    OfferGrant,
    OfferMemberState,
    OfferStatus,
    OfferType,
    OfferUsage,
    Scope,
    Timespan,
)
from offers.selectors.usage import offers_annotate_usage
from tests.factories import LoyaltyClubFactory, MemberFactory, MemberGroupFactory

NOW = datetime(2026, 3, 15, 10, 30, tzinfo=UTC)  # a Sunday, mid-month
HOUR = timedelta(hours=1)


class _Rollback(Exception):
    pass


@dataclass(frozen=True)
class Case:
    type: str
    scope: str
    usable_since: datetime | None
    usable_until: datetime | None
    audience: bool
    in_audience: bool
    maximum_uses_per_user: int | None
    stock: int | None
    uses_count: int
    periodic_timespan: str | None
    periodic_limit: int | None
    guest: bool
    state: tuple[int, datetime | None] | None  # (uses_count, last_used_at) of the member's state row
    grants: tuple[tuple[datetime | None, int], ...]  # (usable_until, uses drawn) of each grant
    usages: tuple[datetime, ...]  # when the member used the offer


offsets = st.integers(min_value=-24 * 400, max_value=24 * 400).map(lambda hours: NOW + hours * HOUR)
small_offsets = st.integers(min_value=-24 * 40, max_value=0).map(lambda h: NOW + h * HOUR + timedelta(minutes=7))


@st.composite
def cases(draw) -> Case:
    since = draw(st.none() | offsets)
    until = draw(st.none() | offsets)
    if since is not None and until is not None and until <= since:
        since, until = until - HOUR, since + HOUR
    stock = draw(st.none() | st.integers(1, 6))
    timespan = draw(st.none() | st.sampled_from(Timespan.values))
    audience = draw(st.booleans())
    return Case(
        type=draw(st.sampled_from(OfferType.values)),
        scope=draw(st.sampled_from(Scope.values)),
        usable_since=since,
        usable_until=until,
        audience=audience,
        in_audience=audience and draw(st.booleans()),
        maximum_uses_per_user=draw(st.none() | st.integers(1, 4)),
        stock=stock,
        uses_count=draw(st.integers(0, stock if stock is not None else 8)),
        periodic_timespan=timespan,
        periodic_limit=None if timespan is None else draw(st.integers(1, 3)),
        guest=draw(st.booleans()),
        state=draw(st.none() | st.tuples(st.integers(0, 5), st.none() | small_offsets)),
        grants=tuple(draw(st.lists(st.tuples(st.none() | offsets, st.integers(0, 5)), max_size=3))),
        usages=tuple(draw(st.lists(small_offsets, max_size=4))),
    )


def _expected(case: Case, offer: Offer, tz) -> rules.UsageFigures:
    member = None
    if not case.guest:
        start = period_start(case.periodic_timespan, now=NOW, tz=tz) if case.periodic_timespan else None
        member = rules.MemberUsage(
            in_audience=case.in_audience,
            grant_uses=[uses for until, uses in case.grants if until is None or until > NOW],
            uses_count=case.state[0] if case.state else 0,
            last_used_at=case.state[1] if case.state else None,
            period_uses=sum(1 for at in case.usages if start is not None and at >= start),
        )
    return rules.usage_figures(offer, now=NOW, member=member)


def case_write(case: Case, *, club, member, **offer_fields) -> Offer:
    """The rows of a generated case: the offer (with `offer_fields` besides the case's), the audience, the
    member's state row, grants and past uses."""
    group = MemberGroupFactory(club=club) if case.audience else None
    if case.in_audience:
        group.memberships.create(member=member)
    offer = Offer.objects.create(
        club=club,
        status=OfferStatus.PUBLISHED,
        internal_name="generated",
        type=case.type,
        scope=case.scope,
        usable_since=case.usable_since,
        usable_until=case.usable_until,
        audience=group,
        maximum_uses_per_user=case.maximum_uses_per_user,
        stock=case.stock,
        uses_count=case.uses_count,
        periodic_timespan=case.periodic_timespan,
        periodic_limit=case.periodic_limit,
        **offer_fields,
    )
    if case.state is not None:
        OfferMemberState.objects.create(
            offer=offer, member=member, uses_count=case.state[0], last_used_at=case.state[1]
        )
    for until, uses in case.grants:
        OfferGrant.objects.create(
            offer=offer, member=member, granted_at=NOW - 500 * 24 * HOUR, usable_until=until, uses_count=uses
        )
    OfferUsage.objects.bulk_create([OfferUsage(offer=offer, member=member, used_at=at) for at in case.usages])
    return offer


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(), tz_name=st.sampled_from(["UTC", "Europe/Oslo", "Pacific/Auckland", "America/Los_Angeles"]))
def test_the_usage_annotation_agrees_with_the_python_rule(case: Case, tz_name: str):
    try:
        with transaction.atomic():
            club = LoyaltyClubFactory(timezone=tz_name)
            member = MemberFactory(club=club)
            offer = case_write(case, club=club, member=member)
            row = (
                offers_annotate_usage(
                    Offer.objects.filter(pk=offer.pk), club=club, member=None if case.guest else member, now=NOW
                )
                .values("u_usable", "u_max_uses", "u_uses_left", "u_last_used_at", "u_period_uses")
                .get()
            )
            expected = _expected(case, offer, club.tzinfo)
            raise _Rollback(row, expected)
    except _Rollback as done:
        row, expected = done.args
    assert (
        bool(row["u_usable"]),
        row["u_max_uses"],
        row["u_uses_left"],
        row["u_last_used_at"],
        row["u_period_uses"] or 0,
    ) == (expected.usable, expected.max_uses, expected.uses_left, expected.last_used_at, expected.period_uses)


@pytest.mark.django_db
@pytest.mark.parametrize("guest", [False, True])
def test_the_compiled_once_usage_rows_equal_the_orm_annotation(guest):
    """`usage_rows` (one `PreparedLookup` per kind) gives what building `offers_annotate_usage` gives, for
    other values than those of its first call (other member, other offers, another time zone and instant)."""
    from offers.selectors.usage import OFFER_ROW_FIELDS, usage_rows
    from offers.selectors.visibility import offers_live

    for tz_name, now in (("Europe/Oslo", NOW), ("Pacific/Auckland", NOW + 40 * 24 * HOUR)):
        club = LoyaltyClubFactory(timezone=tz_name)
        member = None if guest else MemberFactory(club=club)
        offers = [
            Offer.objects.create(club=club, status=OfferStatus.PUBLISHED, internal_name="a", maximum_uses_per_user=3),
            Offer.objects.create(
                club=club,
                status=OfferStatus.PUBLISHED,
                internal_name="b",
                periodic_timespan=Timespan.WEEK,
                periodic_limit=2,
                stock=5,
                uses_count=1,
            ),
            Offer.objects.create(club=club, status=OfferStatus.PUBLISHED, internal_name="c", type=OfferType.EXCLUSIVE),
        ]
        if member is not None:
            OfferUsage.objects.create(offer=offers[1], member=member, used_at=now - HOUR)
            OfferMemberState.objects.create(offer=offers[1], member=member, uses_count=1, last_used_at=now - HOUR)
            OfferGrant.objects.create(offer=offers[2], member=member, granted_at=now - HOUR)
        ids = [o.pk for o in offers]
        expected = list(
            offers_annotate_usage(Offer.objects.filter(pk__in=ids), club=club, member=member, now=now)
            .order_by("id")
            .values(*OFFER_ROW_FIELDS)
        )
        assert sorted(usage_rows("ids", club=club, member=member, now=now, ids=ids), key=lambda r: r["id"]) == expected
        live = offers_annotate_usage(
            offers_live(club=club, scope=Scope.STANDARD, now=now), club=club, member=member, now=now
        )
        for offer in offers:
            got = usage_rows("live", club=club, member=member, now=now, scope=Scope.STANDARD, offer_id=offer.pk)
            assert got == list(live.filter(pk=offer.pk).values(*OFFER_ROW_FIELDS))
            assert (
                usage_rows("live", club=club, member=member, now=now, scope=Scope.INFORMATIONAL, offer_id=offer.pk)
                == []
            )
