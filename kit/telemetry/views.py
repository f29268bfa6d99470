"""`GET /metrics`: the Prometheus text exposition of this host's processes."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from kit.telemetry import metrics
from kit.telemetry.access import REALM, UNAUTHORIZED_BODY, metrics_authorized


@require_GET
def metrics_view(request):
    if not metrics_authorized(request.headers.get("Authorization"), settings.METRICS_TOKEN):
        response = HttpResponse(UNAUTHORIZED_BODY, status=401, content_type="application/json")
        response["WWW-Authenticate"] = REALM
        return response
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
