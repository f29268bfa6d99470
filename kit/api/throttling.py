"""Optional per-client-token rate limit (SPEC §1.3: 429 with `Retry-After`), off by default.

A fixed window of one minute per client token: the first request of a window creates its counter, each
request increments it, and past `API_RATE_LIMIT_PER_MINUTE` the request is refused until the window ends
(`Retry-After` = the seconds left, at least 1). Counters live in the Django cache named by
`API_RATE_LIMIT_CACHE` (`CACHE_URL`): with the default in-process cache each server process counts on its
own, so N processes let through up to N × the limit; point `CACHE_URL` at Redis for one shared count.
A fixed window admits up to 2 × the limit across a window boundary; that is the price of one counter.

If the cache fails, the request is let through (logged): the limiter must never take the API down.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import caches

from kit.errors import RateLimited

logger = logging.getLogger("loyalty.api")

WINDOW_SECONDS = 60


def rate_limit_check(*, client_token_id: int, now: float | None = None) -> None:
    """Count one request of this client token; 429 (`RateLimited`) past the limit of the current window."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if not limit or limit <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"loyalty:ratelimit:{client_token_id}:{window}"
    try:
        cache = caches[settings.API_RATE_LIMIT_CACHE]
        # add() creates the counter only if absent (atomic in every backend); incr() is atomic in Redis and
        # memcached, and under a lock in the in-process cache.
        cache.add(key, 0, timeout=WINDOW_SECONDS + 5)
        count = cache.incr(key)
    except Exception:  # the cache is down or the key vanished between add and incr: let the request through
        logger.warning("Rate limit cache unavailable; request not counted", exc_info=True)
        return
    if count > limit:
        raise RateLimited(retry_after=max(1, math.ceil((window + 1) * WINDOW_SECONDS - now)))
