"""Grants (SPEC §4.6, §5.2, §8): one grant service for the member API, the management API's grants to an
audience, the welcome and birthday jobs and the admin actions.

`offer_grants_make` is the one implementation: the members' state rows locked in one upsert (member id
order), the clock read under those locks, each member judged by `offers.rules.grant_refusal` (the one ban
check among them), the offer row's stock taken last for all of them at once, then the grant rows, the
state counters and the `offer.granted` events. `offer_grant` is that for one member, raising the refusal;
the batch skips refused members and counts them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from kit.errors import DomainError
from loyalty.models import LoyaltyClub, Member, MemberGroup, MemberGroupMembership
from offers import events, rules, sql
from offers.exceptions import GlobalLimitExceeded, NotGrantable
from offers.models import GRANT_TYPES, AudienceGrant, Offer, OfferGrant, OfferMemberState
from offers.selectors.visibility import offers_welcome_live


@dataclass
class GrantOutcome:
    grants: list[OfferGrant] = field(default_factory=list)
    refusals: dict[int, DomainError] = field(default_factory=dict)  # member id → why not
    never_granted_skipped: int = 0


def offer_grants_make(
    *,
    offer: Offer,
    members: list[Member],
    usable_for_seconds: int | None = None,
    source: str = OfferGrant.Source.API,
    audience_grant: AudienceGrant | None = None,
    only_if_never_granted: bool = False,
    now: datetime | None = None,
) -> GrantOutcome:
    """Grant the offer to each of these members of its club that may have it, in a handful of statements
    whatever their number (an audience of 100 000 is 100 chunks, not 800 000 queries).

    Locks, in this order: each member's `OfferMemberState` row (so grants and uses of one member
    serialise), then the offer row (its `grants_count`), whose stock (uses_count < stock, as for a use)
    admits all the eligible members or none (`Global limit exceeded` for each). With
    `only_if_never_granted` (the welcome job) a member who ever held a grant of this offer is skipped
    without a refusal: idempotent under retries. Emits `offer.granted` for each grant. Call it inside a
    transaction (the locks are held until it ends)."""
    outcome = GrantOutcome()
    if not members:
        return outcome
    states = sql.states_lock(offer_id=offer.pk, member_ids=[m.pk for m in members])
    now = now or timezone.now()  # read under the locks, like a use
    in_audience: set[int] = set()
    if offer.audience_id is not None:
        in_audience = set(
            MemberGroupMembership.objects.filter(
                group_id=offer.audience_id, member_id__in=[m.pk for m in members]
            ).values_list("member_id", flat=True)
        )
    eligible = []
    for member in sorted(members, key=lambda m: m.pk):
        state = states[member.pk]
        refusal = rules.grant_refusal(
            offer,
            now=now,
            banned_until=member.banned_until,
            in_audience=member.pk in in_audience,
            grants_count=state.grants_count,
        )
        if refusal is not None:
            outcome.refusals[member.pk] = refusal
        elif only_if_never_granted and state.grants_count > 0:
            outcome.never_granted_skipped += 1
        else:
            eligible.append(member)
    if not eligible:
        return outcome
    if sql.offer_take_stock(offer_id=offer.pk, counter="grants_count", amount=len(eligible)) is None:
        outcome.refusals.update({member.pk: GlobalLimitExceeded() for member in eligible})
        return outcome
    usable_until = now + timedelta(seconds=usable_for_seconds) if usable_for_seconds else None
    outcome.grants = OfferGrant.objects.bulk_create(
        [
            OfferGrant(
                offer=offer,
                member=member,
                granted_at=now,
                usable_until=usable_until,
                source=source,
                audience_grant=audience_grant,
            )
            for member in eligible
        ],
        batch_size=1000,
    )
    OfferMemberState.objects.filter(pk__in=[states[m.pk].id for m in eligible]).update(
        grants_count=F("grants_count") + 1
    )
    events.offer_granted(club_id=offer.club_id, grants=outcome.grants, now=now)
    return outcome


def offer_grant(
    *,
    offer: Offer,
    member: Member,
    usable_for_seconds: int | None = None,
    source: str = OfferGrant.Source.API,
    only_if_never_granted: bool = False,
    now: datetime | None = None,
) -> OfferGrant | None:
    """Grant an offer to one member (SPEC §4.6). Raises the first refusal, in order: 467 banned,
    `Not grantable` (REGULAR), `Member not in audience`, `User grant limit exceeded`, `Global limit
    exceeded` (stock used up). None, doing nothing, when `only_if_never_granted` finds an earlier grant."""
    with transaction.atomic():
        outcome = offer_grants_make(
            offer=offer,
            members=[member],
            usable_for_seconds=usable_for_seconds,
            source=source,
            only_if_never_granted=only_if_never_granted,
            now=now,
        )
        if outcome.refusals:
            raise outcome.refusals[member.pk]  # rolls the state row's creation back, as before any grant
    return outcome.grants[0] if outcome.grants else None


def offers_grant_welcome(*, member: Member, now: datetime | None = None) -> list[OfferGrant]:
    """Grant every published, live WELCOME offer of the member's club that the member never held (SPEC §8).
    Offers the member cannot receive (audience, stock, ban) are skipped silently. Safe to run twice."""
    now = now or timezone.now()
    granted = []
    for offer in offers_welcome_live(club_id=member.club_id, now=now):
        try:
            grant = offer_grant(
                offer=offer, member=member, source=OfferGrant.Source.WELCOME, only_if_never_granted=True, now=now
            )
        except DomainError:
            continue
        if grant is not None:
            granted.append(grant)
    return granted


# --- Grants to an audience (SPEC §5.2, §8) --------------------------------------------------------


def audience_grant_inline_limit() -> int:
    """Groups up to this many members are granted during the request; larger ones by a Celery task."""
    return settings.OFFERS_AUDIENCE_GRANT_INLINE_LIMIT


def audience_grant_chunk_size() -> int:
    """Members per chunk (one short transaction each)."""
    return settings.OFFERS_AUDIENCE_GRANT_CHUNK_SIZE


def audience_grants_check(*, offers: list[Offer]) -> None:
    """Only offers that need a grant and are not archived can be granted: 422 `Not grantable`."""
    for offer in offers:
        if offer.type not in GRANT_TYPES or offer.archived_at is not None:
            raise NotGrantable()


def audience_grants_start(*, club: LoyaltyClub, items: list[tuple[Offer, MemberGroup, int | None]]) -> int:
    """Grant each offer to every member of its group; each member at most once per (call, offer).

    Records one `AudienceGrant` per item (one transaction), runs those whose group has at most
    `audience_grant_inline_limit()` members right away, and queues the others as Celery tasks after the
    commit. Returns the grants made inline plus the members queued (the group sizes at the time of the
    call); the outcome of a queued grant is on its `AudienceGrant` row."""
    from offers.tasks import run_audience_grant

    audience_grants_check(offers=[offer for offer, _, _ in items])
    limit = audience_grant_inline_limit()
    sizes = _group_sizes([group.pk for _, group, _ in items])
    with transaction.atomic():
        calls = [
            AudienceGrant.objects.create(
                club=club,
                offer=offer,
                group=group,
                usable_for_seconds=usable_for_seconds,
                members_count=sizes.get(group.pk, 0),
            )
            for offer, group, usable_for_seconds in items
        ]
        queued = [call for call in calls if call.members_count > limit]
        for call in queued:
            call_id = call.pk
            transaction.on_commit(lambda call_id=call_id: run_audience_grant.delay(call_id))
    granted = sum(call.members_count for call in queued)
    for call in calls:
        if call.members_count <= limit:
            granted += audience_grant_run(audience_grant_id=call.pk).granted_count
    return granted


def _group_sizes(group_ids: list[int]) -> dict[int, int]:
    rows = (
        MemberGroupMembership.objects.filter(group_id__in=group_ids)
        .values("group_id")
        .annotate(n=Count("id"))
        .values_list("group_id", "n")
    )
    return dict(rows)


def audience_grant_run(
    *, audience_grant_id: int, chunk_size: int | None = None, time_budget: float | None = None
) -> AudienceGrant | None:
    """Work through the call's remaining members chunk by chunk until done, or until `time_budget` seconds
    have passed (then the caller continues later: the cursor is saved with every chunk). Safe to run twice
    or concurrently: chunks of one call serialise on its row, and no member is granted twice by one call."""
    started = time.monotonic()
    chunk_size = chunk_size or audience_grant_chunk_size()
    while not audience_grant_run_chunk(audience_grant_id=audience_grant_id, chunk_size=chunk_size):
        if time_budget is not None and time.monotonic() - started >= time_budget:
            break
    return AudienceGrant.objects.filter(pk=audience_grant_id).first()


@transaction.atomic
def audience_grant_run_chunk(
    *, audience_grant_id: int, chunk_size: int | None = None, now: datetime | None = None
) -> bool:
    """Grant the offer to the next `chunk_size` members of the group (by member id, after the cursor), in one
    transaction; True when the call is finished. Locks the `AudienceGrant` row first (a duplicate delivery
    waits, then continues after the cursor this chunk saved), then each member's grant state and the offer
    row inside `offer_grants_make`.

    Members the offer refuses (see `offer_grants_make`) are skipped and counted. A member this call
    already granted (a chunk run again after its cursor was lost) is skipped without counting; the unique
    (call, member) constraint on grants is the last guard. Stops early, finished, when the offer has been
    archived meanwhile."""
    call = AudienceGrant.objects.select_for_update().filter(pk=audience_grant_id).first()
    if call is None or call.status == AudienceGrant.Status.DONE:
        return True
    now = now or timezone.now()
    chunk_size = chunk_size or audience_grant_chunk_size()
    offer = Offer.objects.select_related("club").get(pk=call.offer_id)
    member_ids = list(
        MemberGroupMembership.objects.filter(group_id=call.group_id, member_id__gt=call.cursor)
        .order_by("member_id")
        .values_list("member_id", flat=True)[:chunk_size]
    )
    if not member_ids or offer.archived_at is not None:
        AudienceGrant.objects.filter(pk=call.pk).update(status=AudienceGrant.Status.DONE, finished_at=now)
        return True
    done = set(
        OfferGrant.objects.filter(audience_grant=call, member_id__in=member_ids).values_list("member_id", flat=True)
    )
    members = list(
        Member.objects.filter(pk__in=[pk for pk in member_ids if pk not in done], club_id=call.club_id)
        .order_by("pk")
        .only("id", "banned_until")
    )
    outcome = offer_grants_make(
        offer=offer,
        members=members,
        usable_for_seconds=call.usable_for_seconds,
        source=OfferGrant.Source.AUDIENCE,
        audience_grant=call,
    )
    AudienceGrant.objects.filter(pk=call.pk).update(
        cursor=member_ids[-1],
        status=AudienceGrant.Status.RUNNING,
        granted_count=F("granted_count") + len(outcome.grants),
        skipped_count=F("skipped_count") + len(outcome.refusals),
    )
    return False
