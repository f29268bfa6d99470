"""SPEC §1.4: the 422 "Invalid parameters" tree mirrors the payload, lists keyed by index."""

from rest_framework import serializers

from kit.api.params import StrictIntegerField, param_error, parse_body, parse_query, query_to_dict
from kit.errors import InvalidParameters


def test_a_nested_error_mirrors_the_payload_shape_with_value_error_options_and_message(api):
    response = api.put(
        "/v3/infinity-mall",
        {"loyalty_club": {"activated_seconds_time": -5, "offers_enabled": "yes"}},
        format="json",
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {
            "loyalty_club": {
                "activated_seconds_time": [
                    {
                        "value": -5,
                        "error": "greater_or_equal_to",
                        "options": {"number": 0},
                        "message": "must be greater than or equal to 0",
                    }
                ],
                "offers_enabled": [
                    {"value": "yes", "error": "not_a_boolean", "options": {}, "message": "must be a boolean"}
                ],
            }
        },
    }


def test_list_elements_are_keyed_by_their_index_as_a_string(api):
    response = api.put("/v3/infinity-mall", {"loyalty_club": {"usage_authorization_tokens": ["ok", 7]}}, format="json")
    assert response.status_code == 422
    assert response.json()["details"] == {
        "loyalty_club": {
            "usage_authorization_tokens": {
                "1": [
                    {
                        "value": 7,
                        "error": "invalid",
                        "options": {"format": "string"},
                        "message": "is in invalid format (string)",
                    }
                ]
            }
        }
    }


def test_a_missing_wrapper_object_is_reported_as_presence(api):
    response = api.put("/v3/infinity-mall", {}, format="json")
    assert response.json()["details"] == {
        "loyalty_club": [{"value": None, "error": "presence", "options": {}, "message": "is missing"}]
    }


def test_a_string_where_an_object_belongs_is_must_be_an_object(api):
    response = api.put("/v3/infinity-mall", {"loyalty_club": "abc"}, format="json")
    assert response.json()["details"] == {
        "loyalty_club": [{"value": "abc", "error": "must_be_an_object", "options": {}, "message": "must be an object"}]
    }


def test_a_per_page_above_the_maximum_is_less_or_equal_to_with_the_number(api):
    response = api.get("/v1/tokens", {"per_page": 5000})
    assert response.status_code == 422
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {
            "per_page": [
                {
                    "value": 5000,
                    "error": "less_or_equal_to",
                    "options": {"number": 20},
                    "message": "must be less than or equal to 20",
                }
            ]
        },
    }


def test_a_per_page_below_one_is_greater_or_equal_to(api):
    response = api.get("/v1/tokens", {"per_page": 0})
    assert response.json()["details"]["per_page"][0]["error"] == "greater_or_equal_to"


def test_a_non_numeric_page_is_not_an_integer(api):
    response = api.get("/v1/tokens", {"page_no": "two"})
    assert response.json()["details"]["page_no"][0] == {
        "value": "two",
        "error": "not_an_integer",
        "options": {},
        "message": "must be an integer",
    }


class _Item(serializers.Serializer):
    qty = StrictIntegerField(max_value=10)


class _Order(serializers.Serializer):
    items = _Item(many=True)
    note = serializers.CharField(required=False)

    def validate_note(self, value):
        if value == "bad":
            raise param_error("attribute_cannot_be_present_with", **{"with": "items"})
        return value


def test_list_of_objects_errors_name_only_the_failing_index_and_keep_custom_options():
    try:
        parse_body(_Order, {"items": [{"qty": 1}, {"qty": 11}, {"qty": True}], "note": "bad"})
    except InvalidParameters as exc:
        details = exc.details
    else:
        raise AssertionError("expected InvalidParameters")
    assert details == {
        "items": {
            "1": {
                "qty": [
                    {
                        "value": 11,
                        "error": "less_or_equal_to",
                        "options": {"number": 10},
                        "message": "must be less than or equal to 10",
                    }
                ]
            },
            "2": {"qty": [{"value": True, "error": "not_an_integer", "options": {}, "message": "must be an integer"}]},
        },
        "note": [
            {
                "value": "bad",
                "error": "attribute_cannot_be_present_with",
                "options": {"with": "items"},
                "message": "cannot be present with items",
            }
        ],
    }


def test_a_non_list_where_objects_belong_is_must_be_an_array_of_objects():
    try:
        parse_body(_Order, {"items": "nope"})
    except InvalidParameters as exc:
        assert exc.details["items"][0]["error"] == "must_be_an_array_of_objects"
    else:
        raise AssertionError("expected InvalidParameters")


def test_a_body_that_is_not_an_object_is_reported_under_body():
    try:
        parse_body(_Order, [1, 2])
    except InvalidParameters as exc:
        assert exc.details["body"][0]["error"] == "must_be_an_object"
    else:
        raise AssertionError("expected InvalidParameters")


def test_query_arrays_are_read_in_all_three_forms():
    from django.http import QueryDict

    from kit.api.params import QueryListField

    class Q(serializers.Serializer):
        ids = QueryListField(child=serializers.IntegerField())

    for raw in ("ids[]=1&ids[]=2", "ids=1&ids=2", "ids=1,2"):
        assert parse_query(Q, QueryDict(raw))["ids"] == [1, 2], raw
    assert query_to_dict(QueryDict("a=1&b[]=2")) == {"a": "1", "b": ["2"]}


def test_a_nul_character_in_a_string_is_an_invalid_format_from_the_contract_list(api):
    response = api.put("/v3/infinity-mall", {"loyalty_club": {"name": "bad\x00name"}}, format="json")
    assert response.status_code == 422
    leaf = response.json()["details"]["loyalty_club"]["name"][0]
    assert leaf["error"] == "invalid"
    assert leaf["options"] == {"format": "text without NUL or surrogate characters"}
