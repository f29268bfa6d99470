"""One middleware, outermost, for what every request needs whatever answers it: the request id, the
request metrics and the access log line."""

from __future__ import annotations

import logging
import time

from django.core.signals import request_finished
from django.dispatch import receiver

from kit.api.headers import header
from kit.telemetry import metrics
from kit.telemetry.context import HEADER, new_request_id, request_id_var, sane_request_id

access_log = logging.getLogger("loyalty.access")

# Requests that matched no URL pattern share one route label: raw paths would make a series per path.
UNMATCHED = "<unmatched>"
META_KEY = "HTTP_" + HEADER.upper().replace("-", "_")


def route_of(request) -> str:
    """The URL pattern's name (`offer-use-me`), namespaced when the pattern is; its route text if unnamed."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    return match.view_name or match.route or UNMATCHED


class TelemetryMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # META, not request.headers: that builds a dict of every header, for this one lookup (kit.api.headers)
        request_id = sane_request_id(request.META.get(META_KEY)) or new_request_id()
        request.request_id = request_id
        # Not reset when this returns: Django logs 4xx/5xx answers ("Not Found: …") after the middlewares,
        # and those lines belong to the request too. `request_finished` (the response closed) clears it.
        request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response[HEADER] = request_id
            return response
        finally:
            seconds = time.perf_counter() - started
            route = route_of(request)
            count, latency = _series(route, _method(request.method), status)
            count.inc()
            latency.observe(seconds)
            if access_log.isEnabledFor(logging.INFO):  # the record's fields cost more than the check
                _log_access(request, route, status, seconds)


# The labelled children of the two request series, resolved once per (route, method, status) and kept: the
# label set is bounded (URL pattern names, seven methods, status codes), and `labels()` validates its
# arguments, takes a lock and builds the key on every call.
_children: dict[tuple[str, str, int], tuple] = {}


def _series(route: str, method: str, status: int) -> tuple:
    key = (route, method, status)
    children = _children.get(key)
    if children is None:
        labels = {"route": route, "method": method, "status": str(status)}
        children = _children[key] = (
            metrics.HTTP_REQUESTS.labels(**labels),
            metrics.HTTP_LATENCY.labels(**labels),
        )
    return children


def _log_access(request, route: str, status: int, seconds: float) -> None:
    access_log.info(
        "%s %s %s %.1fms",
        request.method,
        request.path,
        status,
        seconds * 1000,
        extra={
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "client": _client_ip(request),
            "user_agent": header(request, "X-User-Agent") or header(request, "User-Agent", ""),
        },
    )


@receiver(request_finished, dispatch_uid="telemetry-request-id-clear")
def _clear_request_id(**_):
    request_id_var.set(None)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(method: str | None) -> str:
    # A client may send any token as the method: keep the label set bounded.
    return method if method in _METHODS else "OTHER"


def _client_ip(request) -> str:
    # The first X-Forwarded-For hop is what the load balancer saw; REMOTE_ADDR is the proxy's otherwise.
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return (forwarded.split(",")[0].strip() if forwarded else request.META.get("REMOTE_ADDR", ""))[:64]
