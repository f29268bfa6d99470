"""Many due lots fast, for the scheduled-job tests: members, memberships, `grant` transactions and their lots
written with bulk INSERTs, consistent with every ledger invariant (`ledger_reconcile` is clean)."""

from __future__ import annotations

from datetime import datetime, timedelta

from loyalty.models import LoyaltyClub, Member
from rewards.models import Lot, Membership, Transaction


def grant_lots_bulk(
    *,
    club: LoyaltyClub,
    members: int,
    lots_per_member: int,
    expires_at: datetime,
    points: int = 10,
    spacing: timedelta = timedelta(seconds=1),
    validity: timedelta = timedelta(days=365),
) -> list[int]:
    """Create `members` joined members holding `lots_per_member` unspent grants each, the k-th lot of every
    member expiring at `expires_at + k * spacing`. Returns the membership ids."""
    created = Member.objects.bulk_create(
        [Member(club=club, email=f"bulk{i}@{club.slug}.example") for i in range(members)], batch_size=2000
    )
    memberships = Membership.objects.bulk_create(
        [
            Membership(member=m, balance=points * lots_per_member, lifetime_points=points * lots_per_member)
            for m in created
        ],
        batch_size=2000,
    )
    for k in range(lots_per_member):
        expiry = expires_at + k * spacing
        transactions = Transaction.objects.bulk_create(
            [
                Transaction(membership=ms, type=Transaction.GRANT, date=expiry - validity, amount=points, details={})
                for ms in memberships
            ],
            batch_size=2000,
        )
        Lot.objects.bulk_create(
            [
                Lot(transaction=tx, membership_id=tx.membership_id, amount=points, remaining=points, expires_at=expiry)
                for tx in transactions
            ],
            batch_size=2000,
        )
    return [ms.pk for ms in memberships]
