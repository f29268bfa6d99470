"""What webhooks hears from the apps below it: their signals, turned into outbox events.

Loyalty may not import webhooks (it is the core every app builds on), so it announces its writes with
`loyalty.signals` and this module listens. The signals are sent inside the writer's transaction and the
receivers write the outbox row there too: the event commits, or rolls back, with the write it reports.
"""

from __future__ import annotations

from loyalty.models import Member
from webhooks import services


def member_created_emit(sender, member: Member, **kwargs) -> None:
    """`member.created` for a member created by the API, the admin or a notifying CSV import."""
    services.event_emit(
        club_id=member.club_id,
        type="member.created",
        data={"member_id": member.id, "loyalty_club_id": member.club_id},
        member_id=member.id,
    )
