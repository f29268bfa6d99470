"""Display schemas (SPEC §4.8): defaults, resolution of what is stored, and validation for writers.

`display_schemas_resolve(stored)` gives the member API's `display.schemas`; `display_schemas_errors(value)`
returns the 422 details tree (empty when valid) and `DisplaySchemasField` wraps it for input serializers,
so the management API validates exactly as documented here.
"""

from __future__ import annotations

import copy
from typing import Any

from jsonpath_ng import jsonpath
from jsonpath_ng.ext import parse as jsonpath_parse
from jsonpath_ng.ext.filter import Filter
from rest_framework import serializers

from kit.messages import Code, error_leaf

SCHEMA_NAMES = ("list", "details")
FIELD_NAMES = ("header", "body", "caption")
FIELD_TYPES = ("reference", "inline", "empty")

DEFAULT_FIELDS: dict[str, dict[str, Any]] = {
    "header": {"type": "reference", "value": "$.name"},
    "body": {"type": "reference", "value": "$.description"},
    "caption": {"type": "reference", "value": "$.stores"},
}
DEFAULT_DISPLAY_SCHEMAS: dict[str, dict[str, dict[str, Any]]] = {
    name: copy.deepcopy(DEFAULT_FIELDS) for name in SCHEMA_NAMES
}


class _Any:
    """Marks a free-form object (`extras`): every path below it resolves."""


ANY = _Any()
_FILE = {"url": str, "width": int, "height": int, "kind": str, "size_type": str}

# The shape of the member API's Offer JSON (SPEC §4.2): what a `reference` may point at.
OFFER_JSON_SHAPE: dict[str, Any] = {
    "id": int,
    "name": str,
    "type": str,
    "description": str,
    "external_url": str,
    "usable_since": str,
    "usable_until": str,
    "collection_ids": [int],
    "tags": [str],
    "stores": [str],
    "files": [_FILE],
    "images": [_FILE],
    "liked": bool,
    "usage": {
        "usable": bool,
        "max_uses": int,
        "uses_left": int,
        "active_until": str,
        "period": {"timespan": str, "max_uses": int, "uses_left": int},
    },
    "usage_authorization_token_required": bool,
    "extras": ANY,
    "display": {
        "schemas": ANY,
        "read_more": {"button_title": str, "url": str, "title": str, "text": str},
        "activation_texts": {"modal": str, "button": str, "description": str},
    },
}


