"""Member attribute normalizers: pure functions, no database, no services (a leaf every layer may import).

The API, the admin, the CSV import and the OAuth password grant all read an email or an msisdn through
these, so "+47 407 69 126" and "004740769126" are one member wherever they are typed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from kit.messages import error_leaf
from loyalty.models import Member

PROPERTY_FIELDS = ("email", "msisdn", "first_name", "last_name", "birthday", "language")
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128  # hashing is deliberately slow; unbounded input would be a cheap DoS

_MSISDN_SHAPE = re.compile(r"(?:\+|00)?[ .\-]*[0-9](?:[ .\-]*[0-9])*", re.ASCII)


def msisdn_normalize(value: str) -> str:
    """E.164 digits only (SPEC §1.6). Accepts a leading `+` or `00` and spaces, dots or dashes between digits.
    Raises ValueError for anything else, for fewer than 8 or more than 15 digits, and for a number starting
    with 0 after the prefix (no country code starts with 0: that is a national number, not E.164)."""
    text = value.strip()
    if not _MSISDN_SHAPE.fullmatch(text):
        raise ValueError("not an msisdn")
    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("00"):
        digits = digits[2:]
    if not 8 <= len(digits) <= 15 or digits.startswith("0"):
        raise ValueError("not an msisdn")
    return digits


def email_normalize(value: str) -> str:
    """The address without surrounding blanks, as the member typed it (case is kept; comparisons ignore it).
    Raises ValueError when it is not a valid address."""
    text = value.strip()
    if len(text) > Member._meta.get_field("email").max_length:
        raise ValueError("too long")
    try:
        validate_email(text)
    except DjangoValidationError:
        raise ValueError("not an email") from None
    return text


def member_attributes_normalize(changes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict]]]:
    """Normalise member attributes and check their formats, without touching the database.
    Returns `(cleaned, errors)`. Blank strings in properties mean "none"; the password is never echoed back
    in an error (`value` null)."""
    cleaned = dict(changes)
    errors: dict[str, list[dict]] = {}
    for field in PROPERTY_FIELDS:
        if isinstance(cleaned.get(field), str) and not cleaned[field].strip():
            cleaned[field] = None
    for field, normalize, key in (
        ("email", email_normalize, "invalid_email"),
        ("msisdn", msisdn_normalize, "invalid_msisdn"),
    ):
        value = cleaned.get(field)
        if value is None:
            continue
        try:
            cleaned[field] = normalize(value)
        except ValueError:
            errors[field] = [error_leaf(key, value)]
    for field in ("first_name", "last_name", "language"):
        value = cleaned.get(field)
        max_length = Member._meta.get_field(field).max_length
        if isinstance(value, str) and len(value) > max_length:
            errors[field] = [error_leaf("too_long", value, max_length=max_length)]
    password = cleaned.get("password")
    if password is not None:
        if len(password) < PASSWORD_MIN_LENGTH:
            errors["password"] = [error_leaf("size_too_small", None, number=PASSWORD_MIN_LENGTH)]
        elif len(password) > PASSWORD_MAX_LENGTH:
            errors["password"] = [error_leaf("size_too_large", None, number=PASSWORD_MAX_LENGTH)]
    return cleaned, errors
