"""Cross-app notifications, so that apps lower in the dependency order need not import higher ones.

`member_created(sender=Member, member=<Member>)` is sent by the member-create service and by a notifying
CSV import, inside their transaction. Receivers that write (webhooks' outbox row) write in that transaction,
so their rows commit or roll back with the member; receivers that enqueue work (offers' welcome grants) must
do it with `transaction.on_commit`.

`member_updated(sender=Member, member=<Member>, before=<Member>)` is sent by the member-update service after
the save that changed something, with a copy of the member as it was; `member_deleted(sender=Member,
member=<Member>)` by the member-delete service just before the row goes; `members_imported(sender=Member,
club=<LoyaltyClub>, created=[<Member>], updated=[(<Member>, <Member before>)], notified=<bool>)` by the
import once per batch (`notified`: `member_created` was sent for the created ones too). All inside the
change's transaction.

`club_updated(sender=LoyaltyClub, club=<LoyaltyClub>, fields=<set of field names>)` is sent by the club-update
service (the API's PUT and the admin) after the save, inside its transaction: offers rewrites its stored name
sort keys when `default_language` is among the fields.
"""

from django.dispatch import Signal

member_created = Signal()
member_updated = Signal()
member_deleted = Signal()
members_imported = Signal()
club_updated = Signal()
