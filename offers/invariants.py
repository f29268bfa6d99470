"""The offers' counters against their rows: the offers part of `reconcile_balances` (SPEC §9).

Counters change in SQL inside the use and grant transactions; these checks prove, after the fact, that none
was lost or doubled (a crash, a bug, a manual edit):

* every offer: `uses_count` == its usage rows, `grants_count` == its grant rows, and
  `0 <= uses_count <= stock` when it has a stock;
* every (offer, member) state row: its `uses_count` / `grants_count` == that member's usages / grants;
* every grant: `uses_count` == the usages drawn from it;
* on PostgreSQL, every club's kept offer counts (`ClubOfferCount`, live and archived) == its offers.

Each check is one query returning only the mismatching rows (correlated counts over indexed foreign keys),
taken in keyset chunks of offers so that memory stays flat however many offers there are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from loyalty.models import LoyaltyClub
from offers import sql
from offers.models import Offer, OfferGrant, OfferMemberState, OfferUsage

RECONCILE_CHUNK = 1000


@dataclass
class OffersReconcileResult:
    offers_checked: int = 0
    mismatches: list[dict] = field(default_factory=list)


def _count(queryset, **outer) -> Coalesce:
    """COUNT(*) of `queryset` filtered on the outer row, as a correlated subquery."""
    rows = queryset.filter(**{k: OuterRef(v) for k, v in outer.items()}).order_by().values(*outer)
    return Coalesce(Subquery(rows.annotate(n=Count("*")).values("n")[:1]), Value(0), output_field=IntegerField())


def offers_reconcile(*, club: LoyaltyClub | None = None, offer_ids: list[int] | None = None) -> OffersReconcileResult:
    """Check the invariants above for every offer (of `club`, or these ids); return the mismatches."""
    result = OffersReconcileResult()
    after = 0
    while True:
        queryset = Offer.objects.filter(pk__gt=after).order_by("pk")
        if club is not None:
            queryset = queryset.filter(club=club)
        if offer_ids is not None:
            queryset = queryset.filter(pk__in=offer_ids)
        chunk = list(queryset.values_list("pk", flat=True)[:RECONCILE_CHUNK])
        if not chunk:
            if offer_ids is None and sql.club_offer_counts_kept():
                result.mismatches += _club_count_mismatches(club)
            return result
        after = chunk[-1]
        result.offers_checked += len(chunk)
        result.mismatches += _reconcile_chunk(chunk)


def _club_count_mismatches(club: LoyaltyClub | None) -> list[dict]:
    return [
        {"club_id": club_id, "check": "club_offer_count", "archived": archived, "expected": counted, "actual": kept}
        for club_id, archived, counted, kept in sql.club_offer_count_mismatches(
            club_id=None if club is None else club.pk
        )
    ]


def _reconcile_chunk(ids: list[int]) -> list[dict]:
    mismatches: list[dict] = []
    offers = (
        Offer.objects.filter(pk__in=ids)
        .annotate(
            n_usages=_count(OfferUsage.objects, offer_id="pk"), n_grants=_count(OfferGrant.objects, offer_id="pk")
        )
        .filter(
            ~Q(uses_count=F("n_usages"))
            | ~Q(grants_count=F("n_grants"))
            | Q(uses_count__lt=0)
            | Q(stock__isnull=False, uses_count__gt=F("stock"))
        )
        .order_by("pk")
        .values("pk", "uses_count", "n_usages", "grants_count", "n_grants", "stock")
    )
    for row in offers:
        base = {"offer_id": row["pk"]}
        if row["uses_count"] != row["n_usages"]:
            mismatches.append(
                {**base, "check": "offer_uses_count", "expected": row["n_usages"], "actual": row["uses_count"]}
            )
        if row["grants_count"] != row["n_grants"]:
            mismatches.append(
                {**base, "check": "offer_grants_count", "expected": row["n_grants"], "actual": row["grants_count"]}
            )
        if row["stock"] is not None and not 0 <= row["uses_count"] <= row["stock"]:
            mismatches.append({**base, "check": "offer_stock", "stock": row["stock"], "actual": row["uses_count"]})

    states = (
        OfferMemberState.objects.filter(offer_id__in=ids)
        .annotate(
            n_usages=_count(OfferUsage.objects, offer_id="offer_id", member_id="member_id"),
            n_grants=_count(OfferGrant.objects, offer_id="offer_id", member_id="member_id"),
        )
        .filter(~Q(uses_count=F("n_usages")) | ~Q(grants_count=F("n_grants")))
        .order_by("pk")
        .values("offer_id", "member_id", "uses_count", "n_usages", "grants_count", "n_grants")
    )
    for row in states:
        base = {"offer_id": row["offer_id"], "member_id": row["member_id"]}
        if row["uses_count"] != row["n_usages"]:
            mismatches.append(
                {**base, "check": "member_state_uses_count", "expected": row["n_usages"], "actual": row["uses_count"]}
            )
        if row["grants_count"] != row["n_grants"]:
            mismatches.append(
                {
                    **base,
                    "check": "member_state_grants_count",
                    "expected": row["n_grants"],
                    "actual": row["grants_count"],
                }
            )

    grants = (
        OfferGrant.objects.filter(offer_id__in=ids)
        .annotate(n_usages=_count(OfferUsage.objects, grant_id="pk"))
        .filter(~Q(uses_count=F("n_usages")))
        .order_by("pk")
        .values("pk", "offer_id", "member_id", "uses_count", "n_usages")
    )
    for row in grants:
        mismatches.append(
            {
                "offer_id": row["offer_id"],
                "member_id": row["member_id"],
                "grant_id": row["pk"],
                "check": "grant_uses_count",
                "expected": row["n_usages"],
                "actual": row["uses_count"],
            }
        )
    return mismatches
