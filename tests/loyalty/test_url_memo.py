"""The club's routes are resolved once per path (kit.api.routing.MemoizedURLResolver): every route resolves as
Django's own resolver resolves it, a kept match serves the next request of the path, and 404s are not kept."""

from __future__ import annotations

import pytest
from django.urls import Resolver404, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from config import urls
from kit.api.routing import MemoizedURLResolver

PATHS = [
    "/v3/infinity-mall/members/me/offers",
    "/v3/infinity-mall/members/guest/offers",
    "/v3/infinity-mall/members/42/offers/7/use",
    "/v3/infinity-mall/members/me/rewards-program/status",
    "/v3/infinity-mall/members/by_email/a@example.com",
    "/v3/loyalty_clubs/infinity-mall/members/me/offers/7",
    "/v3/infinity-mall/offers",
]


def _plain_resolver() -> URLResolver:
    """The same urlconf with Django's resolvers in place of the memoizing ones."""
    patterns = [
        URLResolver(p.pattern, p.urlconf_name, app_name=p.app_name, namespace=p.namespace)
        if isinstance(p, MemoizedURLResolver)
        else p
        for p in urls.urlpatterns
    ]
    return URLResolver(RoutePattern("/", is_endpoint=False), patterns)


def _facts(match):
    return (
        match.func,
        match.args,
        match.kwargs,
        match.url_name,
        match.route,
        match.namespaces,
        match.captured_kwargs,
        match.extra_kwargs,
    )


@pytest.mark.parametrize("path", PATHS)
def test_a_path_resolves_as_django_resolves_it_first_and_then_from_memory(path):
    plain = _plain_resolver().resolve(path)
    first = get_resolver().resolve(path)
    second = get_resolver().resolve(path)
    assert _facts(first) == _facts(second) == _facts(plain)
    assert first is not second  # the parent builds a new match for each request


def test_the_club_routes_are_memoized():
    memoized = [p for p in urls.urlpatterns if isinstance(p, MemoizedURLResolver)]
    assert [str(p.pattern) for p in memoized] == ["v3/loyalty_clubs/<slug:lc>/", "v3/<slug:lc>/"]
    get_resolver().resolve("/v3/infinity-mall/members/me/offers/12345")
    assert "v3/infinity-mall/members/me/offers/12345" in memoized[1]._matches


def test_a_miss_is_not_kept_and_still_misses():
    resolver = MemoizedURLResolver(RoutePattern("v3/<slug:lc>/", is_endpoint=False), urls.club_patterns)
    for _ in range(2):
        with pytest.raises(Resolver404):
            resolver.resolve("v3/infinity-mall/no-such-route")
    assert resolver._matches == {}


def test_the_memory_is_bounded():
    resolver = MemoizedURLResolver(RoutePattern("v3/<slug:lc>/", is_endpoint=False), urls.club_patterns, entries=3)
    for offer_id in range(10):
        match = resolver.resolve(f"v3/infinity-mall/members/me/offers/{offer_id}")
        assert match.kwargs["offer_id"] == offer_id
        assert len(resolver._matches) <= 3
