"""The rendered content of offers, kept per worker and per content revision: what the member views of an
offer (SPEC §4.2) show the same to every member — names and texts in the request's languages, dates, tags,
stores, collection links, files, display — rendered once, then reused while the offer is unchanged.

Exact, not "fresh enough": an entry is used only when the revision it was rendered from equals the
`content_revision` the request's own statement just read (`offers.selectors.listing` reads it beside the
member's figures), and PostgreSQL triggers give an offer a new revision in the same transaction as any change
of what is rendered, whoever writes it (offers.sql.CONTENT_REVISION_V1). So a request sees exactly the
content a fresh read would render; an offer changed in another process is re-read by the first request that
reads its new revision. What a request still reads every time: the page's ids and, per offer, the member's
figures and the revision (one statement); the content rows and their relations (two more) only for the
revisions this worker has not rendered yet.

Bounded: at most OFFERS_CONTENT_CACHE_ENTRIES entries per worker, one per (offer, languages); past it the
oldest entry makes room. Other databases keep no revision (no triggers), so the cache is off there and every
request renders what it reads.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from offers.api.serializers import offer_content_to_json
from offers.selectors.content import content_rows
from offers.sql import content_revisions_kept

Content = tuple[dict[str, Any], dict[str, Any]]

# (offer id, languages) → (content revision, rendered content)
_entries: dict[tuple[int, tuple[str, ...]], tuple[int, Content]] = {}


def _capacity() -> int:
    if not content_revisions_kept():
        return 0
    return int(getattr(settings, "OFFERS_CONTENT_CACHE_ENTRIES", 0))


def offer_contents(rows: list[dict[str, Any]], *, languages: list[str]) -> dict[int, Content]:
    """The rendered content of the offers of these rows (each with `id` and `content_revision`), by id. An
    offer deleted since its row was read is missing from the answer."""
    capacity = _capacity()
    key_languages = tuple(languages)
    found: dict[int, Content] = {}
    missing: list[int] = []
    for row in rows:
        entry = _entries.get((row["id"], key_languages)) if capacity else None
        if entry is not None and entry[0] == row["content_revision"]:
            found[row["id"]] = entry[1]
        else:
            missing.append(row["id"])
    for content_row in content_rows(missing):
        rendered = offer_content_to_json(content_row, languages=languages)
        found[content_row["id"]] = rendered
        if capacity:
            key = (content_row["id"], key_languages)
            _entries.pop(key, None)  # a new revision goes to the end, as the newest entry
            while len(_entries) >= capacity:
                try:  # another thread (gthread workers) may be evicting too
                    _entries.pop(next(iter(_entries)), None)
                except (StopIteration, RuntimeError):
                    break
            # Under the revision this content was read with: a change in between leaves the row's older
            # revision a miss, never the newer content under the older revision.
            _entries[key] = (content_row["content_revision"], rendered)
    return found


def clear() -> None:
    """Forget every entry (tests)."""
    _entries.clear()
