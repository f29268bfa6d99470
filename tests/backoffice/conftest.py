"""Back office fixtures: a logged-in superuser and an empty dashboard cache for every test."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_dashboard_cache():
    """The dashboard caches its figures (LocMem in tests): no test may see another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff(client, db):
    """The Django test client, logged in as a superuser."""
    user = User.objects.create_superuser("boss", "boss@example.com", "pw-for-tests")
    client.force_login(user)
    return client
