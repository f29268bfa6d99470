"""URL helpers: the member contexts of SPEC §1.7 (`members/me/…`, `members/{member_id}/…`, `members/guest/…`)
and the club's routes resolved once per path (`club_routes`)."""

from __future__ import annotations

from django.urls import URLResolver, path
from django.urls.resolvers import RoutePattern

CONTEXTS = ("me", "id", "guest")


def member_context_paths(suffix: str, view, name: str, contexts: tuple[str, ...] = CONTEXTS) -> list:
    """The same view under each member context; the view reads the context from its `ctx` kwarg."""
    as_view = view.as_view()
    patterns = []
    # Literal segments come before <int:member_id> so `me`/`guest` never reach the id pattern.
    if "me" in contexts:
        patterns.append(path(f"members/me/{suffix}", as_view, {"ctx": "me"}, name=f"{name}-me"))
    if "guest" in contexts:
        patterns.append(path(f"members/guest/{suffix}", as_view, {"ctx": "guest"}, name=f"{name}-guest"))
    if "id" in contexts:
        patterns.append(path(f"members/<int:member_id>/{suffix}", as_view, {"ctx": "id"}, name=f"{name}-id"))
    return patterns


class MemoizedURLResolver(URLResolver):
    """An `include()` that remembers what each path it resolved resolved to.

    Django tries a resolver's patterns in order, each a regular expression, and raises and catches an
    exception for every sub-include that does not match: for the club's couple of hundred routes that was
    several per cent of an API request's CPU. A path resolves to the same view and arguments every time
    (the patterns are fixed once loaded), so a match is kept by path; misses (404s) are not kept, and the
    parent resolver builds a new `ResolverMatch` from the kept one for each request, so nothing a request
    does to its match reaches the next. Bounded: past `entries` paths (ids in paths make them many), the
    memory starts over."""

    def __init__(self, *args, entries: int = 1024, **kwargs):
        super().__init__(*args, **kwargs)
        self._entries = entries
        self._matches: dict[str, object] = {}

    def resolve(self, path):
        path = str(path)
        match = self._matches.get(path)
        if match is None:
            match = super().resolve(path)  # Resolver404 for a miss, never kept
            if len(self._matches) >= self._entries:
                self._matches.clear()
            self._matches[path] = match
        return match


def club_routes(route: str, patterns: list, *, app_name: str | None = None, namespace: str | None = None):
    """`path(route, include((patterns, app_name), namespace=namespace))`, resolved by `MemoizedURLResolver`."""
    return MemoizedURLResolver(RoutePattern(route, is_endpoint=False), patterns, app_name=app_name, namespace=namespace)
