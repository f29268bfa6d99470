"""Requests as the published docs (Boostcom/bl-api-v3, source/includes/) write them: header names in lower
case, the docs' header values, JSON bodies as raw text (a PHP client's `json_encode`), sent through the real
URLs, middleware, authentication and views."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.test import APIClient

# The docs' example header values; only the client token is replaced by a real one.
DOCS_HEADERS = {
    "content-type": "application/json",
    "x-product-name": "default",
    "x-user-agent": "CURL manual test",
}


class DocsClient:
    def __init__(self, client_token: str | None, *, bearer: str | None = None, **headers: str):
        self.headers = dict(DOCS_HEADERS)
        if client_token is not None:
            self.headers["x-client-authorization"] = client_token
        if bearer is not None:
            self.headers["authorization"] = f"Bearer {bearer}"
        self.headers.update({name.replace("_", "-"): value for name, value in headers.items()})
        self.client = APIClient()

    def request(self, method: str, path: str, body: Any = None, *, headers: dict | None = None, drop=()):
        sent = {k: v for k, v in {**self.headers, **(headers or {})}.items() if k not in drop}
        data = body if isinstance(body, str) or body is None else json.dumps(body)
        if method == "GET":
            return self.client.get(path, headers=sent)
        return self.client.generic(method, path, data or "", content_type=sent.get("content-type"), headers=sent)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, body, **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.request("PUT", path, body, **kwargs)

    def delete(self, path, body=None, **kwargs):
        return self.request("DELETE", path, body, **kwargs)
