"""Querysets compiled once per process: the hot lookups of every request, without the ORM's build cost.

Building a queryset (`filter()` → `Q` → lookups) and compiling it to SQL costs a request several times
more CPU than PostgreSQL spends answering a primary-key lookup. The SQL text of such a lookup never
changes, only its values do. A `PreparedLookup` therefore builds its queryset once per database alias with
*sentinel* values — numbers, strings and datetimes no request can send — keeps the SQL, the positions of
the sentinels among its parameters and the row converters, and for each call substitutes the caller's
values and builds the instance with `Model.from_db`, the same path the ORM takes for a fetched row.

The sentinels must reach the SQL as parameters, untouched: use them only where the ORM passes a value
through (`=`, `<=`, `IS NULL` on another column…), never inside `__in` lists, `__contains` or expressions
that transform them; `PreparedLookup` refuses a build whose parameters miss a sentinel.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connections
from django.db.models import JSONField, Model, QuerySet
from django.db.models.expressions import Col
from django.db.models.query import ModelIterable, ValuesIterable

_SENTINEL_BASE = -7_391_100_000_000

Converters = tuple[tuple[int, Callable, Any], ...]  # (column position, function, expression), in order


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: dict[int, str]  # position in params → name of the caller's value
    model: type[Model]
    attnames: tuple[str, ...] | None  # None: not plain model rows (values_list, annotations)
    names: tuple[str, ...] | None  # of a values() queryset's columns, in SQL order; None for other querysets
    converters: Converters


class Sentinels:
    """Attribute access hands out one distinct sentinel per name: `p.club_id`, `p.now`, `p.scope`.
    The kind follows the name's suffix: `now`/`_at` → datetime, `scope`/`_str` → str, else int."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self.values:
            n = len(self.values) + 1
            if name == "now" or name.endswith("_at"):
                value: Any = datetime(1901, 2, 3, 4, 5, 6, 100_000 + n, tzinfo=UTC)
            elif name == "scope" or name.endswith("_str"):
                value = f"prepared-sentinel-{n}-{name}"
            else:
                value = _SENTINEL_BASE - n
            self.values[name] = value
        return self.values[name]


