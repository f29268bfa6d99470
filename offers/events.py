"""Webhook events of the offers app (`offer.used`, `offer.granted`): one place builds each payload, and
writes it to the outbox inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kit.formats import format_datetime
from offers.models import OfferGrant, OfferUsage
from webhooks import services as webhooks


def offer_used(*, usage: OfferUsage, endpoints: Sequence | None = None) -> None:
    """`endpoints`: the club's active webhook endpoints when the caller read them already (see
    `webhooks.services.event_emit`)."""
    offer_used_emit(
        club_id=usage.offer.club_id,
        usage_id=usage.id,
        offer_id=usage.offer_id,
        member_id=usage.member_id,
        used_at=usage.used_at,
        authorized=usage.authorized,
        endpoints=endpoints,
    )


def offer_used_emit(
    *,
    club_id: int,
    usage_id: int,
    offer_id: int,
    member_id: int,
    used_at: datetime,
    authorized: bool,
    endpoints: Sequence | None = None,
) -> None:
    """`offer_used` from the usage's values, for a caller that has no `OfferUsage` instance to hand."""
    webhooks.event_emit(
        club_id=club_id,
        type="offer.used",
        member_id=member_id,
        endpoints=endpoints,
        data={
            "usage_id": usage_id,
            "offer_id": offer_id,
            "member_id": member_id,
            "used_at": format_datetime(used_at),
            "authorized": authorized,
        },
    )


def offer_granted(*, club_id: int, grants: Sequence[OfferGrant], now: datetime) -> None:
    """`offer.granted` for each grant (of one offer, made at `now`). `event_emit` writes nothing (and answers
    None) when no endpoint of the club listens, which then holds for every grant: one query for a batch."""
    for grant in grants:
        event = webhooks.event_emit(
            club_id=club_id,
            type="offer.granted",
            member_id=grant.member_id,
            data={
                "grant_id": grant.pk,
                "offer_id": grant.offer_id,
                "member_id": grant.member_id,
                "granted_at": format_datetime(now),
                "usable_until": format_datetime(grant.usable_until),
            },
        )
        if event is None:
            return
