"""Reads of the member offer API (SPEC §4.2–4.4, §4.7). Everything is club- and scope-scoped.

Visibility, `usable`, `uses_left`, `liked` and the periodic counters are SQL annotations, so filtering and
sorting on them happen in the database and a page costs the same number of queries whatever its size.
`offers_page` returns plain rows (`.values()` plus bulk-loaded tags, stores, collections and files); the API
turns them into JSON without serializers on this hot path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
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
    IntegerField,
    OrderBy,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Greatest, Least, Lower
from django.utils import timezone

from kit.db.arrays import pg_array
from kit.pagination import pagination_info
from kit.periods import period_start
from kit.prepared import Converters, PreparedLookup, fast_json_converters, rows_convert
from loyalty.models import LoyaltyClub, Member, MemberGroupMembership
from offers.exceptions import OfferNotFound
from offers.extras_filter import extras_q
from offers.models import (
    GRANT_TYPES,
    Collection,
    CollectionOffer,
    Offer,
    OfferFile,
    OfferGrant,
    OfferLike,
    OfferStatus,
    OfferStore,
    OfferTag,
    OfferType,
    OfferUsage,
    Scope,
    Timespan,
)
from offers.texts import AllTexts, LocalizedText

# --- Visibility -----------------------------------------------------------------------------------


def offers_live(*, club: LoyaltyClub, scope: str, now: datetime) -> QuerySet[Offer]:
    """Published, not archived, inside the visibility window, in the scope: what GET by id may show."""
    return Offer.objects.filter(
        Q(visible_since__isnull=True) | Q(visible_since__lte=now),
        Q(visible_until__isnull=True) | Q(visible_until__gt=now),
        club=club,
        scope=scope,
        status=OfferStatus.PUBLISHED,
        archived_at__isnull=True,
    )


def active_grants(*, member_id: int, now: datetime, offer=None) -> QuerySet[OfferGrant]:
    """The member's grants that are still running (`usable_until` null or in the future)."""
    qs = OfferGrant.objects.filter(member_id=member_id).filter(Q(usable_until__isnull=True) | Q(usable_until__gt=now))
    return qs.filter(offer=OuterRef("pk") if offer is None else offer)


def _in_audience(member_id: int) -> Exists:
    return Exists(MemberGroupMembership.objects.filter(group_id=OuterRef("audience_id"), member_id=member_id))


def offers_visible(*, club: LoyaltyClub, member: Member | None, scope: str, now: datetime) -> QuerySet[Offer]:
    """What a context lists (SPEC §4.4): live offers, in the audience (if set), and for types that need a
    grant, holding an active grant. Guests see only offers with neither audience nor grant requirement."""
    qs = offers_live(club=club, scope=scope, now=now)
    if member is None:
        return qs.filter(audience__isnull=True).exclude(type__in=GRANT_TYPES)
    # Uncorrelated IN (…) subqueries: PostgreSQL hashes each once instead of probing per offer.
    return qs.filter(
        Q(audience__isnull=True)
        | Q(audience_id__in=MemberGroupMembership.objects.filter(member_id=member.id).values("group_id")),
        Q(type=OfferType.REGULAR)
        | Q(
            pk__in=OfferGrant.objects.filter(member_id=member.id)
            .filter(Q(usable_until__isnull=True) | Q(usable_until__gt=now))
            .values("offer_id")
        ),
    )


_offer_live_by_id = PreparedLookup(
    lambda p: offers_live(club=LoyaltyClub(pk=p.club_id), scope=p.scope, now=p.now).filter(pk=p.pk)
)


def offer_get_visible(*, club: LoyaltyClub, scope: str, offer_id: int | str, now: datetime | None = None) -> Offer:
    """The live offer with this id in this club and scope (SPEC §4.4 GET, §4.5 check 1), else 404.
    Audience and grants are not visibility rules here: they make the offer unusable instead."""
    try:
        pk = int(offer_id)
    except (TypeError, ValueError):
        raise OfferNotFound(offer_id) from None
    offer = None
    if 0 < pk < 2**63:
        offer = _offer_live_by_id.first(club_id=club.pk, scope=scope, now=now or timezone.now(), pk=pk)
    if offer is None:
        raise OfferNotFound(offer_id)
    offer.club = club  # callers read club settings (timezone, activation time, tokens) without a query
    return offer


