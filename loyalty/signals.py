"""Cross-app notifications, so that apps lower in the dependency order need not import higher ones.

`member_created(sender=Member, member=<Member>)` is sent by the member-create service and by a notifying
CSV import, inside their transaction. Receivers that write (webhooks' outbox row) write in that transaction,
so their rows commit or roll back with the member; receivers that enqueue work (offers' welcome grants) must
do it with `transaction.on_commit`.
"""

from django.dispatch import Signal

member_created = Signal()
