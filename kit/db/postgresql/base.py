"""Django's PostgreSQL backend with a health check that costs no round trip.

With `CONN_HEALTH_CHECKS`, Django checks a persistent connection at the start of each request by running
`SELECT 1` — one round trip, and on a busy machine two context switches, for every request. An idle
connection that the server has dropped (restart, `pg_terminate_backend`, `idle_session_timeout`) has
something to read: the server's FATAL message and the end of the stream. So the check here looks at the
socket without blocking instead: a connection that libpq already marks bad, or whose socket is readable
while no query runs, is closed and replaced; a quiet socket is healthy. A readable socket that was only a
notice costs one reconnect. A link that died without a word (no FIN) is not detected, as `SELECT 1` would
not detect it either without waiting for TCP's timeouts.

It keeps one closed cursor per connection for the next `cursor()` (`ReusableCursorMixin`): psycopg builds each
cursor with its own copy of the connection's adapter map, and Django opens and closes a cursor for every
statement; `cursor()` took 6.5 % of a member request's worker CPU (py-spy, docs/benchmarks.md), 2.1 % now.

Timestamps are read by psycopg's compiled loader (`UTCTimestamptzLoader`): Django registers its own loader, a
Python subclass that psycopg cannot swap for its C one, and parsing a `timestamptz` in Python cost 8.7 µs
against 1.4 µs (a member row holds four). Django's loader replaces the tzinfo of what psycopg parsed in the
session's time zone; on a session in UTC psycopg's C loader gives that same `datetime.timezone.utc` value, so
the compiled one is used only there, and Django's everywhere else (another TIME_ZONE, USE_TZ off).

It also refuses to run prepared statements through a connection pooler nobody declared (DATABASE_POOLER):
in PgBouncer's transaction mode they run on server sessions other clients share, where they are missing or,
worse, another client's statement of the same name runs with our parameters. A pooler shows itself through
the backend key it hands the client: PgBouncer makes up its own (to route cancel requests), so the process id
in it is not the server process that answers `pg_backend_pid()`. The check costs one query, once per process.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import select

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql import base
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from psycopg import adapt, pq


def _compiled_timestamptz_loader():
    """psycopg's C `timestamptz` loader of the implementation psycopg runs (`psycopg_binary`, or `psycopg_c`
    when both are installed, as psycopg prefers it); None on the pure-Python one (PSYCOPG_IMPL=python),
    whose connections the C classes cannot read."""
    if pq.__impl__ == "binary":
        from psycopg_binary._psycopg import TimestamptzLoader
    elif pq.__impl__ == "c":
        from psycopg_c._psycopg import TimestamptzLoader
    else:
        return None
    return TimestamptzLoader


_CTimestamptzLoader = _compiled_timestamptz_loader()

_QUIET = (pq.TransactionStatus.IDLE, pq.TransactionStatus.INTRANS)

# Aliases whose server this process has already looked at (no pooler in front, or prepared statements off).
_verified: set[str] = set()

UNDECLARED_POOLER = (
    "PostgreSQL is reached through a connection pooler (the backend key is not the server's process id; "
    "PgBouncer?) while prepared statements are on: in transaction mode they would run on sessions other "
    "clients share. Set DATABASE_POOLER=pgbouncer-transaction (which turns server-side binding and prepared "
    "statements off), DATABASE_POOLER=pgbouncer-session for a session-mode pooler, or "
    "DATABASE_PREPARE_THRESHOLD=none."
)
REFUSED_OPTIONS = (
    "The server refused the startup options ({error}): a pooler such as PgBouncer sits in front of "
    "PostgreSQL. Set DATABASE_POOLER=pgbouncer-transaction (or pgbouncer-session), which sends no startup "
    "options; `manage.py migrate` then sets jit=off on the database itself (docs/operations.md)."
)


def pooler_in_front(connection) -> bool:
    """True when the server process answering is not the one named in the connection's backend key."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (server_pid,) = cursor.fetchone()
    return server_pid != connection.info.backend_pid


class ReusableCursorMixin:
    """A client cursor that, closed by Django, goes back to its DatabaseWrapper for the next `cursor()` instead:
    its results are dropped as a new cursor would have none, and it is handed out only on the connection that
    made it, one holder at a time (a second cursor opened while one is in use is a new one). Cursors whose row
    factory someone changed, or whose adapters Django had to adjust (a time zone other than the connection's),
    close for real."""

    _owner = None  # the DatabaseWrapper that may take it back, set by `create_cursor`

    def close(self) -> None:
        owner = self._owner
        if (
            owner is not None
            and owner._idle_cursor is None
            and not self.closed
            and self.connection is owner.connection
            and not self.connection.closed
            and self._row_factory is self.connection.row_factory
        ):
            self._reset()
            self._last_query = None  # the next execute makes a new transformer (psycopg does per query)
            with contextlib.suppress(AttributeError):  # never executed: no transformer yet
                self._tx.set_pgresult(None)  # no reference left to the last result's rows
            self.arraysize = 1
            owner._idle_cursor = self
            return
        self._owner = None
        super().close()


