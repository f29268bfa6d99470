"""Request headers read straight from the WSGI/ASGI environ (`request.META`).

`request.headers` builds a case-insensitive dict of every header of the request the first time it is read —
about twenty name conversions — to answer the few lookups the hot path makes; reading `META` under the
header's CGI name gives the same value without building it. Same answers: Django builds `request.headers`
from these very `META` entries (`HTTP_` + the name upper-cased, `-` as `_`; Content-Type and Content-Length
without the prefix).
"""

from __future__ import annotations

from functools import lru_cache

_UNPREFIXED = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})


@lru_cache(maxsize=256)
def meta_key(name: str) -> str:
    """`X-User-Agent` → `HTTP_X_USER_AGENT`; `Content-Type` → `CONTENT_TYPE`."""
    key = name.upper().replace("-", "_")
    return key if key in _UNPREFIXED else f"HTTP_{key}"


def header(request, name: str, default: str | None = None) -> str | None:
    """The value of header `name` (any case) of a Django or DRF request, as `request.headers.get` gives it."""
    return getattr(request, "_request", request).META.get(meta_key(name), default)
