"""Bulk row writer for `seed_demo`: COPY on PostgreSQL, `executemany` on SQLite, ids reserved up front.

Rows are plain tuples in the column order given; the ids that other rows point at (members, memberships,
transactions, lots, grants) are reserved from the table's own sequence first, so one pass can write a
transaction, its lot and the allocations that name both. Only INSERTs: the ledger's triggers (rewards
migration 0002) guard UPDATEs, and its CHECK constraints see every row as it arrives.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from django.db import connection, models

try:  # psycopg 3 (the only PostgreSQL driver in the dependencies)
    from psycopg.types.json import Jsonb
except ImportError:  # pragma: no cover - SQLite-only installs
    Jsonb = None


class BulkWriter:
    def __init__(self) -> None:
        self.vendor = connection.vendor
        self._next_id: dict[str, int] = {}
        self.rows_written = 0

    # --- ids ---------------------------------------------------------------------------------------

    def reserve_ids(self, model: type[models.Model], count: int) -> list[int]:
        """`count` fresh primary keys of `model`'s table, ascending. On PostgreSQL they come from the
        table's identity sequence (safe with concurrent writers); on SQLite, which has one writer at a time
        and the seed's transaction holds the lock, from above the highest id ever used."""
        if count == 0:
            return []
        table = model._meta.db_table
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
                )
                return sorted(row[0] for row in cursor.fetchall())
            cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')
            highest = cursor.fetchone()[0]
            cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = %s", [table])
            highest = max(highest, cursor.fetchone()[0], self._next_id.get(table, 1) - 1)
        self._next_id[table] = highest + count + 1
        return list(range(highest + 1, highest + count + 1))

    # --- rows --------------------------------------------------------------------------------------

    def insert(self, model: type[models.Model], columns: Sequence[str], rows: list[tuple]) -> None:
        """Insert `rows` (tuples of Python values in `columns` order; column = the field's attname)."""
        if not rows:
            return
        table = model._meta.db_table
        adapters = [self._adapter(model._meta.get_field(c)) for c in columns]  # by name or attname
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        if any(adapters):
            rows = [
                tuple(a(v) if a and v is not None else v for a, v in zip(adapters, row, strict=True)) for row in rows
            ]
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(f"INSERT INTO {connection.ops.quote_name(table)} ({quoted}) VALUES ({marks})", rows)
        self.rows_written += len(rows)

    def _adapter(self, field: models.Field):
        if isinstance(field, models.JSONField):
            encoder = field.encoder
            if self.vendor == "postgresql":
                return lambda v: Jsonb(v, dumps=lambda obj: json.dumps(obj, cls=encoder))
            return lambda v: json.dumps(v, cls=encoder)
        if self.vendor == "postgresql":
            return None
        if isinstance(field, models.DateTimeField):
            return _sqlite_datetime
        if isinstance(field, models.DateField):
            return lambda v: v.isoformat()
        if isinstance(field, models.BooleanField):
            return int
        return None


def _sqlite_datetime(value: datetime) -> str:
    # As Django stores them on SQLite with USE_TZ: naive UTC, "YYYY-MM-DD HH:MM:SS[.ffffff]".
    return str(value.astimezone(UTC).replace(tzinfo=None))
