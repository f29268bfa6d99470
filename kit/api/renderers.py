"""The API's JSON renderer: DRF's output, produced by orjson.

Rendering is a visible share of a list request (a page of 100 offers is about 130 kB of JSON): orjson does
it several times faster than `json.dumps` with DRF's encoder. The bytes are the same as DRF's compact,
UTF-8 output: types orjson does not know (Decimal, lazy strings, ...) go through DRF's encoder, U+2028 and
U+2029 are escaped as DRF does, and what orjson refuses (integers beyond 64 bits) or an indented answer
is left to DRF's renderer. Text UTF-8 cannot encode (a lone surrogate, echoed in a 422 tree) is escaped
(`\ud800`, valid JSON that decodes back to what the client sent) rather than failing the answer.
"""

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z
_default = JSONEncoder().default


class ContractJSONRenderer(JSONRenderer):
    """Plain UTF-8 JSON, no browsable API."""

    ensure_ascii = False
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}):
            return self._drf_render(data, accepted_media_type, renderer_context)
        try:
            rendered = orjson.dumps(data, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return self._drf_render(data, accepted_media_type, renderer_context)
        if b"\xe2\x80\xa8" in rendered or b"\xe2\x80\xa9" in rendered:  # as DRF: safe inside <script>
            rendered = rendered.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return rendered

    def _drf_render(self, data, accepted_media_type, renderer_context):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return _EscapingRenderer().render(data, accepted_media_type, renderer_context)


class _EscapingRenderer(JSONRenderer):
    ensure_ascii = True
    charset = None
