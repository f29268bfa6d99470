"""Query parameters of the published offers API that SPEC's serializers do not carry: `extras[<key>]` filters,
`store_ids` (refused: offers here name their stores, no store registry exists) and the management list's
`without_shop` / `include_total`. Read next to `parse_query`, with the same 422 tree."""

from __future__ import annotations

import re

from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from kit.errors import InvalidParameters
from kit.messages import error_leaf

_EXTRAS_KEY = re.compile(r"extras\[([^\[\]]*)\](\[\])?", re.ASCII)
_KEY = re.compile(r"[A-Za-z0-9_\-]{1,100}", re.ASCII)
MAX_EXTRAS_KEYS = 10
MAX_EXTRAS_VALUES = 100


def extras_filters(query: QueryDict) -> dict[str, list[str]] | None:
    """`extras[brand]=Acme&extras[floor][]=1&extras[floor][]=2` → `{"brand": ["Acme"], "floor": ["1", "2"]}`,
    or None when no extras parameter is sent. A bare `extras=` or a bad key answers 422."""
    bare: list[dict] = []
    bad_keys: dict[str, list[dict]] = {}
    extras: dict[str, list[str]] = {}
    for raw_key in query:
        if raw_key in ("extras", "extras[]"):
            bare.append(error_leaf("must_be_an_object", query.get(raw_key)))
            continue
        match = _EXTRAS_KEY.fullmatch(raw_key)
        if match is None:
            continue
        key = match.group(1)
        values = query.getlist(raw_key)
        if not _KEY.fullmatch(key):
            bad_keys[key] = [error_leaf("invalid", key, format=_KEY.pattern)]
        elif len(values) > MAX_EXTRAS_VALUES:
            bad_keys[key] = [error_leaf("size_too_large", None, number=MAX_EXTRAS_VALUES)]
        elif any(len(v) > 255 or "\x00" in v for v in values):
            bad_keys[key] = [error_leaf("too_long", None, max_length=255)]
        else:
            extras.setdefault(key, []).extend(values)
    if len(extras) > MAX_EXTRAS_KEYS:
        bare.append(error_leaf("size_too_large", None, number=MAX_EXTRAS_KEYS))
    errors: dict = {}
    if bare:
        errors["extras"] = bare
    elif bad_keys:
        errors["extras"] = bad_keys
    if errors:
        raise InvalidParameters(errors)
    return extras or None


def refuse_store_ids(query: QueryDict) -> None:
    """`store_ids` names stores of the published Stores API, which is not part of this service: an offer
    here lists its stores by name (filter with `stores`). Refused, so that a client does not take an
    unfiltered list for a filtered one."""
    for raw_key in ("store_ids", "store_ids[]"):
        if raw_key in query:
            value = query.getlist(raw_key)
            raise InvalidParameters({"store_ids": [error_leaf("not_supported", value if len(value) > 1 else value[0])]})


EXTRAS_PARAMETER = OpenApiParameter(
    "extras",
    OpenApiTypes.OBJECT,
    OpenApiParameter.QUERY,
    style="deepObject",
    explode=True,
    description="`extras[<key>]=<value>` (repeat or `extras[<key>][]=` for several values): offers whose "
    "`extras.<key>` equals one of the values (as a string, or the number / boolean it spells); keys AND-ed.",
)
STORE_IDS_PARAMETER = OpenApiParameter(
    "store_ids",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="Published, not supported here (no store registry; filter by `stores` names): 422 `not_supported`.",
)