def offer_ids_existing(*, club: LoyaltyClub, scope: str, ids: set[int]) -> set[int]:
    """Which of these ids are offers of the club in the scope, in any status (for event reports)."""
    return set(Offer.objects.filter(club=club, scope=scope, pk__in=ids).values_list("pk", flat=True))


# --- Usage annotations ----------------------------------------------------------------------------


def _count(qs: QuerySet) -> Subquery:
    return Subquery(qs.order_by().values("offer").annotate(n=Count("id")).values("n"), output_field=IntegerField())


def _period_start_expr(*, club: LoyaltyClub, now: datetime) -> Case:
    tz = club.tzinfo
    return Case(
        *[When(periodic_timespan=ts, then=Value(period_start(ts, now=now, tz=tz))) for ts in Timespan.values],
        default=Value(None),
        output_field=DateTimeField(),
    )


def offers_annotate_usage(
    qs: QuerySet[Offer], *, club: LoyaltyClub, member: Member | None, now: datetime
) -> QuerySet[Offer]:
    """Adds `u_usable`, `u_max_uses`, `u_uses_left`, `u_last_used_at`, `u_period_uses` and `u_liked` (SPEC §4.3).

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
            u_period_start=_period_start_expr(club=club, now=now),
        )
        qs = qs.annotate(
            u_period_uses=Case(
                When(periodic_timespan__isnull=True, then=Value(0)),
                default=Coalesce(
                    _count(
                        OfferUsage.objects.filter(
                            offer=OuterRef("pk"), member_id=member.id, used_at__gte=OuterRef("u_period_start")
                        )
                    ),
                    Value(0),
                ),
                output_field=IntegerField(),
            ),
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


# --- Listing --------------------------------------------------------------------------------------

ORDER_ALWAYS = ("name", "usable_since", "usable_until", "created_at")
ORDER_MEMBER = ("usable", "uses_left", "liked")


def order_attributes(*, guest: bool, single_collection: bool) -> list[str]:
    allowed = list(ORDER_ALWAYS)
    if not guest:
        allowed += ORDER_MEMBER
    if single_collection:
        allowed.append("collection_position")
    return allowed


def _collection_position(collection_id: int) -> RawSQL:
    table = Offer._meta.db_table
    if connection.vendor == "postgresql":
        sql = (
            "SELECT o.ordinality FROM offers_collection c CROSS JOIN LATERAL "
            "jsonb_array_elements(c.offers_order) WITH ORDINALITY AS o(value, ordinality) "
            f'WHERE c.id = %s AND o.value = to_jsonb("{table}"."id") LIMIT 1'
        )
    else:
        sql = (
            "SELECT CAST(j.key AS INTEGER) FROM offers_collection c, json_each(c.offers_order) j "
            f'WHERE c.id = %s AND j.value = "{table}"."id" LIMIT 1'
        )
    return RawSQL(sql, (collection_id,), output_field=IntegerField())


def _order_expression(attribute: str, *, languages: list[str], collection_id: int | None):
    if attribute == "name":
        return Lower(LocalizedText("name", languages))
    if attribute in ("usable_since", "usable_until", "created_at"):
        return F(attribute)
    if attribute == "collection_position":
        return _collection_position(collection_id)
    return F({"usable": "u_usable", "uses_left": "u_uses_left", "liked": "u_liked"}[attribute])


@dataclass
class OfferListFilters:
    collection_ids: list[int] | None = None
    tags: list[str] | None = None
    stores: list[str] | None = None
    ids: list[int] | None = None
    type: str | None = None
    campaign_ids: list[int] | None = None
    search: str | None = None
    usable: bool = False
    liked: bool = False
    extras: dict[str, list[str]] | None = None  # offers.extras_filter
    order_by: list[tuple[str, bool]] = field(default_factory=lambda: [("name", False)])  # (attribute, descending)


def _apply_filters(qs: QuerySet[Offer], f: OfferListFilters) -> QuerySet[Offer]:
    if f.collection_ids:
        qs = qs.filter(Exists(CollectionOffer.objects.filter(offer=OuterRef("pk"), collection_id__in=f.collection_ids)))
    if f.tags:
        qs = qs.filter(Exists(OfferTag.objects.filter(offer=OuterRef("pk"), value__in=f.tags)))
    if f.stores:
        qs = qs.filter(Exists(OfferStore.objects.filter(offer=OuterRef("pk"), value__in=f.stores)))
    if f.ids:
        qs = qs.filter(pk__in=f.ids)
    if f.type:
        qs = qs.filter(type=f.type)
    if f.campaign_ids:
        qs = qs.filter(campaign_id__in=f.campaign_ids)
    if f.search:
        qs = qs.alias(s_name=AllTexts("name"), s_description=AllTexts("description")).filter(
            Q(s_name__icontains=f.search)
            | Q(s_description__icontains=f.search)
            | Exists(OfferTag.objects.filter(offer=OuterRef("pk"), value__icontains=f.search))
            | Exists(OfferStore.objects.filter(offer=OuterRef("pk"), value__icontains=f.search))
        )
    if f.extras:
        qs = qs.filter(extras_q(f.extras))
    if f.usable:
        qs = qs.filter(u_usable=True)
    if f.liked:
        qs = qs.filter(u_liked=True)
    return qs


OFFER_ROW_FIELDS = (
    "id",
    "name",
    "type",
    "scope",
    "description",
    "external_url",
    "usable_since",
    "usable_until",
    "extras",
    "display_schemas",
    "read_more",
    "activation_texts",
    "usage_authorization_token_required",
    "periodic_timespan",
    "periodic_limit",
    "u_usable",
    "u_max_uses",
    "u_uses_left",
    "u_last_used_at",
    "u_period_uses",
    "u_liked",
)


@dataclass
class OfferPage:
    rows: list[dict[str, Any]]
    pagination_info: dict[str, Any] | None


def offers_page(
    *,
    club: LoyaltyClub,
    member: Member | None,
    scope: str,
    filters: OfferListFilters,
    languages: list[str],
    page_no: int = 1,
    per_page: int = 100,
    with_pagination_info: bool = False,
    now: datetime | None = None,
) -> OfferPage:
    """One page of the offers this context lists, as rows ready for `offers.api.serializers.offer_to_json`.

    Two steps keep the work proportional to the page, not the catalogue: the ids of the page (a narrow sort;
    usage annotations only when a filter or the order needs them), then the usage-annotated rows of just
    those ids. Queries: a COUNT (only with pagination info), the ids, the rows, and one each for tags,
    stores, collections and files."""
    now = now or timezone.now()
    offset = (page_no - 1) * per_page
    if not with_pagination_info and _unfiltered(filters):
        ids_lookup = _page_ids_lookup(guest=member is None, order_by=filters.order_by, languages=languages)
        page_ids = [
            pk
            for (pk,) in ids_lookup.rows(
                club_id=club.pk,
                member_id=member.pk if member else None,
                scope=scope,
                now=now,
                limit=per_page,
                offset=offset,
            )
        ]
        return OfferPage(rows=offer_rows(club=club, member=member, ids=page_ids, now=now), pagination_info=None)
    qs = offers_visible(club=club, member=member, scope=scope, now=now)
    if filters.usable or filters.liked or any(attr in ORDER_MEMBER for attr, _ in filters.order_by):
        qs = offers_annotate_usage(qs, club=club, member=member, now=now)
    qs = _apply_filters(qs, filters)
    collection_id = filters.collection_ids[0] if filters.collection_ids and len(filters.collection_ids) == 1 else None
    qs = qs.order_by(*_page_order(filters.order_by, languages=languages, collection_id=collection_id))
    info = None
    if with_pagination_info:
        total = qs.count()
        info = pagination_info(total_count=total, page_no=page_no, per_page=per_page)
        if info["is_out_of_range"] or total == 0:
            return OfferPage(rows=[], pagination_info=info)
    page_ids = list(qs.values_list("id", flat=True)[offset : offset + per_page])
    return OfferPage(rows=offer_rows(club=club, member=member, ids=page_ids, now=now), pagination_info=info)


def _page_order(order_by: list[tuple[str, bool]], *, languages: list[str], collection_id: int | None) -> list:
    ordering = []
    for attribute, descending in order_by:
        expression = _order_expression(attribute, languages=languages, collection_id=collection_id)
        ordering.append(
            OrderBy(expression, descending=True, nulls_first=True)
            if descending
            else OrderBy(expression, nulls_last=True)
        )
    return [*ordering, "id"]


def _unfiltered(filters: OfferListFilters) -> bool:
    """The list as apps ask for it most: no filter, ordered by offer attributes only."""
    return (
        not (filters.collection_ids or filters.tags or filters.stores or filters.ids or filters.type)
        and not (filters.campaign_ids or filters.search or filters.usable or filters.liked or filters.extras)
        and all(
            attribute in ("name", "usable_since", "usable_until", "created_at") for attribute, _ in filters.order_by
        )
    )


# The page-ids query of an unfiltered list, compiled once per (guest, order, languages): see kit.prepared.
# Bounded, since the languages come from the request; past the bound a lookup is built for the request alone.
_page_ids_lookups: dict[tuple, PreparedLookup] = {}


def _page_ids_lookup(*, guest: bool, order_by: list[tuple[str, bool]], languages: list[str]) -> PreparedLookup:
    key = (guest, tuple(order_by), tuple(languages))
    lookup = _page_ids_lookups.get(key)
    if lookup is None:
        ordering = _page_order(order_by, languages=languages, collection_id=None)
        lookup = PreparedLookup(
            lambda p: (
                offers_visible(
                    club=LoyaltyClub(pk=p.club_id),
                    member=None if guest else Member(pk=p.member_id),
                    scope=p.scope,
                    now=p.now,
                )
                .order_by(*ordering)
                .values_list("id")
            ),
            paged=True,
        )
        if len(_page_ids_lookups) < 256:
            _page_ids_lookups[key] = lookup
    return lookup


def offer_rows(*, club: LoyaltyClub, member: Member | None, ids: list[int], now: datetime) -> list[dict[str, Any]]:
    """The usage-annotated rows of these offers, in the order of `ids`, with their relations attached.
    Visibility is the caller's business (the ids come from a visibility-filtered query)."""
    if not ids:
        return []
    if connection.vendor == "postgresql":
        found = _usage_rows("ids", club=club, member=member, now=now, ids=list(ids))
    else:
        found = offers_annotate_usage(Offer.objects.filter(pk__in=ids), club=club, member=member, now=now).values(
            *OFFER_ROW_FIELDS
        )
    by_id = {row["id"]: row for row in found}
    rows = [by_id[pk] for pk in ids if pk in by_id]
    offer_rows_attach_relations(rows)
    return rows


