"""Member consents of the published members API: `{"<slug>": {"status": bool, "updated_at": <time>}}`.

A consent slug the member never answered is absent; `status` true means approved, false disapproved. Kept as
one JSON object on the member (the published model has no per-consent resource), merged slug by slug.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kit.formats import format_datetime

MAX_CONSENTS = 100


def consents_merge(current: Mapping[str, Any] | None, changes: Mapping[str, Any], *, now: datetime) -> dict:
    """`current` with `changes` applied: a slug mapped to None is forgotten, a slug mapped to
    `{"status": bool, "updated_at": datetime | None}` is set. `updated_at` defaults to `now` when the status
    changes and stays as it was when the same status is sent again (re-sending a form is not a new answer)."""
    merged = dict(current or {})
    for slug, change in changes.items():
        if change is None:
            merged.pop(slug, None)
            continue
        previous = merged.get(slug) or {}
        given = change.get("updated_at")
        if given is not None:
            updated_at = format_datetime(given)
        elif previous.get("status") is change["status"]:
            updated_at = previous.get("updated_at")
        else:
            updated_at = format_datetime(now)
        merged[slug] = {"status": change["status"], "updated_at": updated_at}
    return merged