class _DjangoUTCLoader(BaseTzLoader):
    timezone = datetime.UTC


class UTCTimestamptzLoader(adapt.Loader):
    """A `timestamptz` loader for connections whose Django time zone is UTC. Each instance (one per query result)
    loads with psycopg's C loader when the session's TimeZone is `UTC` (its values then carry
    `datetime.timezone.utc`, exactly what Django's loader gives), with Django's own otherwise. The chosen
    loader's bound `load` becomes the instance's, so psycopg calls compiled code per value, no Python frame."""

    timezone = datetime.UTC  # what Django's create_cursor compares: equal, so it registers nothing per cursor

    def __init__(self, oid, context=None):
        super().__init__(oid, context)
        pgconn = self.connection.pgconn if self.connection is not None else None
        if pgconn is not None and pgconn.parameter_status(b"TimeZone") == b"UTC":
            self.load = _CTimestamptzLoader(oid, context).load
        else:
            self.load = _DjangoUTCLoader(oid, context).load

    def load(self, data):  # replaced on every instance by __init__
        raise NotImplementedError


@functools.lru_cache
def _adapters_with_utc_loader(template: adapt.AdaptersMap) -> adapt.AdaptersMap:
    adapters = adapt.AdaptersMap(template)
    adapters.register_loader("timestamptz", UTCTimestamptzLoader)
    return adapters


_reusable: dict[type, type] = {}
# The mixin resets a cursor through psycopg's own (private) reset; a psycopg without it keeps the plain cursor.
REUSE_SUPPORTED = all(hasattr(psycopg.Cursor, name) for name in ("_reset", "_row_factory", "_last_query", "_tx"))


def _reusable_factory(factory: type) -> type:
    if factory not in _reusable:
        _reusable[factory] = type(f"Reusable{factory.__name__}", (ReusableCursorMixin, factory), {})
    return _reusable[factory]


class DatabaseWrapper(base.DatabaseWrapper):
    _idle_cursor = None  # a closed ReusableCursorMixin cursor of the current connection, or None

    def get_connection_params(self):
        params = super().get_connection_params()
        params.pop("pooler", None)  # ours, not libpq's
        if _CTimestamptzLoader is not None and self.timezone is datetime.UTC and "context" in params:
            params["context"] = _adapters_with_utc_loader(params["context"])
        if REUSE_SUPPORTED and params.get("cursor_factory") is not None:
            params["cursor_factory"] = _reusable_factory(params["cursor_factory"])
        return params

    def create_cursor(self, name=None):
        if name is None and self._idle_cursor is not None:
            cursor, self._idle_cursor = self._idle_cursor, None
            if cursor.connection is self.connection and not cursor.closed and cursor._timezone == self.timezone:
                return cursor
            cursor._owner = None
            cursor.close()
        cursor = super().create_cursor(name)
        if name is None and isinstance(cursor, ReusableCursorMixin):
            tzloader = self.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, base.Format.TEXT)
            if self.timezone == tzloader.timezone:  # Django registered nothing on the cursor itself
                cursor._owner = self
                cursor._timezone = self.timezone
        return cursor

    def _close(self):
        idle, self._idle_cursor = self._idle_cursor, None
        if idle is not None:
            idle._owner = None
        return super()._close()

    def get_new_connection(self, conn_params):
        try:
            connection = super().get_new_connection(conn_params)
        except base.Database.OperationalError as exc:
            if "unsupported startup parameter" in str(exc):
                raise ImproperlyConfigured(REFUSED_OPTIONS.format(error=str(exc).strip())) from exc
            raise
        if self.alias not in _verified:
            self._refuse_undeclared_pooler(connection)
        return connection

    def _refuse_undeclared_pooler(self, connection) -> None:
        declared = self.settings_dict["OPTIONS"].get("pooler")
        if connection.prepare_threshold is not None and not declared:
            autocommit = connection.autocommit
            try:
                behind_pooler = pooler_in_front(connection)
            finally:
                if not autocommit:
                    connection.rollback()
            if behind_pooler:
                connection.close()
                raise ImproperlyConfigured(UNDECLARED_POOLER)
        _verified.add(self.alias)

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        try:
            pgconn = connection.pgconn
            # Idle, or inside a transaction (where `SELECT 1` would pass too); not mid-command, not failed.
            if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status not in _QUIET:
                return False
            readable, _, _ = select.select([pgconn.socket], [], [], 0)
        except (OSError, ValueError, base.Database.Error):
            return False
        return not readable


def verify_at_start(alias: str = "default") -> None:
    """Connect once at process start, so a pooler that must be refused stops the process now, not on its first
    request or task. A database that is down is not a reason to stop: readiness reports it."""
    from django.db import DatabaseError, connections

    connection = connections[alias]
    if connection.vendor != "postgresql":
        return
    try:
        connection.ensure_connection()
    except DatabaseError:
        pass
    finally:
        connection.close()
