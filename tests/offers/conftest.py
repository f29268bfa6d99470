"""Fixtures of the offer tests (the shared ones live in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import make_client

BASE = "/v3/infinity-mall/members"


@pytest.fixture
def id_api(api, member):
    """Helper: the by-member-id context URLs of `member` with the FullAccess client."""
    return api


@pytest.fixture
def guest_api(api):
    return api


@pytest.fixture
def ctx_client(api, member_api, member):
    """ctx_client(ctx) -> (client, url prefix) for "me", "id" or "guest"."""

    def _pick(ctx: str):
        if ctx == "me":
            return member_api, f"{BASE}/me"
        if ctx == "id":
            return api, f"{BASE}/{member.id}"
        return api, f"{BASE}/guest"

    return _pick


__all__ = ["BASE", "make_client"]
