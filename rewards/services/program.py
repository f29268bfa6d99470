"""Program configuration and achievement rules (SPEC §6.2)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from kit.errors import InvalidParameters
from kit.prepared import PreparedLookup
from loyalty.models import LoyaltyClub
from rewards.models import Achievement, ProgramConfig


def program_config_get(*, club: LoyaltyClub | None = None, club_id: int | None = None) -> ProgramConfig:
    """The club's configuration, created with the defaults on first use (the bootstrap does not create it).
    Concurrent first uses are safe: get_or_create falls back to a read on the unique club."""
    club_id = club.pk if club is not None else club_id
    config = _config_of_club.first(club_id=club_id)  # every earn reads it: the prepared read first
    if config is None:
        config, _ = ProgramConfig.objects.get_or_create(club_id=club_id)
    return config


_config_of_club = PreparedLookup(lambda p: ProgramConfig.objects.filter(club_id=p.club_id))


@transaction.atomic
def program_config_update(*, club: LoyaltyClub, **fields) -> ProgramConfig:
    """Partial update of `points_validity_days`, `reward_activation_time`, `levels_program`. Lots already
    written keep their `expires_at`: a validity change applies to points earned from now on."""
    config = program_config_get(club=club)
    for key, value in fields.items():
        setattr(config, key, value)
    config.save(update_fields=[*fields, "updated_at"])
    return config


def _type_taken(value: str) -> InvalidParameters:
    leaf = {"value": value, "error": "taken", "options": {}, "message": "has already been taken"}
    return InvalidParameters({"achievement": {"type": [leaf]}})


def _frequency_fields(fields: dict) -> dict:
    if "frequency" not in fields:
        return fields
    frequency = fields.pop("frequency")
    fields["frequency_timespan"] = frequency["timespan"] if frequency else None
    fields["frequency_limit"] = frequency["limit"] if frequency else None
    return fields


def achievement_create(*, club: LoyaltyClub, **fields) -> Achievement:
    """A new rule; 422 `taken` on `type` when the club already has a rule of that type (also under races:
    the unique constraint decides)."""
    fields = _frequency_fields(dict(fields))
    if Achievement.objects.filter(club=club, type=fields["type"]).exists():
        raise _type_taken(fields["type"])
    try:
        with transaction.atomic():
            return Achievement.objects.create(club=club, **fields)
    except IntegrityError:
        raise _type_taken(fields["type"]) from None


def achievement_update(*, rule: Achievement, **fields) -> Achievement:
    """Partial update. Past achievement transactions keep their details; limits count transactions by type."""
    fields = _frequency_fields(dict(fields))
    changes_type = "type" in fields and fields["type"] != rule.type
    if changes_type and Achievement.objects.filter(club_id=rule.club_id, type=fields["type"]).exists():
        raise _type_taken(fields["type"])
    for key, value in fields.items():
        setattr(rule, key, value)
    try:
        with transaction.atomic():
            rule.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise _type_taken(fields["type"]) from None
    return rule


@transaction.atomic
def achievement_delete(*, rule: Achievement) -> None:
    """Deletes the rule; transactions it produced stay in the ledger (their details name it)."""
    rule.delete()
