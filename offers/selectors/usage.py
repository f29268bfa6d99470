"""The usage figures of offers in SQL (SPEC §4.3) and the usage-annotated rows of the member API.

Visibility, `usable`, `uses_left`, `liked` and the periodic counters are SQL annotations, so filtering and
sorting on them happen in the database and a page costs the same number of queries whatever its size. The
decisions themselves are `offers.rules.usage_figures`; this is their form as SQL expressions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    Exists,
    F,
    FilteredRelation,
    Func,
    IntegerField,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, Least

from kit import periods as kit_periods
from kit.prepared import PreparedLookup
from loyalty.models import LoyaltyClub, Member, MemberGroupMembership
from offers import sql
from offers.models import GRANT_TYPES, Offer, OfferGrant, OfferLike, OfferType, OfferUsage, Scope, Timespan
from offers.selectors.visibility import active_grants, offers_live
from webhooks import services as webhooks


def _in_audience(member_id: int) -> Exists:
    return Exists(MemberGroupMembership.objects.filter(group_id=OuterRef("audience_id"), member_id=member_id))


def _count(qs: QuerySet) -> Subquery:
    return Subquery(qs.order_by().values("offer").annotate(n=Count("id")).values("n"), output_field=IntegerField())


def _period_uses(member_id, period_start: str) -> Case:
    """The member's uses of the offer since the start of its current period (annotated as `period_start`);
    0 for an offer without a periodic limit."""
    return Case(
        When(periodic_timespan__isnull=True, then=Value(0)),
        default=Coalesce(
            _count(
                OfferUsage.objects.filter(
                    offer=OuterRef("pk"), member_id=member_id, used_at__gte=OuterRef(period_start)
                )
            ),
            Value(0),
        ),
        output_field=IntegerField(),
    )


def period_starts(*, club: LoyaltyClub, now: datetime) -> Mapping[str, datetime]:
    """When the current period of each timespan started, in the club's time zone (`kit.periods.period_starts`)."""
    return kit_periods.period_starts(now=now, tz=club.tzinfo)


def _period_start_expr(starts: Mapping[str, datetime]) -> Case:
    return Case(
        *[When(periodic_timespan=ts, then=Value(starts[ts])) for ts in Timespan.values],
        default=Value(None),
        output_field=DateTimeField(),
    )


def offers_annotate_usage(
    qs: QuerySet[Offer],
    *,
    club: LoyaltyClub,
    member: Member | None,
    now: datetime,
    starts: Mapping[str, datetime] | None = None,
) -> QuerySet[Offer]:
    """Adds `u_usable`, `u_max_uses`, `u_uses_left`, `u_last_used_at`, `u_period_uses` and `u_liked` (SPEC §4.3):
    the SQL form of `offers.rules.usage_figures`, for filtering and sorting in the database (a hypothesis test
    holds the two equal). `starts`: the period starts (`period_starts`) when the caller has them already.

    Per-member allowance: REGULAR offers allow `maximum_uses_per_user` in total; grant-requiring offers allow
    `maximum_uses_per_user` per active grant, and each use is drawn from one grant (`OfferGrant.uses_count`),
    so the member's uses left are Σ over active grants of (maximum − uses drawn)."""
    max_uses = F("maximum_uses_per_user")
    in_window = (Q(usable_since__isnull=True) | Q(usable_since__lte=now)) & (
        Q(usable_until__isnull=True) | Q(usable_until__gt=now)
    )
    global_ok = Q(stock__isnull=True) | Q(uses_count__lt=F("stock"))
    global_left = Case(
        When(stock__isnull=True, then=Value(None)),
        default=Greatest(F("stock") - F("uses_count"), Value(0)),
        output_field=IntegerField(),
    )
    if member is None:
        qs = qs.annotate(
            u_last_used_at=Value(None, output_field=DateTimeField()),
            u_period_uses=Value(0, output_field=IntegerField()),
            u_liked=Value(False, output_field=BooleanField()),
            u_max_uses=Case(
                When(type__in=GRANT_TYPES, maximum_uses_per_user__isnull=False, then=Value(0)),
                default=max_uses,
                output_field=IntegerField(),
            ),
            u_member_left=Case(
                When(maximum_uses_per_user__isnull=True, then=Value(None)),
                When(type__in=GRANT_TYPES, then=Value(0)),
                default=max_uses,
                output_field=IntegerField(),
            ),
        )
        # An anonymous member has used nothing: only the offer's own conditions and its stock matter.
        usable = (
            in_window & ~Q(scope=Scope.INFORMATIONAL) & Q(audience__isnull=True, type=OfferType.REGULAR) & global_ok
        )
    else:
        grants = active_grants(member_id=member.id, now=now)
        grants_left = grants.annotate(left=Greatest(OuterRef("maximum_uses_per_user") - F("uses_count"), Value(0)))
        has_grant_left = Case(
            When(maximum_uses_per_user__isnull=True, then=Exists(grants)),
            default=Exists(grants.filter(uses_count__lt=OuterRef("maximum_uses_per_user"))),
            output_field=BooleanField(),
        )
        qs = qs.annotate(
            u_state=FilteredRelation("member_states", condition=Q(member_states__member_id=member.id)),
        ).annotate(
            u_last_used_at=F("u_state__last_used_at"),
            u_period_start=_period_start_expr(starts or period_starts(club=club, now=now)),
        )
        qs = qs.annotate(
            u_period_uses=_period_uses(member.id, "u_period_start"),
            u_liked=Exists(OfferLike.objects.filter(offer=OuterRef("pk"), member_id=member.id)),
            u_max_uses=Case(
                When(
                    type__in=GRANT_TYPES,
                    then=max_uses * Coalesce(_count(grants), Value(0)),
                ),
                default=max_uses,
                output_field=IntegerField(),
            ),
            u_member_left=Case(
                When(maximum_uses_per_user__isnull=True, then=Value(None)),
                When(
                    type__in=GRANT_TYPES,
                    then=Coalesce(
                        Subquery(
                            grants_left.order_by().values("offer").annotate(s=Sum("left")).values("s"),
                            output_field=IntegerField(),
                        ),
                        Value(0),
                    ),
                ),
                default=Greatest(max_uses - Coalesce(F("u_state__uses_count"), Value(0)), Value(0)),
                output_field=IntegerField(),
            ),
        )
        usable = (
            in_window
            & ~Q(scope=Scope.INFORMATIONAL)
            & (Q(audience__isnull=True) | _in_audience(member.id))
            & (Q(type=OfferType.REGULAR) | Q(has_grant_left))
            & (
                ~Q(type=OfferType.REGULAR)
                | Q(maximum_uses_per_user__isnull=True)
                | Q(maximum_uses_per_user__gt=Coalesce(F("u_state__uses_count"), Value(0)))
            )
            & global_ok
            & (Q(periodic_timespan__isnull=True) | Q(periodic_limit__gt=F("u_period_uses")))
        )
    # min(member_left, global_left) with null meaning "unlimited", on every database:
    # LEAST(COALESCE(a, b), COALESCE(b, a)).
    return qs.annotate(
        u_global_left=global_left,
    ).annotate(
        u_uses_left=Least(
            Coalesce(F("u_member_left"), F("u_global_left")), Coalesce(F("u_global_left"), F("u_member_left"))
        ),
        u_usable=Case(When(usable, then=Value(True)), default=Value(False), output_field=BooleanField()),
    )


