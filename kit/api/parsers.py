"""JSON-only bodies: any content type is read as JSON, 400 when it isn't, 413 above 1 MiB.

The base view's body gate (kit.api.body) has usually parsed the body already; the parser then hands that
value over. It parses on its own only for requests the gate does not see (views outside the base view)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.parsers import BaseParser

from kit.api.body import PARSED_ATTRIBUTE, json_parse
from kit.errors import BodyTooLarge


class ContractJSONParser(BaseParser):
    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        django_request = getattr(request, "_request", None)
        if django_request is not None and hasattr(django_request, PARSED_ATTRIBUTE):
            return getattr(django_request, PARSED_ATTRIBUTE)
        limit = settings.API_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            declared = 0
        if declared > limit:
            raise BodyTooLarge()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge()
        return json_parse(raw)
