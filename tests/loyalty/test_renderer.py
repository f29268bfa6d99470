"""The orjson renderer writes the very bytes DRF's JSONRenderer writes (clients and stored idempotent
replays must not see a difference)."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer

from kit.api.renderers import ContractJSONRenderer


class DRFRenderer(JSONRenderer):
    ensure_ascii = False
    charset = None


PAYLOADS = [
    {"offers": [{"id": 1, "name": "Kaffe på huset ☕", "liked": False, "usage": None, "tags": []}]},
    {"error": "Invalid parameters", "details": {"body": [ErrorDetail("is not valid", code="invalid")]}},
    {"when": datetime(2024, 6, 1, 12, 30, 15, 123456, tzinfo=UTC), "day": date(2024, 6, 1)},
    {"offset": datetime(2024, 6, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))},
    {"naive": datetime(2024, 6, 1, 12, 30)},
    {"price": Decimal("12.50"), "id": UUID("12345678-1234-5678-1234-567812345678"), "lazy": gettext_lazy("Yes")},
    {1: "integer keys", "nested": {2: [1.5, -0.0, 10**18]}},
    {"separators": "line\u2028and paragraph\u2029end", "control": "tab\there \x00"},
    {"big": 2**70},
    [],
    "plain",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_renderer_writes_the_bytes_drf_writes(payload):
    assert ContractJSONRenderer().render(payload) == DRFRenderer().render(payload)


def test_nothing_renders_as_an_empty_body():
    assert ContractJSONRenderer().render(None) == b""
