"""The contract's parameter-error vocabulary (SPEC §1.4): error keys, their options and messages, and the one
builder of a leaf of the 422 "Invalid parameters" tree."""

from __future__ import annotations

from typing import Any


class Code(str):
    """An error code (one of SPEC §1.4's keys) that carries the ParameterError `options`."""

    options: dict

    def __new__(cls, key: str, **options: Any) -> Code:
        obj = super().__new__(cls, key)
        obj.options = options
        return obj


def message_for(key: str, options: dict) -> str:
    number = options.get("number")
    return {
        "presence": "is missing",
        "blank": "must be filled",
        "inclusion": "must be one of: " + ", ".join(str(v) for v in options.get("in", [])),
        "must_be_an_object": "must be an object",
        "must_be_an_array": "must be an array",
        "must_be_an_array_of_objects": "must be an array of objects",
        "must_have_elements_of_type": f"must have elements of type {options.get('type')}",
        "not_an_integer": "must be an integer",
        "not_a_number": "must be a number",
        "not_a_boolean": "must be a boolean",
        "invalid_msisdn": "is not a valid msisdn",
        "invalid_email": "is not a valid email",
        "invalid_iso_8601_time": "is not a valid ISO 8601 time",
        "attribute_cannot_be_present_with": f"cannot be present with {options.get('with')}",
        "size_too_small": f"size cannot be less than {number}",
        "size_too_large": f"size cannot be greater than {number}",
        "taken": "has already been taken",
        "greater_than": f"must be greater than {number}",
        "greater_or_equal_to": f"must be greater than or equal to {number}",
        "less_than": f"must be less than {number}",
        "less_or_equal_to": f"must be less than or equal to {number}",
        "invalid": f"is in invalid format{' (' + str(options['format']) + ')' if options.get('format') else ''}",
        "too_long": f"is too long (maximum is {options.get('max_length')} characters)",
        "unknown_attribute": "is not a known attribute",
        "not_supported": "is not supported by this service",
    }.get(key, key.replace("_", " "))


def error_leaf(key: str, value: Any = None, *, message: str | None = None, **options: Any) -> dict:
    """One leaf of the 422 tree: `{"value", "error", "options", "message"}`. `message` replaces the key's
    standard one, for rules whose wording the contract gives (`must be after usable_since`)."""
    return {"value": value, "error": key, "options": options, "message": message or message_for(key, options)}