class PreparedLookup:
    """`PreparedLookup(lambda p: Member.objects.filter(club_id=p.club_id, pk=p.pk))`, then
    `lookup.first(club_id=…, pk=…)` → a `Member` or None, and `lookup.all(…)` → a list; for a
    `values_list()` queryset, `lookup.rows(…)` → the converted column values of each row, and for a
    `values()` queryset `lookup.dicts(…)` → a dict per row, as `values()` gives it. A `paged` lookup takes
    `limit=` and `offset=` in every call. Values a call passes that the query does not use are ignored."""

    def __init__(self, build: Callable[[Sentinels], QuerySet], *, paged: bool = False):
        """`paged`: the calls pass `limit` and `offset` (the build must not slice the queryset)."""
        self.build = build
        self.paged = paged
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, using: str) -> _Compiled:
        sentinels = Sentinels()
        qs = self.build(sentinels)
        connection = connections[using]
        compiler = qs.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        if self.paged:
            if qs.query.low_mark or qs.query.high_mark is not None:
                raise ValueError("PreparedLookup(paged=True): the built queryset must not be sliced")
            sql += " LIMIT %s OFFSET %s"
            params = (*params, "prepared-limit", "prepared-offset")
        adapt = connection.ops.adapt_datetimefield_value
        keys = {
            (adapt(value) if isinstance(value, datetime) else value): name for name, value in sentinels.values.items()
        }
        slots = {i: keys[param] for i, param in enumerate(params) if _hashable(param) and param in keys}
        if set(slots.values()) != set(sentinels.values):
            raise ValueError(f"PreparedLookup: sentinels missing from the parameters of {sql!r}")
        select = [expression for expression, _, _ in compiler.select]
        model = qs.model
        attnames: tuple[str, ...] | None = None
        if qs._iterable_class is ModelIterable and all(
            isinstance(col, Col) and col.target.model is model for col in select
        ):
            attnames = tuple(col.target.attname for col in select)
            concrete = tuple(field.attname for field in model._meta.concrete_fields)
            if len(attnames) == len(concrete) and attnames != concrete:  # from_db would take them in order
                attnames = None
        names = tuple(qs.query.selected) if qs._iterable_class is ValuesIterable and qs.query.selected else None
        compiled = _Compiled(
            sql=sql,
            params=tuple(params),
            slots=slots,
            model=model,
            attnames=attnames,
            names=names,
            converters=fast_json_converters(compiler.get_converters(select)),
        )
        self._compiled[using] = compiled
        return compiled

    def rows(self, *, using: str = "default", **values: Any) -> list[list[Any]]:
        """The selected columns of each row, converted as the ORM converts them (for `values_list()`)."""
        return self._rows(using, values)[1]

    def dicts(self, *, using: str = "default", **values: Any) -> list[dict[str, Any]]:
        """The rows of a `values()` queryset, as dicts named as `values()` names them."""
        compiled, rows = self._rows(using, values)
        if compiled.names is None:
            raise TypeError("PreparedLookup.dicts() needs a values() queryset")
        names = compiled.names
        if rows and len(rows[0]) != len(names):  # every row has the SELECT's columns: checking one is enough
            raise ValueError(f"PreparedLookup.dicts(): {len(rows[0])} columns for the names {names}")
        return [dict(zip(names, row)) for row in rows]  # noqa: B905 - zip(strict=True) costs 40 % more

    def all(self, *, using: str = "default", **values: Any) -> list[Model]:
        """The model instances (for a queryset of plain model rows)."""
        compiled, rows = self._rows(using, values)
        if compiled.attnames is None:
            raise TypeError("PreparedLookup.all()/first() need a queryset of plain model rows; use rows()")
        return [compiled.model.from_db(using, compiled.attnames, row) for row in rows]

    def first(self, *, using: str = "default", **values: Any) -> Model | None:
        found = self.all(using=using, **values)
        return found[0] if found else None

    def statement(self, *, using: str = "default", **values: Any) -> tuple[str, list[Any]]:
        """The SQL and the parameters a call with these values would run, without running it (for a
        statement that embeds it, e.g. one part of a UNION ALL)."""
        compiled = self._compiled.get(using) or self._compile(using)
        return compiled.sql, self._params(compiled, using, values)

    def _params(self, compiled: _Compiled, using: str, values: dict[str, Any]) -> list[Any]:
        params = list(compiled.params)
        adapt = connections[using].ops.adapt_datetimefield_value
        for position, name in compiled.slots.items():
            value = values[name]
            params[position] = adapt(value) if isinstance(value, datetime) else value
        if self.paged:
            params[-2:] = [int(values["limit"]), int(values["offset"])]
        return params

    def _rows(self, using: str, values: dict[str, Any]) -> tuple[_Compiled, list[list[Any]]]:
        compiled = self._compiled.get(using) or self._compile(using)
        connection = connections[using]
        params = self._params(compiled, using, values)
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        return compiled, rows_convert(fetched, compiled.converters, connection)


def fast_json_converters(converters: dict) -> Converters:
    """`compiler.get_converters()` flattened to what `rows_convert` applies, with JSONField's decoding done
    by orjson (about four times faster than the json module, which Django uses; a list page decodes
    hundreds of localized texts). Same results: NULL stays None, text orjson refuses (integers beyond 64
    bits) goes to the json module, and text neither can decode comes back as it is, as Django does. Fields
    with a custom decoder are left alone."""
    return tuple(
        (position, _json_load if _is_plain_json_decoder(function) else function, expression)
        for position, (functions, expression) in converters.items()
        for function in functions
    )


def rows_convert(fetched: list, converters: Converters, connection) -> list[list[Any]]:
    """Each fetched row as a list, its columns converted as the ORM converts them."""
    rows = []
    for row in fetched:
        row = list(row)
        for position, function, expression in converters:
            row[position] = function(row[position], expression, connection)
        rows.append(row)
    return rows


def _is_plain_json_decoder(function) -> bool:
    field = getattr(function, "__self__", None)
    return (
        isinstance(field, JSONField)
        and getattr(function, "__func__", None) is JSONField.from_db_value
        and field.decoder is None
    )


def _json_load(value, expression, connection):
    if value is None or not isinstance(value, str | bytes):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
