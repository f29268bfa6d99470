"""Input validation in the contract's shape (SPEC §1.4).

Serializers validate as usual; `parse_body` / `parse_query` turn their errors into the 422
"Invalid parameters" tree, walking the errors together with the fields (for options such as the
maximum) and the raw input (for `value`). Custom validators raise `param_error("invalid_msisdn")`
so that the error key and its options survive DRF's error plumbing.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import orjson
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings

from kit.errors import InvalidParameters
from kit.messages import Code, message_for

_MISSING = object()


def param_error(key: str, **options: Any) -> serializers.ValidationError:
    """A ValidationError whose key and options reach the 422 tree unchanged."""
    return serializers.ValidationError(message_for(key, options), code=Code(key, **options))


def _invalid_key_for(field: serializers.Field | None) -> tuple[str, dict]:
    """The contract key for a DRF `invalid`-style error, by field type (most specific first)."""
    if isinstance(field, serializers.BooleanField):
        return "not_a_boolean", {}
    if isinstance(field, serializers.IntegerField):
        return "not_an_integer", {}
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        return "not_a_number", {}
    if isinstance(field, serializers.EmailField):
        return "invalid_email", {}
    if isinstance(field, serializers.DateTimeField):
        return "invalid_iso_8601_time", {}
    if isinstance(field, serializers.DateField):
        return "invalid", {"format": "YYYY-MM-DD"}
    if isinstance(field, serializers.ListSerializer):
        return "must_be_an_array_of_objects", {}
    if isinstance(field, serializers.BaseSerializer | serializers.DictField | serializers.JSONField):
        return "must_be_an_object", {}
    if isinstance(field, serializers.ListField):
        return "must_be_an_array", {}
    if isinstance(field, serializers.CharField):
        return "invalid", {"format": "string"}
    return "invalid", {}


def _translate(field: serializers.Field | None, code: Any) -> tuple[str, dict]:
    if isinstance(code, Code):
        return str(code), dict(code.options)
    code = str(code) if code else "invalid"
    is_list = isinstance(field, serializers.ListField | serializers.ListSerializer)
    if code == "required":
        return "presence", {}
    if code in ("null", "blank"):
        return "blank", {}
    if code == "unique":
        return "taken", {}
    if code == "invalid_choice":
        return "inclusion", {"in": [str(c) for c in getattr(field, "choices", {})]}
    if code == "max_value":
        return "less_or_equal_to", {"number": field.max_value}
    if code == "min_value":
        return "greater_or_equal_to", {"number": field.min_value}
    if code == "max_length":
        if is_list:
            return "size_too_large", {"number": field.max_length}
        return "too_long", {"max_length": field.max_length}
    if code == "min_length":
        return "size_too_small", {"number": field.min_length}
    if code == "empty":
        return "size_too_small", {"number": 1}
    if code == "not_a_list":
        return (
            "must_be_an_array_of_objects" if isinstance(field, serializers.ListSerializer) else "must_be_an_array"
        ), {}
    if code == "not_a_dict":
        return "must_be_an_object", {}
    if code in ("invalid", "max_string_length", "date", "datetime", "make_aware", "overflow", "parse_error"):
        return _invalid_key_for(field)
    if code in ("null_characters_not_allowed", "surrogate_characters_not_allowed"):
        return "invalid", {"format": "text without NUL or surrogate characters"}
    if code in {"max_digits", "max_decimal_places", "max_whole_digits"}:
        return "not_a_number", {}
    return code, {}


def _leaf(field, detail, value) -> dict:
    key, options = _translate(field, getattr(detail, "code", None))
    return {
        "value": None if value is _MISSING else value,
        "error": key,
        "options": options,
        "message": message_for(key, options),
    }


def _item(data: Any, key: Any) -> Any:
    if isinstance(data, list | tuple):
        try:
            return data[int(key)]
        except (IndexError, ValueError, TypeError):
            return _MISSING
    if isinstance(data, Mapping):
        return data.get(key, data.get(str(key), _MISSING))
    return _MISSING


def build_details(field: serializers.Field | None, errors: Any, data: Any) -> Any:
    """Walk DRF `errors` next to the `field` that produced them and the raw `data`."""
    if isinstance(errors, Mapping):
        nfe = api_settings.NON_FIELD_ERRORS_KEY
        if set(errors) == {nfe} and not isinstance(data, Mapping):
            # The value itself has the wrong shape (e.g. a string where an object belongs).
            return [_leaf(field, d, data) for d in errors[nfe]]
        child = getattr(field, "child", None)
        out: dict = {}
        for key, sub in errors.items():
            if key == nfe:
                out["base"] = [_leaf(field, d, data) for d in sub]
                continue
            if child is not None:
                sub_field = child
            elif isinstance(field, serializers.BaseSerializer) and hasattr(field, "fields"):
                sub_field = field.fields.get(key)
            else:
                sub_field = None
            out[str(key)] = build_details(sub_field, sub, _item(data, key))
        return out
    if isinstance(errors, list | tuple):
        if errors and all(isinstance(e, Mapping) for e in errors):
            # ListSerializer: one error dict per element, empty for valid elements.
            child = getattr(field, "child", None)
            return {str(i): build_details(child, e, _item(data, i)) for i, e in enumerate(errors) if e}
        return [_leaf(field, d, data) for d in errors]
    return [_leaf(field, errors, data)]


# --- The text gate -----------------------------------------------------------------------------------
# NUL and lone surrogates: PostgreSQL stores neither (text nor JSON), UTF-8 cannot encode a surrogate. DRF's
# CharField refuses them in typed fields; free-form JSON (event context, grant properties, extras …) is
# walked here, keys and values at any depth, for every body and query the serializers accepted. A serializer
# whose items are parsed (and refused) one by one, as in a batch answering per item (SPEC §5.3), sets
# `text_gate = False`.

UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")
UNSAFE_TEXT_FORMAT = "text without NUL or surrogate characters"


def _unsafe_leaf(value: str) -> dict:
    options = {"format": UNSAFE_TEXT_FORMAT}
    return {"value": value, "error": "invalid", "options": options, "message": message_for("invalid", options)}


def _has_unsafe_text(data: Any) -> bool:
    """Whether `data` may hold NUL or a lone surrogate: orjson (C) refuses surrogates and writes NUL as
    `\\u0000`, which makes the common, clean case about ten times cheaper than walking it in Python. A string
    holding a backslash and `u0000` — or anything orjson refuses (nesting, huge integers) — is walked."""
    try:
        return b"\\u0000" in orjson.dumps(data)
    except (orjson.JSONEncodeError, TypeError):
        return True


def unsafe_text_details(data: Any) -> dict | None:
    """The 422 tree (mirroring `data`) of every key or string holding NUL or a lone surrogate; None if none.
    Iterative: a deeply nested value cannot exhaust the stack."""
    if not _has_unsafe_text(data):
        return None  # the common case, without building paths
    found: list[tuple[tuple[str, ...], str]] = []
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if UNSAFE_TEXT.search(item):
                found.append((path, item))
        elif isinstance(item, Mapping):
            for key, value in item.items():
                if isinstance(key, str) and UNSAFE_TEXT.search(key):
                    found.append(((*path, key), key))
                else:
                    stack.append(((*path, str(key)), value))
        elif isinstance(item, list | tuple):
            stack.extend(((*path, str(i)), value) for i, value in enumerate(item))
    if not found:
        return None
    details: dict = {}
    for path, value in sorted(found, key=lambda pair: pair[0]):
        path = path or ("body",)
        node = details
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node.setdefault(path[-1], []).append(_unsafe_leaf(value))
    return details


def _text_gate(serializer: serializers.BaseSerializer, data: Any) -> None:
    if getattr(serializer, "text_gate", True):
        details = unsafe_text_details(data)
        if details:
            raise InvalidParameters(details)


def _validate(serializer: serializers.BaseSerializer, data: Any) -> dict:
    if not serializer.is_valid():
        details = build_details(serializer, serializer.errors, data)
        if not isinstance(details, dict):
            details = {"body": details}
        raise InvalidParameters(details)
    _text_gate(serializer, data)
    return serializer.validated_data


# Most requests send an empty body (`{}`) or no query string; validating "nothing" through a serializer
# costs about as much as a primary-key lookup. When the answer to it cannot vary, it is computed once per
# process and context: no callable defaults, and no `validate`/`validate_<field>` methods unless the
# serializer declares `validation_is_pure = True` (they depend on the input and the context only). Field
# validators never run on an absent value.
_NOT_CONSTANT = object()
_EMPTY_RESULTS: dict[tuple, Any] = {}
_BASE_VALIDATE_NAMES = {name for name in dir(serializers.Serializer) if name.startswith("validate")}


def _empty_input_result(serializer_class, context: dict | None = None) -> dict | None:
    """The validated data of an empty input, when it is valid and the same for every request; else None."""
    try:
        key = (serializer_class, tuple(sorted((context or {}).items())))
        hash(key)
    except TypeError:
        return None
    cached = _EMPTY_RESULTS.get(key)
    if cached is None:
        cached = _NOT_CONSTANT
        own_validators = {n for n in dir(serializer_class) if n.startswith("validate")} - _BASE_VALIDATE_NAMES
        pure = not own_validators or getattr(serializer_class, "validation_is_pure", False)
        kwargs = {"context": context} if context else {}
        fields = serializer_class(**kwargs).fields.values()
        if pure and not any(f.default is not empty and callable(f.default) for f in fields):
            serializer = serializer_class(data={}, **kwargs)
            if serializer.is_valid():
                cached = dict(serializer.validated_data)
        if len(_EMPTY_RESULTS) < 1_000:
            _EMPTY_RESULTS[key] = cached
    return None if cached is _NOT_CONSTANT else _data_copy(cached)


_IMMUTABLE = (str, int, float, bool, type(None), Decimal, datetime, date, time, timedelta)


def _data_copy(value: Any) -> Any:
    """`copy.deepcopy` of validated data, with plain dicts, lists and immutable values copied without its memo
    and dispatch (a fifth of an empty-input request's own time); anything else goes to `copy.deepcopy`. Unlike
    it, a list held twice becomes two lists and a cycle would not end: validated data have neither."""
    kind = type(value)
    if kind is dict:
        return {key: _data_copy(item) for key, item in value.items()}
    if kind is list:
        return [_data_copy(item) for item in value]
    if isinstance(value, _IMMUTABLE):
        return value
    return copy.deepcopy(value)


def parse_body(serializer_class, data: Any, **kwargs: Any) -> dict:
    """Validate a JSON body; 422 with the details tree on failure."""
    if set(kwargs) <= {"context"} and isinstance(data, dict) and not data:
        empty = _empty_input_result(serializer_class, kwargs.get("context"))
        if empty is not None:
            return empty
    return _validate(serializer_class(data=data, **kwargs), data)


def query_to_dict(query: QueryDict) -> dict:
    """A plain dict of the query string: `ids[]=1&ids[]=2` and repeated keys become lists."""
    out: dict[str, Any] = {}
    for raw_key in query:
        key = raw_key[:-2] if raw_key.endswith("[]") else raw_key
        values = query.getlist(raw_key)
        if raw_key.endswith("[]") or len(values) > 1 or key in out:
            existing = out.get(key, [])
            if not isinstance(existing, list):
                existing = [existing]
            out[key] = existing + values
        else:
            out[key] = values[-1]
    return out


def _display_query_value(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 19:
        return int(value)
    return value


def parse_query(serializer_class, query: QueryDict, **kwargs: Any) -> dict:
    """Validate query parameters; 422 with the details tree (keyed by parameter name) on failure."""
    if set(kwargs) <= {"context"} and not query:
        empty = _empty_input_result(serializer_class, kwargs.get("context"))
        if empty is not None:
            return empty
    data = query_to_dict(query)
    serializer = serializer_class(data=data, **kwargs)
    if not serializer.is_valid():
        details = build_details(serializer, serializer.errors, data)
        for leaves in details.values():
            if isinstance(leaves, list):
                for leaf in leaves:
                    leaf["value"] = _display_query_value(leaf["value"])
        raise InvalidParameters(details)
    _text_gate(serializer, data)
    return serializer.validated_data


# --- Fields used across the API -------------------------------------------------------------------


class QueryListField(serializers.ListField):
    """A list in the query string: `ids[]=1&ids[]=2`, `ids=1&ids=2` or `ids=1,2`."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = [data]
        if isinstance(data, list):
            data = [part.strip() for item in data for part in str(item).split(",") if part.strip()]
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An integer that refuses booleans and floats with a fraction (JSON `true` is not `1`)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, float) and not data.is_integer()):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A string that refuses numbers, booleans, lists and objects instead of coercing them."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON booleans only in bodies (query strings use BooleanField's string forms)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


def per_page_field(*, maximum: int, default: int) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=maximum, default=default, required=False)


def page_no_field() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=10**9, default=1, required=False)
