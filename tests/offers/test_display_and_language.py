"""Display schemas (SPEC §4.8) and the request language (§4.9)."""

import pytest
from rest_framework import serializers

from kit.api.params import parse_body
from kit.errors import InvalidParameters
from offers.display import (
    DEFAULT_DISPLAY_SCHEMAS,
    DisplaySchemasField,
    display_schemas_errors,
    display_schemas_resolve,
    jsonpath_resolves,
)
from offers.texts import request_languages, text_for
from tests.offers.conftest import BASE
from tests.offers.factories import CollectionFactory, OfferFactory

# --- Display schemas --------------------------------------------------------------------------------


def test_defaults_are_name_description_and_stores():
    field = {"type": "reference", "value": "$.name"}
    assert DEFAULT_DISPLAY_SCHEMAS["list"]["header"] == field
    assert display_schemas_resolve(None) == DEFAULT_DISPLAY_SCHEMAS
    assert display_schemas_resolve({"details": {"caption": {"type": "empty", "value": None}}}) == {
        "list": DEFAULT_DISPLAY_SCHEMAS["list"],
        "details": {**DEFAULT_DISPLAY_SCHEMAS["details"], "caption": {"type": "empty", "value": None}},
    }


@pytest.mark.parametrize(
    "path",
    [
        "$.name",
        "$.stores",
        "$.extras.brand",
        "$.extras.deep.er[0]",
        "$.files[0].url",
        "$.images[*].width",
        "$.usage.period.timespan",
        "$.display.read_more.title",
        "$..url",
        '$.files[?(@.kind == "offer_default")].url',
    ],
)
def test_references_into_the_offer_json_are_valid(path):
    assert jsonpath_resolves(path)


@pytest.mark.parametrize(
    "path", ["$.nope", "$.name.first", "$.tags.x", "$.usage.period.start", "name", "$.", "$[", "", None, 5]
)
def test_references_that_do_not_parse_or_resolve_are_invalid(path):
    assert not jsonpath_resolves(path)


def test_validation_reports_every_problem_in_the_contract_tree():
    value = {
        "list": {
            "header": {"type": "reference", "value": "$.nope"},
            "body": {"type": "inline", "value": 5},
            "caption": {"type": "bold", "value": "x"},
        },
        "details": {"footer": {"type": "empty", "value": None}, "body": {"type": "empty", "value": "x"}},
        "grid": {},
    }
    assert display_schemas_errors(value) == {
        "list": {
            "header": {
                "value": [
                    {
                        "value": "$.nope",
                        "error": "invalid",
                        "options": {"format": "JSONPath"},
                        "message": "is in invalid format (JSONPath)",
                    }
                ]
            },
            "body": {
                "value": [
                    {
                        "value": 5,
                        "error": "invalid",
                        "options": {"format": "string"},
                        "message": "is in invalid format (string)",
                    }
                ]
            },
            "caption": {
                "type": [
                    {
                        "value": "bold",
                        "error": "inclusion",
                        "options": {"in": ["reference", "inline", "empty"]},
                        "message": "must be one of: reference, inline, empty",
                    }
                ]
            },
        },
        "details": {
            "footer": [
                {
                    "value": {"type": "empty", "value": None},
                    "error": "unknown_attribute",
                    "options": {},
                    "message": "is not a known attribute",
                }
            ],
            "body": {
                "value": [
                    {
                        "value": "x",
                        "error": "invalid",
                        "options": {"format": "null"},
                        "message": "is in invalid format (null)",
                    }
                ]
            },
        },
        "grid": [{"value": {}, "error": "unknown_attribute", "options": {}, "message": "is not a known attribute"}],
    }
    assert display_schemas_errors(None) == {}
    assert display_schemas_errors(DEFAULT_DISPLAY_SCHEMAS) == {}


class _OfferInput(serializers.Serializer):
    display_schemas = DisplaySchemasField(required=False)


def test_the_serializer_field_renders_the_422_tree_and_cleans_valid_values():
    with pytest.raises(InvalidParameters) as raised:
        parse_body(_OfferInput, {"display_schemas": {"list": {"header": {"type": "reference", "value": "$.x"}}}})
    assert raised.value.details == {
        "display_schemas": {
            "list": {
                "header": {
                    "value": [
                        {
                            "value": "$.x",
                            "error": "invalid",
                            "options": {"format": "JSONPath"},
                            "message": "is in invalid format (JSONPath)",
                        }
                    ]
                }
            }
        }
    }
    cleaned = parse_body(_OfferInput, {"display_schemas": {"list": {"header": {"type": "inline", "value": "Hi"}}}})
    assert cleaned == {"display_schemas": {"list": {"header": {"type": "inline", "value": "Hi"}}}}


# --- Language ---------------------------------------------------------------------------------------


def test_text_for_picks_the_first_wanted_language_then_any():
    texts = {"nb": "Hei", "en": "Hi", "de": "Hallo"}
    assert text_for(texts, ["sv", "en"]) == "Hi"
    assert text_for(texts, ["fi"]) == "Hallo"  # the alphabetically first language
    assert text_for("plain", ["nb"]) == "plain"
    assert text_for(None, ["nb"]) is None
    assert text_for({}, ["nb"]) is None


def test_request_languages_are_locale_then_member_then_club(club, member):
    member.language = "sv"
    assert request_languages(locale="nb-NO", member=member, club=club) == ["nb-NO", "nb", "sv", "en"]
    assert request_languages(locale=None, member=None, club=club) == ["en"]


def test_texts_follow_x_locale_then_member_language_then_club_default(member_api, club, member):
    offer = OfferFactory(
        club=club,
        name={"en": "Shoes", "nb": "Sko", "sv": "Skor"},
        description={"nb": "Billig"},
        activation_texts={"button": {"en": "Activate", "nb": "Aktiver"}},
    )
    url = f"{BASE}/me/offers/{offer.id}"

    def shown(**headers):
        body = member_api.get(url, **headers).json()["offer"]
        return body["name"], body["description"], body["display"]["activation_texts"]["button"]

    assert shown() == ("Shoes", "Billig", "Activate")
    assert shown(HTTP_X_LOCALE="sv") == ("Skor", "Billig", "Activate")
    member.language = "nb"
    member.save(update_fields=["language"])
    assert shown() == ("Sko", "Billig", "Aktiver")
    assert shown(HTTP_X_LOCALE="sv-SE") == ("Skor", "Billig", "Aktiver")


def test_guests_get_the_club_default_language(api, club):
    club.default_language = "nb"
    club.save(update_fields=["default_language"])
    collection = CollectionFactory(club=club, title={"en": "Summer", "nb": "Sommer"})
    offer = OfferFactory(club=club, name={"en": "Shoes", "nb": "Sko"}, collections=[collection])
    assert api.get(f"{BASE}/guest/offers/{offer.id}").json()["offer"]["name"] == "Sko"
    assert api.get(f"{BASE}/guest/offers/meta").json()["collections"][0]["title"] == "Sommer"
