"""Django's browser middlewares (sessions, CSRF, the user, messages) for the pages that need them, and not
for the API.

The API authenticates every request by its headers (client token, member Bearer token): it never reads a
session, a cookie or `request.user`, and DRF's views are exempt from CSRF already (a request carrying no
cookie cannot be forged across sites). Run on an API request those four middlewares only cost time —
building a message storage and a lazy session, reading the CSRF cookie, checking the session and the cookie
again on the way out. The subclasses below skip them for paths under `API_PATH_PREFIXES` and behave as
Django's everywhere else: the admin and the back office keep their sessions, logins, messages and CSRF
checks. They are subclasses, so that the admin's system checks (admin.E408–E410) still find them.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.middleware.csrf import CsrfViewMiddleware as DjangoCsrfViewMiddleware


def api_path_prefixes() -> tuple[str, ...]:
    return tuple(settings.API_PATH_PREFIXES)


class _BrowserOnly:
    """Runs the middleware for every path except the API's; read once, when the middleware is built."""

    def __init__(self, get_response):
        super().__init__(get_response)
        self.api_prefixes = api_path_prefixes()

    def __call__(self, request):
        if request.path_info.startswith(self.api_prefixes):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_BrowserOnly, DjangoSessionMiddleware):
    pass


class AuthenticationMiddleware(_BrowserOnly, DjangoAuthenticationMiddleware):
    pass


class MessageMiddleware(_BrowserOnly, DjangoMessageMiddleware):
    pass


class CsrfViewMiddleware(_BrowserOnly, DjangoCsrfViewMiddleware):
    def process_view(self, request, callback, callback_args, callback_kwargs):
        if request.path_info.startswith(self.api_prefixes):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)
