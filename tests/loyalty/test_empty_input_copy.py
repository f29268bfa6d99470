"""An empty body or query is validated once per serializer and context (kit.api.params), and each request gets
its own copy of that answer: equal to `copy.deepcopy` of it, sharing no container with it or with another
request's copy."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from rest_framework import serializers

from kit.api.params import _EMPTY_RESULTS, _data_copy, parse_body

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.tuples(st.integers(), st.text(max_size=3)),  # not copied by us: handed to copy.deepcopy
    st.sets(st.integers(), max_size=3),
)
data = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=30,
)


def _containers(value) -> list[int]:
    found = []
    if isinstance(value, dict | list | set):
        found.append(id(value))
        for item in value.values() if isinstance(value, dict) else value:
            found += _containers(item)
    return found


@given(data)
def test_the_copy_equals_a_deep_copy_and_shares_no_container(value):
    copied = _data_copy(value)
    assert copied == copy.deepcopy(value)
    assert type(copied) is type(value)
    assert not set(_containers(copied)) & set(_containers(value))


def test_immutable_values_are_the_same_objects():
    value = {"at": datetime(2030, 1, 1, tzinfo=UTC), "d": date(2030, 1, 1), "t": time(1), "td": timedelta(1)}
    value["n"] = Decimal("1.5")
    copied = _data_copy(value)
    assert all(copied[key] is value[key] for key in value)


class _WithLists(serializers.Serializer):
    tags = serializers.ListField(child=serializers.CharField(), default=[])  # not callable: the answer is cached
    nested = serializers.DictField(default={})
    flag = serializers.BooleanField(default=False)


def test_a_request_that_changes_its_answer_does_not_change_the_next_one():
    first = parse_body(_WithLists, {})
    assert isinstance(_EMPTY_RESULTS[(_WithLists, ())], dict)  # answered from the cache
    first["tags"].append("leaked")
    first["nested"]["x"] = 1
    first["flag"] = True
    assert parse_body(_WithLists, {}) == {"tags": [], "nested": {}, "flag": False}
