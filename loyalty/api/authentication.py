"""Client-token authentication (SPEC §1.2, §2.1) and member Bearer tokens (§2.2)."""

from __future__ import annotations

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication

from kit.api.headers import header
from kit.errors import ClientTokenInvalid, MemberTokenInvalid, MissingHeader, WrongHeader
from loyalty import selectors
from loyalty.api import auth_cache

REQUIRED_HEADERS = ("X-Client-Authorization", "X-User-Agent", "X-Product-Name")


def _header(request, name: str) -> str | None:
    value = header(request, name)
    if value is None:
        return None
    value = value.strip()
    return value or None


class ClientTokenAuthentication(BaseAuthentication):
    """Checks the required headers (470/471), then the client token (401).

    Sets `request.auth` to the ClientToken and `request.club` to the club named by the path (or None
    when the slug is unknown; the view answers 404 after this). A token bound to clubs answers 401 for
    any other slug, known or not, so bound tokens cannot probe which clubs exist.
    """

    required_headers: tuple[str, ...] = REQUIRED_HEADERS

    def client_secret(self, request) -> str | None:
        return _header(request, "X-Client-Authorization")

    def authenticate(self, request):
        secret = self.client_secret(request)
        for name in self.required_headers:
            if (secret if name == "X-Client-Authorization" else _header(request, name)) is None:
                raise MissingHeader(name)
        kwargs = (request.parser_context or {}).get("kwargs", {})
        slug = kwargs.get("lc")
        header_slug = _header(request, "X-Loyalty-Club-Slug")
        if slug is not None and header_slug is not None and header_slug != slug:
            raise WrongHeader("X-Loyalty-Club-Slug")

        token = auth_cache.client_token_get_active(secret=secret)
        if token is None:
            raise ClientTokenInvalid()
        if token.product and token.product != _header(request, "X-Product-Name"):
            raise ClientTokenInvalid()
        club = None
        if slug is not None:
            club = auth_cache.club_find_by_slug(slug=slug)
            if token.loyalty_club_ids is not None and (club is None or club.id not in token.loyalty_club_ids):
                raise ClientTokenInvalid()
        request.club = club
        return (None, token)

    def authenticate_header(self, request):
        return "X-Client-Authorization"


class TokenAdminAuthentication(ClientTokenAuthentication):
    """The token admin API as the published docs call it: the client token may come as `Authorization: <token>`
    (no scheme) when `X-Client-Authorization` is absent, and `X-Product-Name` is optional (the docs' examples
    send neither). A token bound to a product still needs that product's header (401 without it)."""

    required_headers = ("X-Client-Authorization", "X-User-Agent")

    def client_secret(self, request) -> str | None:
        secret = _header(request, "X-Client-Authorization")
        if secret is not None:
            return secret
        fallback = _header(request, "Authorization")
        if fallback is None or " " in fallback:  # `Bearer …` and other schemes are not a client token
            return None
        return fallback


def member_from_bearer(request, *, club) -> object:
    """The member owning the request's Bearer access token in `club`, else 460."""
    scheme, _, secret = header(request, "Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise MemberTokenInvalid("Missing member access token")
    token = selectors.member_access_token_find(secret=secret.strip(), club=club, now=timezone.now())
    if token is None:
        raise MemberTokenInvalid()
    request.member_token = token
    return token.member
