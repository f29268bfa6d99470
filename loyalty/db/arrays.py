"""Lists as PostgreSQL array parameters, in text.

A query that takes a list as one array parameter (`= ANY(%s::bigint[])`, `unnest(%s::integer[], …)`) has
the same text for every length, so it is parsed once by psycopg and prepared once by PostgreSQL. psycopg
adapts a Python list element by element, which costs more than the query it feeds; the array's text form,
cast in the SQL, is built with one join.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime


def pg_array(values: Iterable[int | datetime]) -> str:
    """`{1,2,3}` for integers, `{"2026-01-01 00:00:00+00:00",…}` for aware datetimes; cast it in SQL
    (`%s::bigint[]`, `%s::timestamptz[]`). Anything else is refused: no text of a caller's ever reaches it."""
    items = []
    for value in values:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("pg_array: naive datetime")
            items.append(f'"{value.isoformat(sep=" ")}"')
        elif isinstance(value, int):
            items.append(str(int(value)))
        else:
            raise TypeError(f"pg_array: {type(value).__name__} is not an integer or a datetime")
    return "{" + ",".join(items) + "}"
