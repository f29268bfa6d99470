"""`migrate`, one at a time per database: safe to run from every node of a rolling deploy.

Two `migrate` runs at once on PostgreSQL both create the same tables and types and one fails
(`IntegrityError … pg_type_typname_nsp_index`), or both apply the same data migration. This command takes a
session advisory lock first, on a connection of its own, and keeps it until Django's migrate is done: a
second run waits, then finds nothing left to apply and succeeds. The lock needs a session, so run `migrate`
against PostgreSQL directly or through a session-mode pooler, not through a transaction pooler
(docs/operations.md). On SQLite there is one writer at a time anyway; no lock is taken.
"""

from __future__ import annotations

import time

from django.core.management.base import CommandError
from django.core.management.commands import migrate
from django.db import DEFAULT_DB_ALIAS, connections

# Any constant bigint shared by every version of the project: pg_advisory_lock's key space is per database.
MIGRATE_LOCK_KEY = 7_301_455_190_019


class Command(migrate.Command):
    help = migrate.Command.help + " Takes a PostgreSQL advisory lock, so concurrent runs wait for each other."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=600.0,
            help="Seconds to wait for another migrate to finish before giving up (default 600).",
        )

    def handle(self, *args, **options):
        alias = options["database"] or DEFAULT_DB_ALIAS
        if connections[alias].vendor != "postgresql":
            return super().handle(*args, **options)
        # A connection of its own: whatever migrate does with the alias's connection, the lock stays held.
        lock = connections.create_connection(alias)
        try:
            self._acquire(lock, options["lock_timeout"], options["verbosity"])
            return super().handle(*args, **options)
        finally:
            lock.close()  # ends the session, which releases the advisory lock

    def _acquire(self, lock, timeout: float, verbosity: int) -> None:
        lock.set_autocommit(True)
        deadline = time.monotonic() + timeout
        told = False
        with lock.cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATE_LOCK_KEY])
                if cursor.fetchone()[0]:
                    return
                if not told and verbosity:
                    self.stdout.write("Another migrate is running on this database; waiting for it to finish.")
                    told = True
                if time.monotonic() >= deadline:
                    raise CommandError(f"Another migrate still holds the migration lock after {timeout:.0f}s.")
                time.sleep(0.5)
