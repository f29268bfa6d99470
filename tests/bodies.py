"""Requests as a streaming client sends them: `Transfer-Encoding: chunked`, no `Content-Length`.

The test client always declares a length; `chunked()` removes it and marks the input as terminated, as
gunicorn does for a chunked request it has de-chunked (`wsgi.input_terminated`, a de facto WSGI extension),
so the application sees exactly what it sees under gunicorn.
"""

from __future__ import annotations

from io import BytesIO

from django.test import Client

# Bodies that are not JSON, each as a client could send them to any endpoint (SPEC §1.2: 400 "Invalid JSON").
NOT_JSON = {
    "truncated": (b"{not json", "application/json"),
    "invalid utf-8": (b'{"a": "\xff\xfe"}', "application/json"),
    "raw nul": (b'{"a": "b\x00c"}', "application/json"),
    "form": (b"points=5&name=x", "application/x-www-form-urlencoded"),
    "utf-16": ('{"points": 5}'.encode("utf-16"), "application/json"),
}


def chunked(client: Client, method: str, path: str, body: bytes, content_type: str = "application/json"):
    """`method` on `path` with `body` sent chunked (no Content-Length)."""
    return client.generic(
        method.upper(),
        path,
        body,
        content_type=content_type,
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        # A stream that ends, as a server's de-chunked input does (the test client's refuses reads past its
        # declared length).
        **{"wsgi.input": BytesIO(body), "wsgi.input_terminated": True},
    )
