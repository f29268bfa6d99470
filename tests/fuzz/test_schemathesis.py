"""Schemathesis against the served OpenAPI schema (SPEC §10.3): for every operation, generated requests —
valid and invalid — never get a 5xx, and every response conforms to the schema (status code documented,
content type, body and headers as declared), and leaves every data invariant intact (ledger, offer counters,
shop: tests.reliability.invariants), checked after each write request.

The API runs in-process (the WSGI app on pytest-django's database). Requests carry a FullAccess token
bound to a real club and a member's Bearer token; path parameters are mostly the ids of real objects (see
`tests.fuzz.world`), so the handlers run instead of answering 404. Every example runs inside a savepoint
rolled back afterwards, so each starts from the same world whatever the previous one deleted or revoked.

Each example is also sent, now and then, as a streaming or hostile client would: the same body chunked
(no Content-Length), and with NUL and lone surrogates in every string, keys included (`_variants`); those
answers must be 4xx or 2xx, never a 5xx, with a JSON body, and leave the invariants intact.

Bounded for CI: FUZZ_MAX_EXAMPLES examples per operation (default 12), derandomized so a run is
reproducible; raise FUZZ_MAX_EXAMPLES and set FUZZ_SEED for a deeper, different run on demand. The run's
figures are written to var/reliability/schemathesis.json (quoted in docs/reliability.md).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import pytest
import schemathesis
from django.conf import settings
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import Client
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.bodies import chunked
from tests.fuzz.world import build_world, world_for_module
from tests.reliability.invariants import invariant_violations

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "12"))
FUZZ_SEED = os.environ.get("FUZZ_SEED")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
REPORT = Path(settings.BASE_DIR) / "var" / "reliability" / "schemathesis.json"

APP = get_wsgi_application()
SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/?format=json", APP)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]

FIGURES: dict = {
    "operations": 0,
    "examples": 0,
    "requests": 0,
    "statuses": Counter(),
    "variants": Counter(),
    "failures": [],
}


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    figures = {
        **FIGURES,
        "statuses": dict(sorted(FIGURES["statuses"].items())),
        "variants": dict(sorted(FIGURES["variants"].items())),
        "max_examples": MAX_EXAMPLES,
    }
    REPORT.write_text(json.dumps(figures, indent=2) + "\n")


@pytest.fixture(scope="module")
def _module_world(django_db_setup, django_db_blocker):
    with world_for_module(django_db_blocker, build_world) as world:
        yield world


@pytest.fixture
def world(_module_world, db):
    """Built once for the module; each test's writes are rolled back."""
    return _module_world


@pytest.fixture
def in_process_db():
    """Keep the test's connection across in-process requests, as Django's test client does: the real
    WSGI handler would close it (and with it the test transaction) at the end of every request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _strategy(operation, world):
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    strategies = []
    for mode in modes:
        try:
            strategies.append(operation.as_strategy(generation_mode=mode))
        except Exception:  # an operation with nothing to negate
            continue
    return st.one_of(strategies)


def _prepare(case, world, data) -> None:
    """Real club, real ids (mostly), and both credentials. Hypothesis favours small draws, so the common
    choice is always 0."""
    params = case.path_parameters or {}
    for name in list(params):
        if name == "lc":
            params[name] = world.slug
        elif name in world.ids and data.draw(st.integers(0, 4), label=f"real {name}") < 4:
            params[name] = data.draw(st.sampled_from(world.ids[name]), label=name)
    headers = case.headers if case.headers is not None else {}
    headers["X-Client-Authorization"] = world.full_token
    headers["Authorization"] = f"Bearer {world.bearer}"
    # Generated client headers are often blank (470): keep them only now and then, so most requests get past
    # the header checks (which test_conventions covers) into the handlers.
    if data.draw(st.integers(0, 5), label="generated client headers") < 5:
        headers["X-User-Agent"] = "schemathesis"
        headers["X-Product-Name"] = "fuzz"
    # A random club-slug header would answer 471 half the time; keep it mostly absent or right.
    choice = data.draw(st.integers(0, 5), label="club slug header")
    if choice < 4:
        headers.pop("X-Loyalty-Club-Slug", None)
    elif choice == 4:
        headers["X-Loyalty-Club-Slug"] = world.slug
    case.headers = headers


def _unsafe(value, text: str):
    """`value` with `text` (NUL, a lone surrogate) in every string and every key, at any depth."""
    if isinstance(value, str):
        return value + text
    if isinstance(value, dict):
        return {_unsafe(k, text): _unsafe(v, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsafe(v, text) for v in value]
    return value


def _variants(case, data) -> list[tuple[str, bytes, bool]]:
    """(name, body, chunked) for the extra sendings of this example."""
    body = case.body if isinstance(case.body, dict | list) else None
    choice = data.draw(st.integers(0, 3), label="variant")
    if body is None or choice == 0:
        return []
    raw = json.dumps(body).encode()
    if choice == 1:
        return [("chunked", raw, True)]
    text = data.draw(st.sampled_from(["\x00", "\ud800", "\udfff"]), label="unsafe text")
    unsafe = json.dumps(_unsafe(body, text)).encode()  # ensure_ascii: the surrogate travels escaped, as it must
    return [(f"text {text!r}", unsafe, choice == 3)]


def _send_variant(case, world, body: bytes, is_chunked: bool):
    client = Client()
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in ("content-type", "content-length")}
    path = case.formatted_path + ("?" + urlencode(case.query, doseq=True) if case.query else "")
    try:
        if is_chunked:
            client.defaults.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
            return chunked(client, case.method, path, body)
        return client.generic(case.method, path, body, content_type="application/json", headers=headers)
    finally:
        # The test client connects close_old_connections again after its request: undo that, or the next
        # in-process request closes the test's connection (see `in_process_db`).
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_operation_never_errors_and_conforms_to_its_schema(operation, world, in_process_db):
    failures: list[str] = []
    FIGURES["operations"] += 1

    @hsettings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=FUZZ_SEED is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, world), data=st.data())
    def run(case, data):
        _prepare(case, world, data)
        FIGURES["examples"] += 1
        sid = transaction.savepoint()
        try:
            response = case.call()
            FIGURES["requests"] += 1
            FIGURES["statuses"][str(response.status_code)] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, FailureGroup) as exc:
                failures.append(f"{response.status_code} {exc}\n  {case.as_curl_command()}")
            violations = invariant_violations() if case.method != "GET" else []
            if violations:
                failures.append(f"{response.status_code} broke invariants {violations}\n  {case.as_curl_command()}")
            for name, body, is_chunked in _variants(case, data):
                answer = _send_variant(case, world, body, is_chunked)
                FIGURES["requests"] += 1
                FIGURES["statuses"][str(answer.status_code)] += 1
                FIGURES["variants"][name] += 1
                try:
                    json.loads(answer.content or b"{}")
                    decoded = True
                except ValueError:
                    decoded = False
                if answer.status_code >= 500 or not decoded:
                    shown = answer.content[:200]
                    failures.append(
                        f"{answer.status_code} on the {name} variant: {shown!r}\n  {case.as_curl_command()}"
                    )
                violations = invariant_violations() if case.method != "GET" else []
                if violations:
                    failures.append(f"{name} variant broke invariants {violations}\n  {case.as_curl_command()}")
        finally:
            transaction.savepoint_rollback(sid)

    if FUZZ_SEED is not None:
        run = seed(int(FUZZ_SEED))(run)
    run()
    FIGURES["failures"] += failures
    assert failures == [], "\n\n".join(failures[:5])
