"""Log the SQL one API request issues and turn it into a pgbench script (the SQL baseline of a request).

.venv/bin/python -m bench.sqllog POST /v3/x/members/5/offers/7/use --header K=V --body '{}' --var mid=5 --var oid=7

Runs the request in-process twice (Django test client, the benchmark settings) and logs the second with
`connection.execute_wrapper` (the first fills what a worker caches: client token, club),
renders every statement with its parameters as the server would send them (psycopg client-side binding),
wraps those issued inside `transaction.atomic` in BEGIN … COMMIT, and replaces the parameters equal to a
`--var` value with `:name`, so pgbench can draw them with `\\set`. Prints the script after `PGBENCH`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

import psycopg  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

SENTINEL = 7_391_000_000_000  # + index: an integer no real parameter of a request holds


def capture(method: str, path: str, *, headers: dict[str, str], body: str | None) -> tuple[int, list]:
    statements: list[tuple[str, tuple, bool, int | None]] = []

    def wrapper(execute, sql, params, many, context):
        atomic = context["connection"].in_atomic_block
        result = execute(sql, params, many, context)
        returned = None
        raw = context["cursor"].cursor
        if " RETURNING " in sql.upper() and raw.description and raw.description[0].name == "id":
            rows = raw.fetchall()
            raw.scroll(0, mode="absolute")  # give the caller its rows back
            returned = rows[0][0] if len(rows) == 1 else None
        statements.append((sql, tuple(params or ()), atomic, returned))
        return result

    client = Client(HTTP_HOST="127.0.0.1")
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    # Once untimed, so that what a worker caches (client token, club) is cached: the log is a steady request.
    client.generic(method, path, data=body or "", content_type="application/json", **extra)
    with connection.execute_wrapper(wrapper):
        response = client.generic(method, path, data=body or "", content_type="application/json", **extra)
    return response.status_code, statements


def to_pgbench(statements: list, variables: dict[str, int]) -> str:
    """Each statement rendered with its literals; parameters equal to a variable become `:name`, and an id
    returned by an earlier statement (`RETURNING id`) becomes the variable pgbench's `\\gset` gives it."""
    sentinels = {value: (SENTINEL + i, name) for i, (name, value) in enumerate(variables.items())}
    raw = connection.connection
    cursor = psycopg.ClientCursor(raw)
    lines: list[str] = []
    in_tx = False
    for index, (sql, params, atomic, returned) in enumerate(statements):
        if atomic and not in_tx:
            lines.append("BEGIN;")
        elif not atomic and in_tx:
            lines.append("COMMIT;")
        in_tx = atomic
        bound = tuple(
            sentinels[p][0] if isinstance(p, int) and not isinstance(p, bool) and p in sentinels else p for p in params
        )
        text = cursor.mogrify(sql, bound) if bound else sql.replace("%%", "%")
        for sentinel, name in sentinels.values():
            text = text.replace(str(sentinel), f":{name}")
        lines.append(" ".join(text.split()))
        if (
            returned is not None
            and returned not in sentinels
            and any(returned in later[1] for later in statements[index + 1 :])
        ):
            prefix = f"r{index}_"
            sentinels[returned] = (SENTINEL + 100 + index, f"{prefix}id")
            lines[-1] += f" \\gset {prefix}"
        else:
            lines[-1] += ";"
    if in_tx:
        lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("method")
    parser.add_argument("path")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--body")
    parser.add_argument("--var", action="append", default=[], help="name=value: a parameter pgbench draws")
    args = parser.parse_args()
    headers = dict(h.split("=", 1) for h in args.header)
    variables = {name: int(value) for name, value in (v.split("=", 1) for v in args.var)}
    connection.ensure_connection()  # connection set-up statements are not the request's
    if connection.vendor == "postgresql":
        # Ids the request creates must not equal a small constant of its SQL (`uses_count + 1`) or they could
        # not be told apart when rendered: move every sequence of this benchmark database far above them.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(format('%I.%I', schemaname, sequencename), 7000000) FROM pg_sequences "
                "WHERE coalesce(last_value, 0) < 7000000"
            )
    status, statements = capture(args.method, args.path, headers=headers, body=args.body)
    print("STATUS", status)
    print("PGBENCH " + json.dumps(to_pgbench(statements, variables)))


if __name__ == "__main__":
    main()
