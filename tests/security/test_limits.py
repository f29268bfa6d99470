"""OWASP API4 (unrestricted resource consumption): page sizes are capped on every paginated endpoint and
bodies above 1 MiB are refused on every write, before any work. Both lists are derived (from the OpenAPI
schema and the URL resolver), never hand-written."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.conftest import make_client
from tests.security.conftest import footprint
from tests.security.endpoints import api_operations

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
WRITES = [op for op in api_operations() if op.writes]


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = SCHEMA["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _operations():
    for path, item in SCHEMA["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def _paginated():
    """(path, per_page maximum) of every GET whose answer carries `pagination_info` or takes `per_page`."""
    found = []
    for path, method, operation in _operations():
        params = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
        ok = operation["responses"].get("200", {}).get("content", {}).get("application/json", {})
        body = _resolve(ok.get("schema", {}))
        if method == "get" and ("per_page" in params or "pagination_info" in body.get("properties", {})):
            found.append((path, params.get("per_page", {}).get("schema", {}).get("maximum")))
    return found


PAGINATED = _paginated()


def _url(path: str, world) -> str:
    ids = {"lc": world.slug, "member_id": world.member_id} | {k: v[0] for k, v in world.ids.items()}
    return re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), 1)), path)


def test_the_paginated_endpoints_were_found():
    assert len(PAGINATED) >= 10


@pytest.mark.parametrize(("path", "maximum"), PAGINATED, ids=[p for p, _ in PAGINATED])
def test_every_paginated_endpoint_documents_a_cap_and_refuses_a_page_above_it_with_the_422_tree(path, maximum, world):
    assert maximum is not None, f"{path} is paginated but documents no per_page maximum"
    client = make_client(world.full_token, bearer=world.bearer)
    url = _url(path, world)

    too_big = client.get(url, {"per_page": maximum + 1})
    zero = client.get(url, {"per_page": 0})

    assert too_big.status_code == 422, too_big.content
    assert too_big.json() == {
        "error": "Invalid parameters",
        "details": {
            "per_page": [
                {
                    "value": maximum + 1,
                    "error": "less_or_equal_to",
                    "options": {"number": maximum},
                    "message": f"must be less than or equal to {maximum}",
                }
            ]
        },
    }
    assert zero.status_code == 422
    assert zero.json()["details"]["per_page"][0]["error"] == "greater_or_equal_to"
    assert client.get(url, {"per_page": maximum}).status_code == 200


@pytest.mark.parametrize("op", WRITES, ids=str)
def test_every_write_refuses_a_body_above_1_mib_with_413_and_does_nothing(op, world, settings):
    client = make_client(world.full_token, bearer=world.bearer)
    ids = {k: v[0] for k, v in world.ids.items()}
    body = b'{"x": "' + b"a" * settings.API_MAX_BODY_BYTES + b'"}'
    before = footprint(world.member_id)

    response = getattr(client, op.method)(
        op.path(lc=world.slug, member_id=world.member_id, ids=ids), body, content_type="application/json"
    )

    assert response.status_code == 413, (str(op), response.status_code, response.content[:200])
    assert response.json() == {"error": "Request body is larger than 1 MiB"}
    assert footprint(world.member_id) == before
