"""Every raw SQL statement and every database-vendor branch of the rewards app, in one place.

The services and selectors say what they need ("the unspent points of the soonest days", "write these
expirations"); this module says how, per database. A new column on `Transaction`, `Lot`, `Allocation` or
`Membership` means reading this file, not hunting through the services. Callers hold whatever locks the
statement needs; nothing here opens a transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

import orjson
from django.db import connection
from django.db.models import F, Sum
from django.db.models.functions import TruncDate

from kit.db.arrays import pg_array, update_from_values
from rewards.models import Allocation, ExpiryWarning, Lot, Membership, ProgramConfig, Transaction


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def _quoted(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# --- Counters kept by the database -----------------------------------------------------------------


def transactions_count_kept() -> bool:
    """Is `Membership.transactions_count` kept by the database? A trigger keeps it on PostgreSQL
    (migration 0005); SQLite, for development, has none and counts instead."""
    return _postgresql()


def membership_transactions_total(*, membership: Membership) -> int:
    """How many transactions the membership has: its counter where the database keeps it (no COUNT over a
    long ledger), else a COUNT."""
    if transactions_count_kept():
        return membership.transactions_count
    return Transaction.objects.filter(membership=membership).count()


# --- The membership's caches ---------------------------------------------------------------------------


def lock_reads_endpoints() -> bool:
    """Does the membership lock read the club's webhook endpoints in its statement (`JSONBAgg`)?"""
    return _postgresql()


def membership_caches_add(*, membership_id: int, balance: int, lifetime: int) -> None:
    """Add to the cached balance and lifetime points in SQL (the CHECK constraints refuse a negative
    result: IntegrityError). The statement every earn and spend runs, without building an ORM update."""
    table = _quoted(Membership)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET balance = balance + %s, lifetime_points = lifetime_points + %s WHERE id = %s",
            [balance, lifetime, membership_id],
        )


# --- A point-adding transaction and its lot ----------------------------------------------------------


def _insert_columns(model) -> list:
    return [field for field in model._meta.concrete_fields if not field.primary_key]


def _insert_values(obj, fields: list) -> list:
    """The values Django's INSERT would send for `obj` (defaults already applied by its constructor)."""
    return [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]


def _mark_saved(obj, pk: int) -> None:
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


