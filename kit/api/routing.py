"""URL helpers for the member contexts of SPEC §1.7 (`members/me/…`, `members/{member_id}/…`, `members/guest/…`)."""

from __future__ import annotations

from django.urls import path

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
