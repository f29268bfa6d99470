"""Which offers a context sees (SPEC §4.4): live offers, audiences, running grants."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from kit.prepared import PreparedLookup
from loyalty.models import LoyaltyClub, Member, MemberGroupMembership
from offers.exceptions import OfferNotFound
from offers.models import GRANT_TYPES, Offer, OfferGrant, OfferStatus, OfferType


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


def offer_pk(offer_id: int | str) -> int:
    """The offer id of a URL as a primary key, else 404 (no offer has an id that is no positive bigint)."""
    try:
        pk = int(offer_id)
    except (TypeError, ValueError):
        raise OfferNotFound(offer_id) from None
    if not 0 < pk < 2**63:
        raise OfferNotFound(offer_id)
    return pk


def offer_get_visible(*, club: LoyaltyClub, scope: str, offer_id: int | str, now: datetime | None = None) -> Offer:
    """The live offer with this id in this club and scope (SPEC §4.4 GET, §4.5 check 1), else 404.
    Audience and grants are not visibility rules here: they make the offer unusable instead."""
    pk = offer_pk(offer_id)
    offer = _offer_live_by_id.first(club_id=club.pk, scope=scope, now=now or timezone.now(), pk=pk)
    if offer is None:
        raise OfferNotFound(offer_id)
    offer.club = club  # callers read club settings (timezone, activation time, tokens) without a query
    return offer


def offer_ids_existing(*, club: LoyaltyClub, scope: str, ids: set[int]) -> set[int]:
    """Which of these ids are offers of the club in the scope, in any status (for event reports)."""
    return set(Offer.objects.filter(club=club, scope=scope, pk__in=ids).values_list("pk", flat=True))


def offers_welcome_live(*, club_id: int, now: datetime) -> QuerySet[Offer]:
    """The club's published, not archived WELCOME offers whose usable and visible windows have not ended
    (what a new member is granted, SPEC §8), by id."""
    return (
        Offer.objects.filter(
            club_id=club_id,
            type=OfferType.WELCOME,
            status=OfferStatus.PUBLISHED,
            archived_at__isnull=True,
        )
        .filter(Q(usable_until__isnull=True) | Q(usable_until__gt=now))
        .filter(Q(visible_until__isnull=True) | Q(visible_until__gt=now))
        .select_related("club")
        .order_by("id")
    )