def transaction_with_lot_insert(tx: Transaction, lot: Lot) -> None:
    """INSERT the new transaction `tx` and its `lot` (whose `transaction_id` is taken from `tx`'s new id):
    the two rows `credit` writes, in one statement on PostgreSQL (a data-modifying CTE), two `save()`s
    elsewhere. Both instances come back saved, with their ids."""
    if not _postgresql():
        tx.save(force_insert=True)
        lot.transaction = tx
        lot.save(force_insert=True)
        return
    tx_fields, lot_fields = _insert_columns(Transaction), _insert_columns(Lot)
    lot_values = [field for field in lot_fields if field.attname != "transaction_id"]
    tx_columns = ", ".join(connection.ops.quote_name(field.column) for field in tx_fields)
    lot_columns = ", ".join(connection.ops.quote_name(field.column) for field in lot_values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH tx AS (INSERT INTO {_quoted(Transaction)} ({tx_columns}) "
            f"VALUES ({', '.join(['%s'] * len(tx_fields))}) RETURNING id) "
            f'INSERT INTO {_quoted(Lot)} ("transaction_id", {lot_columns}) '
            f"SELECT id, {', '.join(['%s'] * len(lot_values))} FROM tx RETURNING transaction_id, id",
            [*_insert_values(tx, tx_fields), *_insert_values(lot, lot_values)],
        )
        tx_id, lot_id = cursor.fetchone()
    _mark_saved(tx, tx_id)
    lot.transaction = tx
    _mark_saved(lot, lot_id)


# --- Points expiring soon (SPEC §6.5) ----------------------------------------------------------------

# The end of each of the soonest days with open lots, found by a loose index scan (one probe of the partial
# index on (membership, expires_at) WHERE remaining > 0 per day), then the sums of the lots before the last
# end: the work follows the lots of those days, not the member's whole ledger. Days are the club's
# (`AT TIME ZONE` to local time, midnight, + 1 day, back to UTC: right across DST changes).
_EXPIRING_SQL = """
WITH RECURSIVE days(n, day_end) AS (
    SELECT 1, (date_trunc('day', (
        SELECT min(expires_at) FROM {lot} WHERE membership_id = %(membership)s AND remaining > 0
        AND expires_at > %(now)s) AT TIME ZONE %(tz)s) + interval '1 day') AT TIME ZONE %(tz)s
  UNION ALL
    SELECT n + 1, (date_trunc('day', (
        SELECT min(expires_at) FROM {lot} WHERE membership_id = %(membership)s AND remaining > 0
        AND expires_at >= days.day_end) AT TIME ZONE %(tz)s) + interval '1 day') AT TIME ZONE %(tz)s
    FROM days WHERE n < %(days)s AND day_end IS NOT NULL
)
SELECT (expires_at AT TIME ZONE %(tz)s)::date AS day, sum(remaining) FROM {lot}
WHERE membership_id = %(membership)s AND remaining > 0 AND expires_at > %(now)s
  AND expires_at < (SELECT max(day_end) FROM days)
GROUP BY 1 ORDER BY 1 LIMIT %(days)s
"""


def lots_expiring_by_day(*, membership: Membership, tz: tzinfo, now: datetime, days: int) -> list[tuple[date, int]]:
    """(day, unspent points) of the `days` soonest calendar days (in `tz`) with points expiring after now.
    On PostgreSQL a loose index scan bounds the work to those days' lots (a member may hold tens of
    thousands of open lots); elsewhere (SQLite, development) a plain GROUP BY."""
    if _postgresql():
        with connection.cursor() as cursor:
            cursor.execute(
                _EXPIRING_SQL.format(lot=Lot._meta.db_table),
                {"membership": membership.pk, "now": now, "tz": str(tz), "days": days},
            )
            return cursor.fetchall()
    return list(
        Lot.objects.filter(membership=membership, remaining__gt=0, expires_at__gt=now)
        .annotate(day=TruncDate("expires_at", tzinfo=tz))
        .values_list("day")
        .annotate(points=Sum("remaining"))
        .order_by("day")[:days]
    )


# --- The status page's first page, in one statement (PostgreSQL) -----------------------------------

# What `rewards.selectors.membership_status` reads for page 1, in one round trip instead of four: the
# membership (by member), the club's configuration row (its id: absent means "create it", as
# `program_config_get` does), the expiring points of `_EXPIRING_SQL` and the first `limit` rows of the
# ledger page (the `_ledger_page` lookup's columns and order: date desc, id desc, along the same index),
# the last two as JSON text. The same SQL as the separate reads, joined; no rule of its own.
_STATUS_FIRST_PAGE_SQL = """
WITH RECURSIVE m AS (
    SELECT id, started_at, balance, lifetime_points, transactions_count FROM {membership}
    WHERE member_id = %(member)s
), days(n, day_end) AS (
    SELECT 1, (date_trunc('day', (
        SELECT min(expires_at) FROM {lot} WHERE membership_id = (SELECT id FROM m) AND remaining > 0
        AND expires_at > %(now)s) AT TIME ZONE %(tz)s) + interval '1 day') AT TIME ZONE %(tz)s
  UNION ALL
    SELECT n + 1, (date_trunc('day', (
        SELECT min(expires_at) FROM {lot} WHERE membership_id = (SELECT id FROM m) AND remaining > 0
        AND expires_at >= days.day_end) AT TIME ZONE %(tz)s) + interval '1 day') AT TIME ZONE %(tz)s
    FROM days WHERE n < %(days)s AND day_end IS NOT NULL
)
SELECT m.id, m.started_at, m.balance, m.lifetime_points, m.transactions_count, c.id, c.levels_program,
    (SELECT json_agg(json_build_array(e.day, e.points) ORDER BY e.day)::text FROM (
        SELECT (expires_at AT TIME ZONE %(tz)s)::date AS day, sum(remaining) AS points FROM {lot}
        WHERE membership_id = m.id AND remaining > 0 AND expires_at > %(now)s
          AND expires_at < (SELECT max(day_end) FROM days)
        GROUP BY 1 ORDER BY 1 LIMIT %(days)s) e),
    (SELECT json_agg(json_build_array(p.id, p.type, p.date, p.amount, p.details, p.expired_at, p.cancelled_at,
            p.expires_at) ORDER BY p.date DESC, p.id DESC)::text FROM (
        SELECT t.id, t.type, t.date, t.amount, t.details, t.expired_at, t.cancelled_at, l.expires_at
        FROM {tx} t LEFT OUTER JOIN {lot} l ON t.id = l.transaction_id
        WHERE t.membership_id = m.id ORDER BY t.date DESC, t.id DESC LIMIT %(limit)s) p)
FROM m LEFT OUTER JOIN {config} c ON c.club_id = %(club)s
"""


def status_in_one_statement() -> bool:
    """Can the status page's first page be read in one statement (`membership_status_first_page`)?"""
    return _postgresql()


def deep_page_skip_as_array() -> bool:
    """Can a deep status page take its skipped ids as one array (`= ANY(ARRAY(…))`, kit.db.arrays.IsAnyOf)?"""
    return _postgresql()


def _json(text: str | None):
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # integers beyond 64 bits, which the json module reads as Django does
        return json.loads(text)


@dataclass(frozen=True)
class StatusFirstPage:
    """The reads of the status page's first page (`membership_status_first_page`). `config_found`: the club
    has its configuration row (`levels_program` is its column); `expiring`: (ISO day, points) of the
    soonest days; `rows`: the ledger page, in `rewards.presenters.TRANSACTION_ROW_FIELDS` order."""

    membership_id: int
    started_at: datetime
    balance: int
    lifetime_points: int
    transactions_count: int
    config_found: bool
    levels_program: Any
    expiring: list[tuple[str, int]]
    rows: list[tuple]


def membership_status_first_page(
    *, member_id: int, club_id: int, tz: tzinfo, now: datetime, limit: int, days: int
) -> StatusFirstPage | None:
    """The membership of the member with what page 1 of its status needs, in one statement; None when the
    member has not joined. PostgreSQL only (`status_in_one_statement`)."""
    if _STATUS_SQL_TEXT[0] is None:
        _STATUS_SQL_TEXT[0] = _STATUS_FIRST_PAGE_SQL.format(
            membership=_quoted(Membership), lot=_quoted(Lot), tx=_quoted(Transaction), config=_quoted(ProgramConfig)
        )
    with connection.cursor() as cursor:
        cursor.execute(
            _STATUS_SQL_TEXT[0],
            {"member": member_id, "club": club_id, "now": now, "tz": str(tz), "days": days, "limit": limit},
        )
        found = cursor.fetchone()
    if found is None:
        return None
    pk, started_at, balance, lifetime, count, config_id, levels_program, expiring, page = found
    rows = []
    for tx_id, kind, at, amount, details, expired_at, cancelled_at, expires_at in _json(page) or ():
        rows.append(
            (
                tx_id,
                kind,
                _datetime(at),
                amount,
                details,
                _datetime(expired_at),
                _datetime(cancelled_at),
                _datetime(expires_at),
            )
        )
    return StatusFirstPage(
        membership_id=pk,
        started_at=started_at,
        balance=balance,
        lifetime_points=lifetime,
        transactions_count=count,
        config_found=config_id is not None,
        levels_program=None if levels_program is None else json.loads(levels_program),
        expiring=[(day, points) for day, points in _json(expiring) or ()],
        rows=rows,
    )


_STATUS_SQL_TEXT: list[str | None] = [None]  # formatted on first use (the table names come from the models)


def _datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


# --- Reconciliation (reconcile_balances) -------------------------------------------------------------

# Point-adding rows (lots). The SQL below repeats this test on the transaction alias `t`.
_LOT_TYPES_SQL = "(t.type IN ('achievement', 'grant') OR (t.type = 'correction' AND t.amount > 0))"


def reconcile_memberships(ids: list[int]) -> list[tuple]:
    """Per membership: (id, member id, balance, lifetime points, transactions_count, then from the ledger:
    count, Σ amount, Σ amount of live lots, Σ remaining of lots), by id."""
    tx, lot, membership = _quoted(Transaction), _quoted(Lot), _quoted(Membership)
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT m.id, m.member_id, m.balance, m.lifetime_points, m.transactions_count,
                (SELECT COUNT(*) FROM {tx} t WHERE t.membership_id = m.id),
                COALESCE((SELECT SUM(t.amount) FROM {tx} t WHERE t.membership_id = m.id), 0),
                COALESCE((SELECT SUM(t.amount) FROM {tx} t
                          WHERE t.membership_id = m.id AND t.cancelled_at IS NULL AND {_LOT_TYPES_SQL}), 0),
                COALESCE((SELECT SUM(l.remaining) FROM {lot} l WHERE l.membership_id = m.id), 0)
            FROM {membership} m WHERE m.id IN ({marks}) ORDER BY m.id
            """,
            ids,
        )
        return cursor.fetchall()


def reconcile_lots(ids: list[int]) -> list[tuple]:
    """(lot id, membership id, amount, remaining, Σ allocated) of the lots of these memberships whose
    `remaining` is not amount − Σ allocations, or is out of [0, amount], by id."""
    lot, allocation = _quoted(Lot), _quoted(Allocation)
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id, membership_id, amount, remaining, drawn FROM (
                SELECT l.id, l.membership_id, l.amount, l.remaining,
                    COALESCE((SELECT SUM(a.points) FROM {allocation} a WHERE a.lot_id = l.id), 0) AS drawn
                FROM {lot} l WHERE l.membership_id IN ({marks})
            ) x WHERE remaining <> amount - drawn OR remaining < 0 OR remaining > amount ORDER BY id
            """,
            ids,
        )
        return cursor.fetchall()