# The member's figures of an offer and what reading them needs, beside the revision of the offer's content:
# the content itself (names, texts, relations) is rendered once per revision (offers/api/content.py) and
# read by `offers.selectors.content.content_rows` only for the revisions a worker has not rendered yet.
OFFER_ROW_FIELDS = (
    "id",
    "content_revision",
    "periodic_timespan",
    "periodic_limit",
    "u_usable",
    "u_max_uses",
    "u_uses_left",
    "u_last_used_at",
    "u_period_uses",
    "u_liked",
)


# --- The usage-annotated row queries, compiled once per process ----------------------------------------
#
# Building `offers_annotate_usage` with the ORM costs more CPU than running it (about 7 ms to build and 3 ms
# to compile its dozens of Case/Subquery/FilteredRelation expressions, for a query PostgreSQL answers in
# 1-3 ms). Its SQL text never changes, only the request's values do (member, club, scope, offer ids, now
# and the period starts derived from it): a `PreparedLookup` builds it once with sentinels.


def _usage_rows_build(kind: str, guest: bool):
    def build(p):
        # A guest's figures need no period (nothing used): asking for those sentinels would leave them unused.
        starts = None if guest else {ts: getattr(p, f"period_{ts}_at") for ts in Timespan.values}
        member = None if guest else Member(pk=p.member_id)
        if kind == "ids":
            club = LoyaltyClub(timezone="UTC")  # only its time zone would matter, and `starts` replace it
            base = Offer.objects.filter(pk__in=sql.ids_subquery(p.ids_str))
        else:  # "live": one offer by id under the GET rules
            club = LoyaltyClub(pk=p.club_id, timezone="UTC")
            base = offers_live(club=club, scope=p.scope, now=p.now).filter(pk=p.pk)
        qs = offers_annotate_usage(base, club=club, member=member, now=p.now, starts=starts)
        return qs.values(*OFFER_ROW_FIELDS)

    return build


_usage_rows_lookups = {
    (kind, guest): PreparedLookup(_usage_rows_build(kind, guest)) for kind in ("ids", "live") for guest in (True, False)
}


def usage_rows(
    kind: str,
    *,
    club: LoyaltyClub,
    member: Member | None,
    now: datetime,
    scope: str | None = None,
    offer_id: int | None = None,
    ids: list[int] | None = None,
) -> list[dict[str, Any]]:
    """The rows `offers_annotate_usage(...).values(*OFFER_ROW_FIELDS)` gives: of the offers `ids` ("ids"),
    or of the live offer `offer_id` in `scope` ("live")."""
    values: dict[str, Any] = {f"period_{ts}_at": start for ts, start in period_starts(club=club, now=now).items()}
    values["now"] = now
    if member is not None:
        values["member_id"] = member.pk
    if kind == "ids":
        values["ids_str"] = sql.ids_text(ids or [])
    else:
        values.update(club_id=club.pk, scope=scope, pk=offer_id)
    return _usage_rows_lookups[(kind, member is None)].dicts(**values)


