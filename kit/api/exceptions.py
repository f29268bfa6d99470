"""One exception handler: every error leaves the API in the contract's shape (SPEC §1.3, §1.4)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from kit.api.params import build_details
from kit.errors import REASON_PHRASES, DomainError, RateLimited
from kit.messages import message_for

logger = logging.getLogger("loyalty.api")

INTERNAL_ERROR = {"error": "Internal server error"}


def _django_validation_details(exc: DjangoValidationError) -> dict:
    details: dict = {}
    error_dict = exc.error_dict if hasattr(exc, "error_dict") else {"base": exc.error_list}
    for field, errors in error_dict.items():
        details[field] = [
            {
                "value": None,
                "error": e.code or "invalid",
                "options": {},
                "message": message_for(e.code or "invalid", {}),
            }
            for e in errors
        ]
    return details


def error_response_data(exc: Exception) -> tuple[int, dict, dict]:
    """(status, body, headers) for an exception, or a logged 500 for anything unexpected."""
    if isinstance(exc, DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else {}
        return exc.status_code, exc.body(), headers
    if isinstance(exc, drf.ValidationError):
        details = build_details(None, exc.detail, None)
        return (
            422,
            {
                "error": "Invalid parameters",
                "details": details if isinstance(details, dict) else {"base": details},
            },
            {},
        )
    if isinstance(exc, DjangoValidationError):
        return 422, {"error": "Invalid parameters", "details": _django_validation_details(exc)}, {}
    if isinstance(exc, Http404 | drf.NotFound):
        return 404, {"error": "Not found"}, {}
    if isinstance(exc, drf.MethodNotAllowed):
        return 405, {"error": "Method not allowed"}, {}
    if isinstance(exc, drf.ParseError | drf.UnsupportedMediaType):
        return 400, {"error": "Invalid JSON"}, {}
    if isinstance(exc, RequestDataTooBig):
        return 413, {"error": "Request body is larger than 1 MiB"}, {}
    if isinstance(exc, TooManyFieldsSent):
        # More query parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS: malformed input, not a server error.
        options = {"number": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}
        leaf = {"value": None, "error": "size_too_large", "options": options}
        leaf["message"] = message_for("size_too_large", options)
        return 422, {"error": "Invalid parameters", "details": {"base": [leaf]}}, {}
    if isinstance(exc, drf.Throttled):
        return 429, {"error": "Rate limit exceeded"}, {"Retry-After": str(int(exc.wait or 1))}
    if isinstance(exc, DjangoPermissionDenied | drf.PermissionDenied | drf.NotAuthenticated | drf.AuthenticationFailed):
        return 403, {"error": "Forbidden"}, {}
    if isinstance(exc, drf.NotAcceptable):
        return 406, {"error": "Not acceptable"}, {}
    if isinstance(exc, drf.APIException):
        return exc.status_code, {"error": str(exc.detail)}, {}
    logger.exception("Unhandled error", exc_info=exc)
    return 500, INTERNAL_ERROR, {}


def contract_exception_handler(exc, context):
    status, body, headers = error_response_data(exc)
    set_rollback()
    response = Response(body, status=status, headers=headers)
    if status in REASON_PHRASES:
        response.reason_phrase = REASON_PHRASES[status]
    return response


# --- Django-level handlers (errors raised outside DRF views) -------------------------------------


def json_bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse({"error": "Request body is larger than 1 MiB"}, status=413)
    return JsonResponse({"error": "Bad request"}, status=400)


def json_permission_denied(request, exception=None):
    return JsonResponse({"error": "Forbidden"}, status=403)


def json_not_found(request, exception=None):
    return JsonResponse({"error": "Not found"}, status=404)


def json_server_error(request):
    return JsonResponse(INTERNAL_ERROR, status=500)
