"""Asking the server to close the client connection after the response.

A body the API refuses without reading it (413 on the declared length, a chunked body cut at the limit)
stays on the connection. gunicorn discards at most 64 KiB of it before reusing a keep-alive connection and
otherwise closes the connection — after having answered `Connection: keep-alive`, so the client's next
request on it fails. WSGI forbids the application to set `Connection` itself (PEP 3333, hop-by-hop), so the
server's `pre_request` hook (config/gunicorn.conf.py) hands over its request object for the duration of
the request and the API marks it: gunicorn then answers `Connection: close` and closes. Under a server
without the hook this does nothing (Django's `runserver` reads a declared body to its end anyway).
"""

from __future__ import annotations

import json
import threading

_current = threading.local()


def server_request_started(server_request) -> None:
    """From the server's hook, in the thread that runs the request (gunicorn: sync and gthread workers)."""
    _current.request = server_request


def server_request_finished() -> None:
    _current.request = None


def close_after_response() -> None:
    server_request = getattr(_current, "request", None)
    if server_request is not None and hasattr(server_request, "must_close"):
        server_request.must_close = True


# gunicorn's own error answers, in the contract's shape. The message is the status's, never gunicorn's
# description of the request (which quotes what the client sent).
_SERVER_ERRORS = {
    400: "Bad request",
    403: "Forbidden",
    414: "URI too long",
    417: "Expectation failed",
    431: "Request header fields too large",
    500: "Internal server error",
    501: "Not implemented",
}


def server_error_bytes(status: int, reason: str) -> bytes:
    body = json.dumps({"error": _SERVER_ERRORS.get(status, reason)}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def server_error_write(sock, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for `gunicorn.util.write_error` (same arguments)."""
    from gunicorn.util import write_nonblock

    write_nonblock(sock, server_error_bytes(status_int, reason))
