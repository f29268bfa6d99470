from rest_framework.renderers import JSONRenderer


class ContractJSONRenderer(JSONRenderer):
    """Plain UTF-8 JSON, no browsable API."""

    ensure_ascii = False
    charset = None
