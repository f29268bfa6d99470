"""Telling a write that lost a race with a delete apart from a bug.

PostgreSQL checks Django's foreign keys at commit (DEFERRABLE INITIALLY DEFERRED). A write that inserted a
row under a parent which a concurrent request deleted meanwhile (a ledger row under a deleted member's
membership, a delivery under a deleted webhook), or a delete whose cascade missed a child row committed
meanwhile, fails there with `foreign_key_violation`: the request's transaction is rolled back whole. Run
again, the request sees the committed state: the write finds its parent gone and answers 404, the delete
finds the new child and deletes it too (or the write, without it, succeeds).

A delete takes its rows child first (Django's cascade) while writers lock the parent first (the membership,
then the ledger rows): the two can deadlock, and PostgreSQL then rolls one of them back whole
(`deadlock_detected`). Run again, that one meets the other's committed result, as above.
"""

from __future__ import annotations

from django.db import IntegrityError, OperationalError

from kit.errors import ConcurrentlyDeleted

RUN_AGAIN = {"23503", "40P01"}  # foreign_key_violation, deadlock_detected


def lost_a_delete_race(exc: BaseException) -> bool:
    if isinstance(exc, ConcurrentlyDeleted):
        return True
    if not isinstance(exc, IntegrityError | OperationalError):
        return False
    if getattr(exc.__cause__, "sqlstate", None) in RUN_AGAIN:
        return True
    return "FOREIGN KEY constraint failed" in str(exc)  # SQLite


def lock_for_delete(model, pk) -> None:
    """Lock every row that references the row directly, then the row itself (`SELECT … FOR UPDATE`), before
    deleting it.

    That is the order writers lock in: they lock the child they change first (the membership before the
    ledger rows under it, the per-member offer state, the delivery before logging an attempt) and take the
    parent's key-share lock when their foreign keys are checked, at commit. A delete locking children first
    waits for the writers that got there first, and its cascade then sees their rows; a writer coming later
    finds its child locked, then gone (ConcurrentlyDeleted), or fails its check at commit — and is run again
    (see above). Locked the other way round, the two deadlock."""
    for relation in model._meta.related_objects:
        if relation.many_to_many:
            through = relation.through
            names = [f.name for f in through._meta.fields if f.is_relation and f.related_model is model]
        else:
            through, names = relation.related_model, [relation.field.name]
        for name in names:
            list(through._base_manager.select_for_update().filter(**{name: pk}).values_list("pk", flat=True))
    list(model._base_manager.select_for_update().filter(pk=pk).values_list("pk", flat=True))
