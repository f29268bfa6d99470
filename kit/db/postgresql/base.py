"""Django's PostgreSQL backend with a health check that costs no round trip.

With `CONN_HEALTH_CHECKS`, Django checks a persistent connection at the start of each request by running
`SELECT 1` — one round trip, and on a busy machine two context switches, for every request. An idle
connection that the server has dropped (restart, `pg_terminate_backend`, `idle_session_timeout`) has
something to read: the server's FATAL message and the end of the stream. So the check here looks at the
socket without blocking instead: a connection that libpq already marks bad, or whose socket is readable
while no query runs, is closed and replaced; a quiet socket is healthy. A readable socket that was only a
notice costs one reconnect. A link that died without a word (no FIN) is not detected, as `SELECT 1` would
not detect it either without waiting for TCP's timeouts.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq

_QUIET = (pq.TransactionStatus.IDLE, pq.TransactionStatus.INTRANS)


class DatabaseWrapper(base.DatabaseWrapper):
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
