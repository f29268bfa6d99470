"""Fixtures and helpers of the offer tests (the shared ones live in tests/conftest.py)."""

from __future__ import annotations

import pytest

BASE = "/v3/infinity-mall/members"


@pytest.fixture
def ctx_client(api, member_api, member):
    """ctx_client(ctx) -> (client, url prefix) for the "me", "id" or "guest" context of `member`."""

    def _pick(ctx: str):
        if ctx == "me":
            return member_api, f"{BASE}/me"
        if ctx == "id":
            return api, f"{BASE}/{member.id}"
        return api, f"{BASE}/guest"

    return _pick


@pytest.fixture
def emitted(monkeypatch):
    """Webhook events emitted through `webhooks.services.event_emit`, as (type, kwargs)."""
    import webhooks.services

    events: list[tuple[str, dict]] = []
    original = webhooks.services.event_emit

    def _capture(**kwargs):
        events.append((kwargs["type"], kwargs))
        return original(**kwargs)

    monkeypatch.setattr(webhooks.services, "event_emit", _capture)
    return events