# --- The facts of a use, in one statement (PostgreSQL) ---------------------------------------------------


@dataclass(frozen=True)
class UseFacts:
    """What `offers.rules.use_decide` needs of the offer and the member, read in one statement without a
    lock (`use_facts`): the state row's `uses_count` / `last_used_at` (0 / None without a row), whether the
    member is in the offer's audience, the member's grants of the offer still running at `read_at` (oldest
    first), the uses since the start of the offer's current period (`period_start`, None without a period),
    and the club's active webhook endpoints as `(id, events)` pairs."""

    offer: Offer
    uses_count: int
    last_used_at: datetime | None
    in_audience: bool
    grants: list[OfferGrant]
    period_start: datetime | None
    period_uses: int
    endpoints: list[list[Any]]
    read_at: datetime


# The offer's columns a use reads: its rules (`offers.rules.use_decide`, `usage_figures`), the locking path it
# may fall back to (`offers.services.use.offer_use`) and the hooks that run there. The instance defers the
# others (a read of one would cost a query): the texts, extras and display schemas are most of the row's
# decoding work and no use needs them.
USE_OFFER_COLUMNS = (
    "id",
    "club_id",
    "scope",
    "type",
    "usable_since",
    "usable_until",
    "audience_id",
    "maximum_uses_per_user",
    "periodic_timespan",
    "periodic_limit",
    "stock",
    "uses_count",
    "usage_authorization_token",
    "usage_authorization_token_required",
)
_FACT_COLUMNS = ("f_uses", "f_last_used_at", "f_in_audience", "f_grants", "f_period_uses", "f_endpoints")


def _use_facts_build(p):
    from django.contrib.postgres.aggregates import JSONBAgg  # PostgreSQL only, like this lookup

    base = offers_live(club=LoyaltyClub(pk=p.club_id), scope=p.scope, now=p.now).filter(pk=p.pk)
    grants = active_grants(member_id=p.member_id, now=p.now)
    grant_rows = (
        grants.order_by()
        .values("offer")
        .annotate(
            rows=JSONBAgg(
                Func(F("id"), F("usable_until"), F("uses_count"), function="jsonb_build_array"), order_by="id"
            )
        )
        .values("rows")
    )
    starts = {ts: getattr(p, f"period_{ts}_at") for ts in Timespan.values}
    qs = (
        base.annotate(f_state=FilteredRelation("member_states", condition=Q(member_states__member_id=p.member_id)))
        .annotate(f_period_start=_period_start_expr(starts))
        .annotate(
            f_uses=Coalesce(F("f_state__uses_count"), Value(0)),
            f_last_used_at=F("f_state__last_used_at"),
            f_in_audience=_in_audience(p.member_id),
            f_grants=Subquery(grant_rows, output_field=JSONField()),
            f_period_uses=_period_uses(p.member_id, "f_period_start"),
            f_endpoints=webhooks.active_endpoints_json(),
        )
    )
    return qs.values_list(*USE_OFFER_COLUMNS, *_FACT_COLUMNS)


_use_facts_lookup = PreparedLookup(_use_facts_build)


def use_facts(*, club: LoyaltyClub, scope: str, offer_pk: int, member: Member, now: datetime) -> UseFacts | None:
    """The live offer `offer_pk` of the club in the scope (as `offers.selectors.visibility.offer_get_visible`
    finds it), with the member's facts of a use at `now`, in one statement; None when no such offer.
    PostgreSQL only (the other databases take the locking path)."""
    starts = period_starts(club=club, now=now)
    values = {f"period_{ts}_at": start for ts, start in starts.items()}
    rows = _use_facts_lookup.rows(club_id=club.pk, scope=scope, now=now, pk=offer_pk, member_id=member.pk, **values)
    if not rows:
        return None
    row = rows[0]
    n = len(USE_OFFER_COLUMNS)
    offer = Offer.from_db(connection.alias, USE_OFFER_COLUMNS, row[:n])
    offer.club = club
    uses, last_used_at, in_audience, grant_rows, period_uses, endpoints = row[n:]
    grants = []
    for grant_id, usable_until, grant_uses in grant_rows or []:
        grant = OfferGrant(
            id=grant_id,
            offer_id=offer.pk,
            member_id=member.pk,
            usable_until=None if usable_until is None else datetime.fromisoformat(usable_until),
            uses_count=grant_uses,
        )
        grant._state.adding, grant._state.db = False, connection.alias
        grants.append(grant)
    return UseFacts(
        offer=offer,
        uses_count=uses,
        last_used_at=last_used_at,
        in_audience=bool(in_audience),
        grants=grants,
        period_start=starts[offer.periodic_timespan] if offer.periodic_timespan else None,
        period_uses=period_uses,
        endpoints=endpoints or [],
        read_at=now,
    )