def offer_row_get(
    *,
    club: LoyaltyClub,
    member: Member | None,
    scope: str,
    offer_id: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One offer as a row (GET by id rules: live and in scope; audience and grants only affect usage)."""
    now = now or timezone.now()
    rows = []
    if not 0 < offer_id < 2**63:
        pass
    elif connection.vendor == "postgresql":
        rows = _usage_rows("live", club=club, member=member, now=now, scope=scope, offer_id=offer_id)
    else:
        qs = offers_annotate_usage(offers_live(club=club, scope=scope, now=now), club=club, member=member, now=now)
        rows = list(qs.filter(pk=offer_id).values(*OFFER_ROW_FIELDS))
    if not rows:
        raise OfferNotFound(offer_id)
    offer_rows_attach_relations(rows)
    return rows[0]


# --- The usage-annotated row query, compiled once per process (PostgreSQL) ----------------------------
#
# Building `offers_annotate_usage` with the ORM costs more CPU than running it (about 7 ms to build and 3 ms
# to compile its dozens of Case/Subquery/FilteredRelation expressions, for a query PostgreSQL answers in
# 1-3 ms). Its SQL text never changes: only the values of the request do (member, club, scope, offer ids,
# now and the period starts derived from it). So each process builds it once with sentinel values, keeps
# the SQL and its parameters, and for each request puts the request's values where the sentinels are.

_S_MEMBER, _S_CLUB, _S_OFFER = -7_391_000_000_001, -7_391_000_000_002, -7_391_000_000_003
_S_SCOPE = "usage-query-scope-sentinel"
_S_NOW = datetime(1901, 3, 14, 5, 6, 7, 891011, tzinfo=UTC)  # a Thursday: every period start differs
_S_PERIOD_STARTS = {timespan: period_start(timespan, now=_S_NOW, tz=UTC) for timespan in Timespan.values}


@dataclass(frozen=True)
class _UsageQuery:
    sql: str
    params: tuple
    names: tuple[str, ...]  # of the columns, in order (as Django's ValuesIterable names them)
    converters: Converters


_usage_queries: dict[tuple[str, bool], _UsageQuery] = {}


def _usage_query(kind: str, *, guest: bool) -> _UsageQuery:
    query = _usage_queries.get((kind, guest))
    if query is not None:
        return query
    club = LoyaltyClub(pk=_S_CLUB, timezone="UTC")
    member = None if guest else Member(pk=_S_MEMBER)
    if kind == "ids":
        base = Offer.objects.filter(pk__in=RawSQL("SELECT unnest(%s::bigint[])", ([_S_OFFER],)))
    else:  # "live": one offer by id under the GET rules
        base = offers_live(club=club, scope=_S_SCOPE, now=_S_NOW).filter(pk=_S_OFFER)
    qs = offers_annotate_usage(base, club=club, member=member, now=_S_NOW).values(*OFFER_ROW_FIELDS)
    compiler = qs.query.get_compiler(using=qs.db)
    sql, params = compiler.as_sql()
    query = _UsageQuery(
        sql=sql,
        params=tuple(params),
        names=tuple(qs.query.selected),  # a .values() query's columns in SQL order, as ValuesIterable names them
        converters=fast_json_converters(compiler.get_converters([expression for expression, _, _ in compiler.select])),
    )
    _usage_queries[(kind, guest)] = query
    return query


def _sentinel_values(
    *, club: LoyaltyClub, member: Member | None, now: datetime, scope: str | None, offer_id: int | None
):
    values = {_S_CLUB: club.pk, _S_NOW: now, _S_SCOPE: scope, _S_OFFER: offer_id}
    if member is not None:
        values[_S_MEMBER] = member.pk
    for timespan, sentinel in _S_PERIOD_STARTS.items():
        values[sentinel] = period_start(timespan, now=now, tz=club.tzinfo)
    assert len(values) == 5 + len(Timespan.values) - (member is None), "sentinel values collide"
    return values


def _usage_rows(
    kind: str,
    *,
    club: LoyaltyClub,
    member: Member | None,
    now: datetime,
    scope: str | None = None,
    offer_id: int | None = None,
    ids: list[int] | None = None,
) -> list[dict[str, Any]]:
    """The rows `offers_annotate_usage(...).values(*OFFER_ROW_FIELDS)` gives, from the compiled query."""
    query = _usage_query(kind, guest=member is None)
    values = _sentinel_values(club=club, member=member, now=now, scope=scope, offer_id=offer_id)
    params = [
        pg_array(ids)
        if isinstance(param, list) and param == [_S_OFFER]
        else values.get(param, param)
        if type(param) in (int, str, datetime)
        else param
        for param in query.params
    ]
    with connection.cursor() as cursor:
        cursor.execute(query.sql, params)
        rows = cursor.fetchall()
    names = query.names
    return [dict(zip(names, row, strict=True)) for row in rows_convert(rows, query.converters, connection)]


def offer_rows_attach_relations(rows: list[dict[str, Any]]) -> None:
    """Adds `tags`, `stores`, `collection_ids` and `files` to each row, in one query for any number of rows
    (on PostgreSQL; three elsewhere)."""
    if not rows:
        return
    by_id = {row["id"]: row for row in rows}
    for row in rows:
        row.update(tags=[], stores=[], collection_ids=[], files=[])
    # Plain SQL: these queries run for every page and every GET of an offer, and building them with the ORM
    # (a union of annotated querysets) cost several times what running them does.
    if connection.vendor == "postgresql":
        _relations_attach_postgresql(by_id)
    else:
        _relations_attach_portable(by_id)


def _relation_tables() -> tuple[str, str, str, str]:
    return tuple(
        connection.ops.quote_name(model._meta.db_table) for model in (OfferTag, OfferStore, CollectionOffer, OfferFile)
    )


@functools.cache
def _relations_sql_postgresql() -> str:
    """One statement whatever the number of ids (one prepared statement): each relation's rows padded to
    the same columns — kind, offer, text value, integer value, then the file columns — in UNION ALL."""
    tag, store, link, file = _relation_tables()
    columns = ", ".join(FILE_FIELDS)
    blanks = ", ".join(f"NULL::{OfferFile._meta.get_field(name).db_type(connection)}" for name in FILE_FIELDS)
    in_ids = "= ANY(%s::bigint[])"
    return (
        f"(SELECT 0, offer_id, value, NULL::bigint, {blanks} FROM {tag} WHERE offer_id {in_ids} ORDER BY value) "
        f"UNION ALL (SELECT 1, offer_id, value, NULL, {blanks} FROM {store} WHERE offer_id {in_ids} ORDER BY value) "
        f"UNION ALL (SELECT 2, offer_id, NULL, collection_id, {blanks} FROM {link} WHERE offer_id {in_ids} "
        "ORDER BY collection_id) "
        f"UNION ALL (SELECT 3, offer_id, NULL, NULL, {columns} FROM {file} WHERE offer_id {in_ids} "
        "ORDER BY position, id)"
    )


def _relations_attach_postgresql(by_id: dict[int, dict[str, Any]]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_relations_sql_postgresql(), [pg_array(list(by_id))] * 4)
        rows = cursor.fetchall()
    # Each branch comes sorted; the stable sort on the kind keeps that order even if a plan interleaved them.
    rows.sort(key=itemgetter(0))
    for kind, offer_id, text, number, *file_values in rows:
        row = by_id[offer_id]
        if kind == 0:
            row["tags"].append(text)
        elif kind == 1:
            row["stores"].append(text)
        elif kind == 2:
            row["collection_ids"].append(number)
        else:
            row["files"].append(dict(zip(FILE_FIELDS, file_values, strict=True)))


def _relations_attach_portable(by_id: dict[int, dict[str, Any]]) -> None:
    tag, store, link, file = _relation_tables()
    ids = list(by_id)
    in_ids = f"IN ({', '.join(['%s'] * len(ids))})"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT offer_id, value, 'tags' FROM {tag} WHERE offer_id {in_ids} UNION ALL "
            f"SELECT offer_id, value, 'stores' FROM {store} WHERE offer_id {in_ids} ORDER BY 2",
            ids + ids,
        )
        for offer_id, value, label in cursor.fetchall():
            by_id[offer_id][label].append(value)
        cursor.execute(
            f"SELECT offer_id, collection_id FROM {link} WHERE offer_id {in_ids} ORDER BY collection_id", ids
        )
        for offer_id, collection_id in cursor.fetchall():
            by_id[offer_id]["collection_ids"].append(collection_id)
        columns = ", ".join(FILE_FIELDS)
        cursor.execute(f"SELECT offer_id, {columns} FROM {file} WHERE offer_id {in_ids} ORDER BY position, id", ids)
        for offer_id, *file_values in cursor.fetchall():
            by_id[offer_id]["files"].append(dict(zip(FILE_FIELDS, file_values, strict=True)))


FILE_FIELDS = ("url", "file", "width", "height", "kind", "size_type")


# --- Meta -----------------------------------------------------------------------------------------


@dataclass
class OffersMeta:
    tags: list[str]
    stores: list[str]
    collections: list[dict[str, Any]]


def offers_meta(*, club: LoyaltyClub, member: Member | None, scope: str, now: datetime | None = None) -> OffersMeta:
    """Distinct tags, stores and collections of the offers this context lists (SPEC §4.7). Four queries."""
    visible = offers_visible(club=club, member=member, scope=scope, now=now or timezone.now()).values("pk")
    tags = list(OfferTag.objects.filter(offer__in=visible).order_by("value").values_list("value", flat=True).distinct())
    stores = list(
        OfferStore.objects.filter(offer__in=visible).order_by("value").values_list("value", flat=True).distinct()
    )
    collections = list(
        Collection.objects.filter(
            club=club, pk__in=CollectionOffer.objects.filter(offer__in=visible).values("collection_id")
        ).values("id", "title", "description", "short_description", "offers_order")
    )
    by_id = {c["id"]: {**c, "files": []} for c in collections}
    if by_id:
        for file in OfferFile.objects.filter(collection_id__in=list(by_id)).values(*FILE_FIELDS, "collection_id"):
            by_id[file.pop("collection_id")]["files"].append(file)
    return OffersMeta(tags=tags, stores=stores, collections=list(by_id.values()))
