"""The content of offers as the member API renders it: the rendered columns of the offer row
(`offers.sql.OFFER_CONTENT_COLUMNS`), its revision, and its tags, stores, collection links and files.

Read by id, without visibility: the ids come from a visibility-filtered statement of the same request
(`offers.selectors.listing`), which also read the revision the renderer's cache compares
(offers/api/content.py). Two statements for any number of offers: the rows, then the relations.
"""

from __future__ import annotations

from typing import Any

from kit.prepared import PreparedLookup
from offers import sql
from offers.models import Offer

CONTENT_ROW_FIELDS = ("id", "content_revision", *sql.OFFER_CONTENT_COLUMNS)

_content_lookup = PreparedLookup(
    lambda p: Offer.objects.filter(pk__in=sql.ids_subquery(p.ids_str)).values(*CONTENT_ROW_FIELDS)
)


def content_rows(ids: list[int]) -> list[dict[str, Any]]:
    """The content rows of these offers (those that still exist), relations attached, in no set order."""
    if not ids:
        return []
    rows = _content_lookup.dicts(ids_str=sql.ids_text(list(ids)))
    offer_rows_attach_relations(rows)
    return rows


def offer_rows_attach_relations(rows: list[dict[str, Any]]) -> None:
    """Adds `tags`, `stores`, `collection_ids` and `files` to each row, in one query for any number of rows
    (on PostgreSQL; three elsewhere)."""
    if not rows:
        return
    by_id = {row["id"]: row for row in rows}
    for row in rows:
        row.update(tags=[], stores=[], collection_ids=[], files=[])
    for kind, offer_id, text, number, file_values in sql.relations_fetch(list(by_id)):
        row = by_id[offer_id]
        if kind == 0:
            row["tags"].append(text)
        elif kind == 1:
            row["stores"].append(text)
        elif kind == 2:
            row["collection_ids"].append(number)
        else:
            row["files"].append(dict(zip(sql.FILE_FIELDS, file_values, strict=True)))
