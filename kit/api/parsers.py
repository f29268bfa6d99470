"""JSON-only bodies: any content type is read as JSON, 400 when it isn't, 413 above 1 MiB."""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework.parsers import BaseParser

from kit.errors import BodyTooLarge, InvalidJSON


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class ContractJSONParser(BaseParser):
    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            declared = 0
        if declared > limit:
            raise BodyTooLarge()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise InvalidJSON() from exc