def reconcile_transactions(ids: list[int]) -> list[tuple]:
    """(transaction id, membership id, amount, is a lot 0/1, has a lot 0/1, Σ allocated) of the transactions
    of these memberships that break the allocation rule (a lot: one lot row, nothing drawn; a debit: no lot,
    −amount drawn), by id."""
    tx, lot, allocation = _quoted(Transaction), _quoted(Lot), _quoted(Allocation)
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id, membership_id, amount, is_lot, has_lot, drawn FROM (
                SELECT t.id, t.membership_id, t.amount,
                    CASE WHEN {_LOT_TYPES_SQL} THEN 1 ELSE 0 END AS is_lot,
                    (SELECT COUNT(*) FROM {lot} l WHERE l.transaction_id = t.id) AS has_lot,
                    COALESCE((SELECT SUM(a.points) FROM {allocation} a WHERE a.transaction_id = t.id), 0)
                        AS drawn
                FROM {tx} t WHERE t.membership_id IN ({marks})
            ) x
            WHERE (is_lot = 1 AND (has_lot <> 1 OR drawn <> 0)) OR (is_lot = 0 AND (has_lot <> 0 OR drawn <> -amount))
            ORDER BY id
            """,
            ids,
        )
        return cursor.fetchall()


# --- Batch writes of the ledger ----------------------------------------------------------------------


def lots_remaining_set(rows: list[tuple[int, int]]) -> None:
    """[(lot id, new remaining)] in one statement (a debit's draw)."""
    update_from_values(
        table=Lot._meta.db_table, assignment="remaining = v.column2", rows=rows, types=("bigint", "integer")
    )


def transactions_expired_at_set(rows: list[tuple[int, datetime]]) -> None:
    """[(transaction id, expired_at)] in one statement (a lot's first expiration marks its source)."""
    update_from_values(
        table=Transaction._meta.db_table,
        assignment="expired_at = v.column2",
        rows=rows,
        types=("bigint", "timestamptz"),
    )


def memberships_balance_subtract(rows: list[tuple[int, int]]) -> None:
    """[(membership id, points)]: each cached balance lowered by its points, in one statement."""
    update_from_values(
        table=Membership._meta.db_table,
        assignment="balance = {table}.balance - v.column2",
        rows=rows,
        types=("bigint", "integer"),
    )


def expirations_write(expiring: list[tuple]) -> dict[int, int]:
    """Write the expirations of `expiring` — (lot, membership, source transaction, points, date, round) —
    with their allocations, and empty the lots. Returns {lot id: expiration transaction id}."""
    return _expirations_write_postgresql(expiring) if _postgresql() else _expirations_write_portable(expiring)


def _expirations_write_portable(expiring: list[tuple]) -> dict[int, int]:
    """The ORM path (SQLite, development)."""
    expirations = [
        Transaction(
            membership_id=membership_id,
            type=Transaction.EXPIRATION,
            date=date,
            amount=-points,
            details={"expired_transaction_id": source_id},
            expired_lot_id=lot_id,
            expiry_round=expiry_round,
        )
        for lot_id, membership_id, source_id, points, date, expiry_round in expiring
    ]
    Transaction.objects.bulk_create(expirations)
    Allocation.objects.bulk_create(
        [Allocation(transaction_id=tx.pk, lot_id=tx.expired_lot_id, points=-tx.amount) for tx in expirations]
    )
    Lot.objects.filter(pk__in=[row[0] for row in expiring]).update(remaining=0, expiry_round=F("expiry_round") + 1)
    return {tx.expired_lot_id: tx.pk for tx in expirations}


def _expirations_write_postgresql(expiring: list[tuple]) -> dict[int, int]:
    """The same writes in two statements whatever the batch size: the expirations and their allocations in
    one INSERT … SELECT FROM unnest(arrays) with a data-modifying CTE, then the lots. Building a model
    instance and a parameter per column per row (`bulk_create`) cost the batch more than the database did."""
    tx, allocation, lot = (_quoted(model) for model in (Transaction, Allocation, Lot))
    columns = list(zip(*expiring, strict=True))  # lot, membership, source, points, date, round
    lot_ids = pg_array(columns[0])
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH v AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::integer[], "
            "%s::timestamptz[], %s::smallint[]) AS v(lot_id, membership_id, source_id, points, date, round)), "
            f"expiration AS (INSERT INTO {tx} (membership_id, type, date, amount, details, expired_lot_id, "
            "expiry_round) SELECT membership_id, %s, date, -points, "
            "jsonb_build_object('expired_transaction_id', source_id), lot_id, round FROM v "
            "RETURNING id, expired_lot_id, amount) "
            f"INSERT INTO {allocation} (transaction_id, lot_id, points) "
            "SELECT id, expired_lot_id, -amount FROM expiration RETURNING lot_id, transaction_id",
            [lot_ids, *(pg_array(column) for column in columns[1:]), Transaction.EXPIRATION],
        )
        tx_of_lot = dict(cursor.fetchall())
        cursor.execute(
            f"UPDATE {lot} SET remaining = 0, expiry_round = expiry_round + 1 WHERE id = ANY(%s::bigint[])",
            [lot_ids],
        )
    return tx_of_lot


def skip_locked_supported() -> bool:
    """Can a batch skip the rows another transaction holds (`SELECT … FOR UPDATE SKIP LOCKED`)?"""
    return connection.features.has_select_for_update_skip_locked


# --- Expiry warnings -----------------------------------------------------------------------------------


def expiry_warnings_advance(*, membership_ids: list[int], today: date) -> list[int]:
    """Set `warned_on = today` where it is older or missing; returns the membership ids whose row moved.
    One `INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING` (PostgreSQL and SQLite alike), in id order."""
    table = ExpiryWarning._meta.db_table
    values = ", ".join(["(%s, %s)"] * len(membership_ids))
    params: list = []
    for membership_id in membership_ids:
        params += [membership_id, connection.ops.adapt_datefield_value(today)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (membership_id, warned_on) VALUES {values} "
            f"ON CONFLICT (membership_id) DO UPDATE SET warned_on = excluded.warned_on "
            f"WHERE {table}.warned_on < excluded.warned_on "
            "RETURNING membership_id",
            params,
        )
        return [row[0] for row in cursor.fetchall()]
