"""Filtering offers by their free-form `extras` (published `extras[<key>]=<value>` query parameters)."""

from __future__ import annotations

from django.db.models import Q


def _json_candidates(text: str) -> list:
    """What a query-string value may stand for inside a JSON object: always the string itself, and the number
    or boolean it spells (`extras[floor]=2` finds `{"floor": 2}` as well as `{"floor": "2"}`)."""
    candidates: list = [text]
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        candidates.append(lowered == "true")
    else:
        try:
            number: int | float | None = int(text)
            if not -(2**63) <= number < 2**63:
                number = None
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = None
            if number is not None and (number != number or abs(number) == float("inf")):  # NaN, infinities
                number = None
        if number is not None:
            candidates.append(number)
    return candidates


def extras_q(extras: dict[str, list[str]]) -> Q:
    """Offers whose `extras[key]` equals one of the values, for every key given (AND across keys, OR within)."""
    condition = Q()
    for key, values in extras.items():
        any_value = Q()
        for value in values:
            for candidate in _json_candidates(value):
                any_value |= Q(**{f"extras__{key}": candidate})
        condition &= any_value
    return condition
