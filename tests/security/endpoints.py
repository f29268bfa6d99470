"""Every API operation, enumerated from the URL resolver (never hand-listed), with the permit it requires."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

from loyalty.api.base import LoyaltyAPIView

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    method: str
    route: str  # Django route with converters, e.g. v3/<slug:lc>/members/<int:member_id>/offers
    view: type
    ctx: str | None
    permit: str | None

    @property
    def club_scoped(self) -> bool:
        return "<slug:lc>" in self.route

    @property
    def acts_as_bearer(self) -> bool:
        """Acts on the member of the Bearer token (`/me/` paths and bearer-only views)."""
        return self.ctx == "me" or bool(getattr(self.view, "bearer", False))

    @property
    def names_a_member(self) -> bool:
        return "<int:member_id>" in self.route

    @property
    def writes(self) -> bool:
        return self.method in ("post", "put", "patch", "delete")

    def path(self, *, lc: str, member_id: int, other_id: int = 1, ids: dict[str, int] | None = None) -> str:
        """The URL with `lc`, `member_id`, and each other parameter from `ids` (by name) or `other_id`."""

        def fill(match: re.Match) -> str:
            converter, name = match.group(1), match.group(2)
            if name == "lc":
                return lc
            if name == "member_id":
                return str(member_id)
            if ids and name in ids:
                return str(ids[name])
            return str(other_id) if converter == "int" else "x"

        return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, self.route)

    def __str__(self) -> str:
        return f"{self.method.upper()} /{self.route}" + (f" [{self.ctx}]" if self.ctx else "")


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def api_operations() -> list[Operation]:
    ops = []
    for route, pattern in _walk(get_resolver().url_patterns):
        view = getattr(pattern.callback, "cls", None)
        if view is None or not issubclass(view, LoyaltyAPIView):
            continue
        ctx = pattern.default_args.get("ctx")
        for method in METHODS:
            if not hasattr(view, method):
                continue
            permit = view.permit
            if isinstance(permit, dict):
                permit = permit.get(method.upper()) or permit.get(ctx or "")
            ops.append(Operation(method=method, route=route, view=view, ctx=ctx, permit=permit))
    return ops
