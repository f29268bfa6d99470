"""The one request-body gate (SPEC §1.2, §1.3), run by the base view for every endpoint before the handler.

The body is read once, whether it comes with a `Content-Length` or chunked, and never beyond the limit:
413 above 1 MiB; 400 "Invalid JSON" when a method that carries a body (POST, PUT, PATCH, DELETE) sends
bytes that are not JSON in UTF-8 — whatever the content type, and also on endpoints that take no fields,
so that a purchase or a delete never runs on a request the API refuses elsewhere. The parsed value is kept
on the request: the parser hands it to DRF instead of parsing the bytes again. `RequestBodyMiddleware`
deals with what a refused request left unread on the connection.

Chunked bodies: Django's WSGI request trusts `Content-Length` alone and reads a chunked body as empty. A
server that de-chunks the body and marks the input as terminated (`wsgi.input_terminated`, set by gunicorn)
is read to its end here; under ASGI Django has the whole body already. A WSGI server that does neither
(Django's `runserver`) cannot hand the body over at all: 411, rather than acting on a body read as empty.
"""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

from django.conf import settings

from kit.api.connection import close_after_response
from kit.errors import BodyTooLarge, InvalidJSON, LengthRequired

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PARSED_ATTRIBUTE = "_contract_json"  # on the Django request: the parsed body, once the gate has run
_READ_SIZE = 64 * 1024
DRAIN_BYTES = 16 * 1024 * 1024


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def json_parse(raw: bytes) -> Any:
    """The JSON value of `raw`, or InvalidJSON: UTF-8 only (RFC 8259 §8.1; `json.loads` would also guess
    UTF-16 and UTF-32), no NaN or Infinity, no nesting deep enough to exhaust the stack. An empty body is `{}`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSON() from exc
    if not text.strip():
        return {}
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidJSON() from exc


def _declared_length(meta: dict) -> int | None:
    """The `Content-Length`, None when absent; 400 when it is not a number (gunicorn refuses those itself)."""
    value = meta.get("CONTENT_LENGTH")
    if value in (None, ""):
        return None
    try:
        declared = int(value)
    except ValueError as exc:
        raise InvalidJSON() from exc
    if declared < 0:
        raise InvalidJSON()
    return declared


def _read_at_most(stream, limit: int) -> bytes:
    """Up to `limit` + 1 bytes of `stream` (one more than allowed tells an oversized body apart)."""
    parts, size = [], 0
    while size <= limit:
        part = stream.read(min(_READ_SIZE, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _chunked(meta: dict) -> bool:
    return "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()


def _read(request, limit: int) -> bytes:
    meta = request.META
    declared = _declared_length(meta)
    if not _chunked(meta):
        if declared is not None and declared > limit:
            raise BodyTooLarge()
        return request.body if declared else b""
    if "wsgi.input" in meta:
        if not meta.get("wsgi.input_terminated"):
            raise LengthRequired()
        stream = meta["wsgi.input"]  # Django's own stream is limited to the (absent) Content-Length
    else:
        stream = request  # ASGI: Django has buffered the whole body
    raw = _read_at_most(stream, limit)
    if len(raw) > limit:
        raise BodyTooLarge()
    # From here on the request looks like one that declared its length: Django and DRF read it from memory.
    request._body = raw
    request._stream = BytesIO(raw)
    meta["CONTENT_LENGTH"] = str(len(raw))
    return raw


def request_body_gate(request) -> None:
    """Read, bound and parse the body of a Django request (the view's `request._request`)."""
    if request.method in BODY_METHODS and not hasattr(request, PARSED_ATTRIBUTE):
        setattr(request, PARSED_ATTRIBUTE, json_parse(_read(request, settings.API_MAX_BODY_BYTES)))


def _unread_stream(request):
    """The stream holding what is left of a body nobody read to its end, or None."""
    meta = request.META
    if "wsgi.input" not in meta or hasattr(request, "_body"):
        return None  # ASGI (Django buffers the whole body), or read to its end
    if _chunked(meta):
        return meta["wsgi.input"] if meta.get("wsgi.input_terminated") else None
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    return request if declared > 0 else None


def _drained(request) -> bool:
    """Whether what is left of the body could be read and dropped (at most DRAIN_BYTES)."""
    meta = request.META
    if _chunked(meta) and "wsgi.input" in meta and not meta.get("wsgi.input_terminated"):
        return False  # the server left the chunks on the connection
    stream = _unread_stream(request)
    if stream is None:
        return True
    if not _chunked(meta) and int(meta["CONTENT_LENGTH"]) > DRAIN_BYTES + settings.API_MAX_BODY_BYTES:
        return False
    budget = DRAIN_BYTES + settings.API_MAX_BODY_BYTES
    while budget > 0:
        part = stream.read(min(_READ_SIZE, budget))
        if not part:
            return True
        budget -= len(part)
    return False


class RequestBodyMiddleware:
    """After the response: a body the request left unread (refused early — 401, 413 …, or ignored, as on a
    GET) is read and dropped, up to DRAIN_BYTES beyond the limit, so that a client sending its whole body
    before reading the answer gets the answer (a server that closes on unread data resets the connection,
    and the client may see that instead) and the keep-alive connection serves the next request. A longer
    body is not worth a worker's time: the server is asked to close the connection instead."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        try:
            drained = _drained(request)
        except OSError:  # the client went away
            drained = False
        if not drained:
            close_after_response()
        return response
