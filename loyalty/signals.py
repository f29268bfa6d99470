"""Cross-app notifications, so that apps lower in the dependency order need not import higher ones.

`member_created(sender=Member, member=<Member>)` is sent by the member-create service inside its
transaction; receivers that enqueue work must do it with `transaction.on_commit`.
"""

from django.dispatch import Signal

member_created = Signal()
