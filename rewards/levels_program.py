"""The LevelsProgram's shape (SPEC §6.2), validated and normalised: one parser for the API and the admin.

Not in `rewards.levels` (the pure rules every service reads): this one parses input with DRF fields.
"""

from __future__ import annotations

import itertools

from rest_framework import serializers

from kit.api.params import StrictCharField, StrictIntegerField, param_error, parse_body
from kit.errors import InvalidParameters


class RewardsLevelInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    points_threshold = StrictIntegerField(min_value=0, max_value=10**15)


class RewardsRegularLevelsInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["regular"])
    levels = RewardsLevelInputSerializer(many=True, allow_empty=False, max_length=100)

    def validate_levels(self, levels):
        thresholds = [level["points_threshold"] for level in levels]
        names = [level["name"] for level in levels]
        if thresholds[0] != 0 or any(a >= b for a, b in itertools.pairwise(thresholds)):
            raise param_error("invalid", format="points_threshold ascending, the first 0")
        if len(set(names)) != len(names):
            raise param_error("invalid", format="unique level names")
        return levels


class RewardsVirtualLevelInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["virtual_level"])
    maximum_points = StrictIntegerField(min_value=1, max_value=10**15)


class RewardsLevelsProgramTypeInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["regular", "virtual_level"])


LEVELS_PROGRAM_SERIALIZERS = {
    "regular": RewardsRegularLevelsInputSerializer,
    "virtual_level": RewardsVirtualLevelInputSerializer,
}


def parse_levels_program(value) -> dict:
    """A LevelsProgram, validated and normalised; 422 with the errors under `levels_program`."""
    try:
        kind = parse_body(RewardsLevelsProgramTypeInputSerializer, value)["type"]
        parsed = parse_body(LEVELS_PROGRAM_SERIALIZERS[kind], value)
    except InvalidParameters as exc:
        raise InvalidParameters({"levels_program": exc.details.get("body", exc.details)}) from None
    if kind == "regular":
        return {"type": "regular", "levels": [dict(level) for level in parsed["levels"]]}
    return {"type": "virtual_level", "maximum_points": parsed["maximum_points"]}