def display_schemas_resolve(stored: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """The full `{list, details}` schemas: what was stored, with defaults for anything not set."""
    if not stored or not isinstance(stored, dict):  # most offers: every field its default
        return {name: {field: dict(value) for field, value in DEFAULT_FIELDS.items()} for name in SCHEMA_NAMES}
    resolved = {}
    for name in SCHEMA_NAMES:
        schema = stored.get(name) if isinstance(stored.get(name), dict) else {}
        resolved[name] = {
            field: (
                {"type": schema[field].get("type"), "value": schema[field].get("value")}
                if isinstance(schema.get(field), dict)
                else dict(DEFAULT_FIELDS[field])
            )
            for field in FIELD_NAMES
        }
    return resolved


# --- JSONPath -------------------------------------------------------------------------------------


def _children(node: Any) -> list[Any]:
    if node is ANY:
        return [ANY]
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return list(node)
    return []


def _descendants(node: Any) -> list[Any]:
    out = [node]
    for child in _children(node):
        out += _descendants(child) if child is not ANY else [ANY]
    return out


def _walk(path: Any, nodes: list[Any]) -> list[Any]:
    """The shape nodes `path` can reach from `nodes` (empty: it resolves to nothing)."""
    if isinstance(path, jsonpath.Root):
        return [OFFER_JSON_SHAPE]
    if isinstance(path, jsonpath.This):
        return nodes
    if isinstance(path, jsonpath.Child):
        return _walk(path.right, _walk(path.left, nodes))
    if isinstance(path, jsonpath.Descendants):
        reached = [d for node in _walk(path.left, nodes) for d in _descendants(node)]
        return _walk(path.right, reached)
    if isinstance(path, jsonpath.Fields):
        out = []
        for node in nodes:
            if node is ANY:
                out.append(ANY)
            elif isinstance(node, dict):
                for name in path.fields:
                    out += list(node.values()) if name == "*" else ([node[name]] if name in node else [])
        return out
    if isinstance(path, jsonpath.Wildcard):
        return [child for node in nodes for child in _children(node)]
    if isinstance(path, jsonpath.Index | jsonpath.Slice):
        return [child for node in nodes if node is ANY or isinstance(node, list) for child in _children(node)]
    if isinstance(path, Filter):
        # A filter keeps the elements of an array that match; whether any match depends on the data.
        return [child for node in nodes if node is ANY or isinstance(node, list) for child in _children(node)]
    return []


def jsonpath_resolves(value: Any) -> bool:
    """True iff `value` is a syntactically valid JSONPath that can reach something in the Offer JSON."""
    if not isinstance(value, str) or not value.strip().startswith("$"):
        return False
    try:
        parsed = jsonpath_parse(value)
    except Exception:  # JsonPathParserError, JsonPathLexerError, and plain Exceptions from the lexer
        return False
    return bool(_walk(parsed, []))


# --- Validation -----------------------------------------------------------------------------------


def _leaf(value: Any, key: str, **options: Any) -> list[dict]:
    return [error_leaf(key, value, **options)]


def display_schemas_errors(value: Any) -> dict | list:
    """The 422 details for a `display_schemas` value (SPEC §1.4 shape); empty when it is valid.
    null means "the defaults"; schemas and fields left out take their defaults."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        return _leaf(value, "must_be_an_object")
    errors: dict[str, Any] = {}
    for name, schema in value.items():
        if name not in SCHEMA_NAMES:
            errors[name] = _leaf(schema, "unknown_attribute")
            continue
        if not isinstance(schema, dict):
            errors[name] = _leaf(schema, "must_be_an_object")
            continue
        schema_errors: dict[str, Any] = {}
        for field, spec in schema.items():
            if field not in FIELD_NAMES:
                schema_errors[field] = _leaf(spec, "unknown_attribute")
                continue
            field_errors = _field_errors(spec)
            if field_errors:
                schema_errors[field] = field_errors
        if schema_errors:
            errors[name] = schema_errors
    return errors


def _field_errors(spec: Any) -> dict | list:
    if not isinstance(spec, dict):
        return _leaf(spec, "must_be_an_object")
    errors: dict[str, Any] = {}
    for key in spec:
        if key not in ("type", "value"):
            errors[key] = _leaf(spec[key], "unknown_attribute")
    kind, value = spec.get("type"), spec.get("value")
    if "type" not in spec:
        errors["type"] = _leaf(None, "presence")
    elif kind not in FIELD_TYPES:
        errors["type"] = _leaf(kind, "inclusion", **{"in": list(FIELD_TYPES)})
    elif kind == "reference" and not jsonpath_resolves(value):
        errors["value"] = _leaf(value, "invalid", format="JSONPath")
    elif kind == "inline" and not isinstance(value, str):
        errors["value"] = _leaf(value, "invalid", format="string")
    elif kind == "empty" and value is not None:
        errors["value"] = _leaf(value, "invalid", format="null")
    return errors


def display_schemas_clean(value: Any) -> dict | None:
    """A valid value as stored: only the known keys (call after `display_schemas_errors` found nothing)."""
    if value is None:
        return None
    return {
        name: {field: {"type": spec["type"], "value": spec.get("value")} for field, spec in schema.items()}
        for name, schema in value.items()
    }


def _to_drf(errors: dict | list) -> Any:
    """The details tree as DRF error details whose codes carry the contract's keys and options."""
    if isinstance(errors, list):
        return [
            serializers.ErrorDetail(leaf["message"], code=Code(leaf["error"], **leaf["options"])) for leaf in errors
        ]
    return {key: _to_drf(sub) for key, sub in errors.items()}


class DisplaySchemasField(serializers.JSONField):
    """Input field for `display_schemas`, reporting errors in the contract's tree."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        errors = display_schemas_errors(data)
        if errors:
            raise serializers.ValidationError(_to_drf(errors))
        return display_schemas_clean(data)
