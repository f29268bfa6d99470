"""What reading a `timestamptz` costs the client: Django's loader (a Python subclass of psycopg's Python
loader) against the backend's (`kit.db.postgresql.base.UTCTimestamptzLoader`, psycopg's C loader on a UTC
session), on the same connection and rows, alternately; the query's own cost (a COUNT of the same rows) is
subtracted. No server or seeded data: only PostgreSQL.

.venv/bin/python bench/timestamps.py [--rows 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench.harness import PG_HOST, Row, print_table

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import django

    django.setup()
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    from kit.db.postgresql.base import UTCTimestamptzLoader

    class DjangoLoader(BaseTzLoader):
        timezone = datetime.UTC

    sql = f"SELECT now() + g * interval '1 second', now() - g * interval '1 day' FROM generate_series(1, {args.rows}) g"
    values = 2 * args.rows
    loaders = {"Django's loader": DjangoLoader, "ours (UTCTimestamptzLoader)": UTCTimestamptzLoader}
    spent = dict.fromkeys(loaders, 0.0)
    connections = {}
    for name, loader in loaders.items():
        conn = psycopg.connect(f"postgresql://postgres@{PG_HOST}:5432/postgres", options="-c TimeZone=UTC")
        conn.adapters.register_loader("timestamptz", loader)
        connections[name] = conn
    for _ in range(args.rounds):
        for name, conn in connections.items():
            with conn.cursor() as cursor:
                start = time.perf_counter()
                cursor.execute(sql)
                cursor.fetchall()
                middle = time.perf_counter()
                cursor.execute(f"SELECT count(*) FROM ({sql}) x")
                cursor.fetchall()
                spent[name] += (middle - start) - (time.perf_counter() - middle)
    base = spent["Django's loader"] / args.rounds / values * 1e6
    rows = [
        Row(f"{name}: µs per value", spent[name] / args.rounds / values * 1e6, base, "info", True) for name in loaders
    ]
    print_table(rows, f"timestamptz read, {values} values a round, {args.rounds} rounds (ratio: against Django's)")


if __name__ == "__main__":
    main()
