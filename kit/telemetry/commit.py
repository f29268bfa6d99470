"""After-commit actions that stay out of `transaction.on_commit`'s list.

Business counters must move only when the change commits, like `on_commit` callbacks, but an event is
emitted by nearly every write and tests (and callers) rely on the list of on_commit callbacks holding just
the work the domain scheduled. So the pending counts live beside that list, on the connection, with the
same rules Django applies to it: dropped on rollback (or on the rollback of the savepoint they were made
under), run after the outermost commit, at once in autocommit mode.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger("kit.telemetry")

_ATTR = "_telemetry_after_commit"


def after_commit(func: Callable[[], None], *, using: str = DEFAULT_DB_ALIAS) -> None:
    connection = connections[using]
    if not connection.in_atomic_block:
        if connection.get_autocommit():
            _run(func)
        return  # manual transaction management: nothing sane to wait for, and counting is not worth raising
    _install(connection)
    getattr(connection, _ATTR).append((set(connection.savepoint_ids), func))


def _run(func: Callable[[], None]) -> None:
    try:
        func()
    except Exception:  # a metric must never break the request that committed
        logger.exception("after-commit telemetry failed")


def _install(connection) -> None:
    if hasattr(connection, _ATTR):
        return
    setattr(connection, _ATTR, [])
    run_hooks, rollback, savepoint_rollback, close = (
        connection.run_and_clear_commit_hooks,
        connection.rollback,
        connection.savepoint_rollback,
        connection.close,
    )

    def run_and_clear_commit_hooks():
        pending = getattr(connection, _ATTR)
        setattr(connection, _ATTR, [])
        try:
            run_hooks()
        finally:
            for _, func in pending:
                _run(func)

    def rollback_and_clear():
        setattr(connection, _ATTR, [])
        rollback()

    def savepoint_rollback_and_clear(sid):
        savepoint_rollback(sid)
        setattr(connection, _ATTR, [(sids, func) for sids, func in getattr(connection, _ATTR) if sid not in sids])

    def close_and_clear():
        setattr(connection, _ATTR, [])
        close()

    connection.run_and_clear_commit_hooks = run_and_clear_commit_hooks
    connection.rollback = rollback_and_clear
    connection.savepoint_rollback = savepoint_rollback_and_clear
    connection.close = close_and_clear
