"""Texts stored as a string or a {language: text} map (SPEC §4.9), chosen in Python and in SQL alike:
the first of the request's languages present in the map, else the alphabetically first language."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Expression, F, TextField
from django.db.models.functions import Lower

_LANGUAGE = re.compile(r"[A-Za-z0-9_-]{1,20}")


def request_languages(*, locale: str | None, member=None, club=None) -> list[str]:
    """`X-Locale` (and its base language) → the member's language → the club's default language."""
    languages: list[str] = []
    candidates = []
    if locale:
        locale = locale.strip().split(",")[0].split(";")[0].strip().replace("_", "-")
        candidates += [locale, locale.split("-")[0]]
    if member is not None:
        candidates.append(member.language)
    if club is not None:
        candidates.append(club.default_language)
    for candidate in candidates:
        if candidate and candidate not in languages and _LANGUAGE.fullmatch(candidate):
            languages.append(candidate)
    return languages


def text_for(value: Any, languages: list[str]) -> str | None:
    """One string out of a stored text: itself, or the best language of a map."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        for language in languages:
            text = value.get(language)
            if isinstance(text, str):
                return text
        for key in sorted(value):
            if isinstance(value[key], str):
                return value[key]
        return None
    return str(value)


def _column(compiler, expression) -> str:
    """The SQL of a plain column reference (no parameters, so it can be repeated in the expression)."""
    sql, params = compiler.compile(expression)
    if params:  # pragma: no cover - only plain columns are passed in
        raise ValueError("expected a plain column")
    return sql


class LocalizedText(Expression):
    """SQL twin of `text_for` over a JSON column, for ordering (PostgreSQL and SQLite)."""

    output_field = TextField()

    def __init__(self, field: str, languages: list[str]):
        super().__init__()
        self.source = F(field)
        self.languages = [language for language in languages if _LANGUAGE.fullmatch(language)]

    def get_source_expressions(self):
        return [self.source]

    def set_source_expressions(self, exprs):
        (self.source,) = exprs

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        clone = self.copy()
        clone.source = self.source.resolve_expression(query, allow_joins, reuse, summarize, for_save)
        return clone

    def as_postgresql(self, compiler, connection):
        col = _column(compiler, self.source)
        params: list = []
        parts = [f"CASE WHEN jsonb_typeof({col}) = 'string' THEN {col} #>> '{{}}' END"]
        for language in self.languages:
            parts.append(f"CASE WHEN jsonb_typeof({col} -> %s) = 'string' THEN {col} ->> %s END")
            params += [language, language]
        parts.append(
            f"(SELECT e.value FROM jsonb_each(CASE WHEN jsonb_typeof({col}) = 'object' THEN {col} END) e "
            "WHERE jsonb_typeof(e.value) = 'string' ORDER BY e.key LIMIT 1) #>> '{}'"
        )
        return f"COALESCE({', '.join(parts)})", params

    def as_sqlite(self, compiler, connection):
        col = _column(compiler, self.source)
        params: list = []
        parts = [f"CASE WHEN json_type({col}) = 'text' THEN json_extract({col}, '$') END"]
        for language in self.languages:
            path = f'$."{language}"'  # request_languages admits only [A-Za-z0-9_-]
            parts.append(
                f"CASE WHEN json_type({col}) = 'object' AND json_type({col}, %s) = 'text' "
                f"THEN json_extract({col}, %s) END"
            )
            params += [path, path]
        parts.append(
            f"(SELECT e.value FROM json_each(CASE WHEN json_type({col}) = 'object' THEN {col} END) e "
            "WHERE e.type = 'text' ORDER BY e.key LIMIT 1)"
        )
        return f"COALESCE({', '.join(parts)})", params

    def as_sql(self, compiler, connection):  # pragma: no cover - other backends are not supported
        raise NotImplementedError(f"LocalizedText is not implemented for {connection.vendor}")


def name_order_key(languages: list[str]) -> Lower:
    """What `order_by=name` sorts on: the name in these languages (`LocalizedText`), lower-cased by the
    database. The member list, the management list and the stored key `Offer.name_sort` all use it."""
    return Lower(LocalizedText("name", languages))


def languages_signature(languages: list[str]) -> str:
    """The languages a `LocalizedText` of this list uses, as one string (`Offer.name_sort_language`):
    two lists with the same signature choose the same text from every name."""
    return ",".join(language for language in languages if _LANGUAGE.fullmatch(language))


class AllTexts(Expression):
    """Every language of a JSON text column joined by newlines, for `search` (PostgreSQL and SQLite)."""

    output_field = TextField()

    def __init__(self, field: str):
        super().__init__()
        self.source = F(field)

    def get_source_expressions(self):
        return [self.source]

    def set_source_expressions(self, exprs):
        (self.source,) = exprs

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        clone = self.copy()
        clone.source = self.source.resolve_expression(query, allow_joins, reuse, summarize, for_save)
        return clone

    def as_postgresql(self, compiler, connection):
        col = _column(compiler, self.source)
        sql = (
            f"CASE jsonb_typeof({col}) WHEN 'string' THEN {col} #>> '{{}}' WHEN 'object' THEN "
            f"(SELECT string_agg(e.value, E'\\n') FROM "
            f"jsonb_each_text(CASE WHEN jsonb_typeof({col}) = 'object' THEN {col} END) e) END"
        )
        return sql, []

    def as_sqlite(self, compiler, connection):
        col = _column(compiler, self.source)
        sql = (
            f"CASE json_type({col}) WHEN 'text' THEN json_extract({col}, '$') WHEN 'object' THEN "
            f"(SELECT group_concat(e.value, char(10)) FROM json_each({col}) e WHERE e.type = 'text') END"
        )
        return sql, []

    def as_sql(self, compiler, connection):  # pragma: no cover
        raise NotImplementedError(f"AllTexts is not implemented for {connection.vendor}")


# What PostgreSQL's JSON types refuse; the API and the admin both check texts against it before writing.
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")


def text_unsafe(value: Any) -> bool:
    """True if any string (or key) inside a JSON value holds NUL or a lone surrogate, which PostgreSQL's
    JSON types refuse. Iterative: a deeply nested value cannot exhaust the stack."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSAFE_TEXT.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
