"""A short in-process cache of the two lookups every request makes: the client token by digest and the club
by slug (SPEC §1.2). Both rows change rarely and are read on every request, so each worker keeps what it
found for API_AUTH_CACHE_SECONDS (default 2 s; 0 turns the cache off).

Invalidation: any save or delete of a ClientToken or LoyaltyClub through the ORM (services, admin, shell)
clears this process's cache at once (signals connected in `LoyaltyConfig.ready`), so the process that
revoked a token refuses it in the very next request. Other processes notice within API_AUTH_CACHE_SECONDS.
Misses are never cached: a token or club created in another process works at once everywhere.

Callers get a copy of the cached instance, so nothing a request does to it (a failed update assigning
attributes) leaks into the next request. The copy is the one `copy.copy` makes of a model instance (its own
attribute dict and `_state`, the values themselves shared), built directly: `copy.copy` goes through the
pickle protocol (`__reduce_ex__`, `__getstate__`, `__setstate__`), which cost a request more than the rest of
its authentication.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db.models.base import ModelState

from loyalty import selectors
from loyalty.models import ClientToken, LoyaltyClub
from loyalty.secrets import digest

_MAX_ENTRIES = 10_000  # a flood of distinct valid tokens cannot grow a worker without bound
_tokens: dict[str, tuple[float, ClientToken]] = {}
_clubs: dict[str, tuple[float, LoyaltyClub]] = {}


def _ttl() -> float:
    return float(getattr(settings, "API_AUTH_CACHE_SECONDS", 0))


def _get(cache: dict, key: str) -> Any | None:
    entry = cache.get(key)
    if entry is None or entry[0] <= time.monotonic():
        return None
    return instance_copy(entry[1])


def instance_copy(instance: Any) -> Any:
    """What `copy.copy(instance)` returns for a model instance: a new instance with a copy of the attribute
    dict and of its `_state`, whose cache of related objects is a copy too (Model.__getstate__)."""
    clone = object.__new__(type(instance))
    attributes = instance.__dict__.copy()
    state = ModelState()
    state.__dict__.update(attributes["_state"].__dict__)
    state.fields_cache = state.fields_cache.copy()
    attributes["_state"] = state
    clone.__dict__ = attributes
    return clone


def _put(cache: dict, key: str, value: Any, ttl: float) -> None:
    if len(cache) >= _MAX_ENTRIES:
        cache.clear()
    cache[key] = (time.monotonic() + ttl, value)


def client_token_get_active(*, secret: str | None) -> ClientToken | None:
    """`selectors.client_token_get_active`, cached. The permits are expanded once, before caching."""
    ttl = _ttl()
    if not secret or ttl <= 0:
        return selectors.client_token_get_active(secret=secret)
    key = digest(secret)
    token = _get(_tokens, key)
    if token is None:
        token = selectors.client_token_get_active(secret=secret)
        if token is not None:
            _ = token.effective_permits  # computed once per cache entry, copied along with it
            _put(_tokens, key, token, ttl)
    return token


def club_find_by_slug(*, slug: str) -> LoyaltyClub | None:
    """`selectors.club_find_by_slug`, cached."""
    ttl = _ttl()
    if ttl <= 0:
        return selectors.club_find_by_slug(slug=slug)
    club = _get(_clubs, slug)
    if club is None:
        club = selectors.club_find_by_slug(slug=slug)
        if club is not None:
            _put(_clubs, slug, club, ttl)
    return club


def clear(**_kwargs) -> None:
    """Forget everything (signal receiver: a token or club was saved or deleted in this process)."""
    _tokens.clear()
    _clubs.clear()
