"""Webhook events of the rewards program, written to the outbox inside the caller's transaction."""

from __future__ import annotations

from rewards.models import Membership, Transaction
from rewards.presenters import transaction_to_json
from webhooks import services as webhooks


def emit(*, club_id: int, member_id: int, type: str, data: dict, endpoints: list | None = None) -> None:
    """`endpoints`: the club's active webhook endpoints when the caller read them already (see
    `rewards.services.ledger.membership_lock`); None reads them."""
    webhooks.event_emit(
        club_id=club_id, type=type, data={"member_id": member_id, **data}, member_id=member_id, endpoints=endpoints
    )


def emit_many(*, type: str, events: list[tuple[int, int, dict]]) -> None:
    """Many events of one type, `(club_id, member_id, data)` each, with one endpoint query (batch jobs)."""
    webhooks.events_emit_many(
        type=type,
        events=[(club_id, member_id, {"member_id": member_id, **data}) for club_id, member_id, data in events],
    )


def transaction_event(*, membership: Membership, type: str, tx: Transaction, extra: dict | None = None) -> None:
    """`points.earned` / `points.spent` / `transaction.cancelled`: the transaction and the new balance."""
    emit(
        club_id=membership.member.club_id,
        member_id=membership.member_id,
        type=type,
        data={"transaction": transaction_to_json(tx), "balance": membership.balance, **(extra or {})},
        endpoints=membership.webhook_endpoints,
    )
