"""Server settings that must hold on every session, whatever carries the connection.

Direct connections send them as startup options (config/settings). A pooler such as PgBouncer refuses
startup options, and a `SET` would stay on a shared server session in transaction mode, so behind one the
only place that works is the database's own defaults: `ALTER DATABASE … SET`, applied to every new server
session. `migrate` does it after applying the migrations; a role that may not alter the database gets a
warning with the statement to hand to the DBA (docs/operations.md).
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connections, transaction

logger = logging.getLogger("kit.db")

# setting -> value. JIT: the offer list's annotations push the planner's estimates over the JIT threshold, and
# compiling costs 100-250 ms per query to save microseconds; an OLTP workload never gains from it.
DATABASE_DEFAULTS = {"jit": "off"}


def apply_database_defaults(*, using: str = "default", **kwargs) -> list[str]:
    """Set DATABASE_DEFAULTS on the current database where its default differs; returns what changed."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    changed = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        (database,) = cursor.fetchone()
        quoted = connection.ops.quote_name(database)
        for name, value in DATABASE_DEFAULTS.items():
            cursor.execute(
                "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                "WHERE d.datname = current_database() AND s.setrole = 0"
            )
            row = cursor.fetchone()
            if row and f"{name}={value}" in (row[0] or []):
                continue
            statement = f"ALTER DATABASE {quoted} SET {name} = {value}"
            try:
                with transaction.atomic(using=using):
                    cursor.execute(statement)
            except DatabaseError as exc:
                logger.warning("could not run %s (%s): ask the database owner to run it", statement, exc)
                continue
            changed.append(name)
    return changed
