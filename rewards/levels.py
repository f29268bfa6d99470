"""Levels programs (SPEC §6.2): `regular` levels by lifetime points, or a presentational `virtual_level`."""

from __future__ import annotations


def regular_levels(levels_program: dict | None) -> list[dict]:
    """The levels of a regular program in ascending threshold order; [] for none or a virtual level."""
    if not levels_program or levels_program.get("type") != "regular":
        return []
    return sorted(levels_program.get("levels") or [], key=lambda level: level["points_threshold"])


def level_for(levels_program: dict | None, *, lifetime_points: int) -> str | None:
    """The highest regular level whose threshold is <= lifetime points; None without a regular program."""
    name = None
    for level in regular_levels(levels_program):
        if level["points_threshold"] <= lifetime_points:
            name = level["name"]
    return name


def level_reached(levels_program: dict | None, *, required: str | None, lifetime_points: int) -> bool:
    """Does a member with these lifetime points hold the `required` level (or a higher one)?

    A requirement naming no level of the current regular program cannot be met (fail closed: a renamed
    level must not open a reward to everyone)."""
    if not required:
        return True
    for level in regular_levels(levels_program):
        if level["name"] == required:
            return lifetime_points >= level["points_threshold"]
    return False
