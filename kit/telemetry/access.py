"""Who may read the metrics: with `METRICS_TOKEN` set, a scrape sends `Authorization: Bearer <token>`; unset, the
endpoints are open (docs/operations.md: keep them off the public load balancer). One check for the API's
`GET /metrics` and for a Celery worker's own endpoint (`CELERY_METRICS_BIND`)."""

from __future__ import annotations

import hmac

REALM = 'Bearer realm="metrics"'
UNAUTHORIZED_BODY = b'{"error": "Unauthorized"}'


def metrics_authorized(authorization: str | None, token: str) -> bool:
    """Whether an `Authorization` header value may read the metrics guarded by `token` (empty: anyone)."""
    if not token:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
