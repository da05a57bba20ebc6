"""Filters (``node.filters.compiler``): the boolean structure of a filter (``must``, ``should``,
``must_not``, ``min_should``, filters as conditions), ``nested``, ``extract_has_id``, and the
format and validation errors of malformed or invalid filters."""

from __future__ import annotations

import pytest

from node.errors import FormatError, ValidationFailed
from node.filters import MATCH_ALL, compile_filter, extract_has_id
from tests.node.filter_helpers import U1, cond, field, matches, ring

# --------------------------------------------------------------------------------------------
# boolean structure


def test_none_and_empty_filters():
    assert compile_filter(None) is None
    assert compile_filter({}) is MATCH_ALL
    for empty in ({"must": []}, {"should": []}, {"must_not": []}, {"must": None}):
        assert matches(empty, {}) is True
    assert matches({"min_should": {"conditions": [], "min_count": 1}}, {}) is True


RED = field("color", match={"value": "red"})
BLUE = field("color", match={"value": "blue"})
BIG = field("size", range={"gte": 10})


def test_must_should_must_not():
    p = {"color": "red", "size": 12}
    assert matches({"must": RED}, p)
    assert matches({"must": [RED, BIG]}, p)
    assert not matches({"must": [RED, BLUE]}, p)
    assert matches({"should": [BLUE, RED]}, p)
    assert not matches({"should": [BLUE]}, p)
    assert matches({"should": RED}, p)
    assert matches({"must_not": BLUE}, p)
    assert not matches({"must_not": [BLUE, RED]}, p)
    assert not matches({"must": RED, "must_not": BIG}, p)
    assert matches({"must": RED, "should": [BLUE, BIG], "must_not": [BLUE]}, p)


def test_min_should():
    p = {"color": "red", "size": 12}
    ms = lambda n: {"min_should": {"conditions": [RED, BLUE, BIG], "min_count": n}}  # noqa: E731
    assert matches(ms(1), p)
    assert matches(ms(2), p)
    assert not matches(ms(3), p)
    assert not matches(ms(4), p)
    assert matches({"min_should": {"conditions": [RED], "min_count": 1}, "must": BIG}, p)


def test_nested_filters_as_conditions():
    p = {"color": "red", "size": 3}
    f = {"should": [{"must": [BLUE, BIG]}, {"must": [RED], "must_not": [BIG]}]}
    assert matches(f, p)
    assert not matches(f, {"color": "red", "size": 30})
    assert matches({"must": [{}]}, p)  # an empty filter as a condition holds
    deep = {"must": {"must": {"must": {"should": [RED]}}}}
    assert matches(deep, p) and not matches(deep, {"color": "blue"})

# --------------------------------------------------------------------------------------------
# nested


def test_nested_same_element():
    p = {
        "country": "x",
        "cities": [
            {"name": "A", "population": 9, "sights": ["museum"]},
            {"name": "B", "population": 1},
        ],
    }
    both = lambda name, pop: {  # noqa: E731
        "nested": {
            "key": "cities",
            "filter": {
                "must": [
                    field("name", match={"value": name}),
                    field("population", range={"gt": pop}),
                ]
            },
        }
    }
    assert cond(both("A", 5), p)
    assert not cond(both("B", 5), p)
    # without nested, conditions may be satisfied by different elements
    loose = {
        "must": [
            field("cities[].name", match={"value": "B"}),
            field("cities[].population", range={"gt": 5}),
        ]
    }
    assert matches(loose, p)
    # key with [] is the same
    assert cond(
        {"nested": {"key": "cities[]", "filter": {"must": [field("name", match={"value": "A"})]}}},
        p,
    )


def test_nested_must_not_and_is_empty_per_element():
    p = {"items": [{"a": 1, "tags": []}, {"a": 2, "tags": ["x"]}]}
    f = lambda inner: {"nested": {"key": "items", "filter": inner}}  # noqa: E731
    assert cond(
        f({"must": [{"is_empty": {"key": "tags"}}], "must_not": [field("a", match={"value": 2})]}),
        p,
    )
    assert not cond(
        f({"must": [{"is_empty": {"key": "tags"}}], "must_not": [field("a", match={"value": 1})]}),
        p,
    )
    assert not cond(
        f({"must": [field("a", match={"value": 1})]}), {"items": {"a": 1}}
    )  # not an array
    assert not cond(f({"must": [field("a", match={"value": 1})]}), {"items": [[{"a": 1}]]})
    assert cond(f({}), p) and not cond(f({}), {"items": []}) and not cond(f({}), {"items": [1]})
    assert not cond(f({}), {"items": [[{"a": 1}]]})  # only objects directly in the array


def test_nested_deep_and_ids_inside():
    p = {"a": [{"b": [{"c": 1}, {"c": 2}]}, {"b": [{"c": 3}]}]}
    inner = {"nested": {"key": "b", "filter": {"must": [field("c", match={"value": 3})]}}}
    assert cond({"nested": {"key": "a", "filter": {"must": [inner]}}}, p)
    assert cond(
        {"nested": {"key": "a[].b", "filter": {"must": [field("c", match={"value": 2})]}}}, p
    )
    # has_id / has_vector never hold inside a nested filter
    ids = {"nested": {"key": "a", "filter": {"must": [{"has_id": [1]}]}}}
    assert not cond(ids, p, point_id=1)
    vec = {"nested": {"key": "a", "filter": {"must": [{"has_vector": "v"}]}}}
    assert not cond(vec, p, vectors={"v"})
    assert cond({"nested": {"key": "a", "filter": {"must_not": [{"has_id": [1]}]}}}, p, point_id=1)


# --------------------------------------------------------------------------------------------
# extract_has_id


def test_extract_has_id():
    assert extract_has_id({"must": [{"has_id": [1, 2, 3]}]}) == {1, 2, 3}
    assert extract_has_id({"must": {"has_id": [U1.upper()]}}) == {U1}
    assert extract_has_id({"must": [{"has_id": [1, 2]}, RED, {"has_id": [2, 3]}]}) == {2}
    assert extract_has_id({"must": [{"must": [{"has_id": [5]}]}]}) == {5}
    assert extract_has_id({"should": [{"has_id": [1]}]}) is None
    assert extract_has_id({"must": [RED]}) is None
    assert extract_has_id(None) is None


# --------------------------------------------------------------------------------------------
# errors

FORMAT_ERRORS = [
    [],
    {"foo": []},
    {"must": 5},
    {"must": [5]},
    {"must": [{"unknown": 1}]},
    {"must": [{"key": 5, "match": {"value": 1}}]},
    {"must": [{"key": "a..b", "match": {"value": 1}}]},
    {"must": [{"key": "a", "match": {"value": 1.5}}]},
    {"must": [{"key": "a", "match": {"value": None}}]},
    {"must": [{"key": "a", "match": {"value": 2**64 - 1}}]},
    {"must": [{"key": "a", "match": {"any": [1, "a"]}}]},
    {"must": [{"key": "a", "match": {"any": [True]}}]},
    {"must": [{"key": "a", "match": {"except": "a"}}]},
    {"must": [{"key": "a", "match": {"substring": "a"}}]},
    {"must": [{"key": "a", "match": "a"}]},
    {"must": [{"key": "a", "range": {"gt": 1, "lt": "2024-01-01"}}]},
    {"must": [{"key": "a", "range": {"gt": True}}]},
    {"must": [{"key": "a", "values_count": {"gt": -1}}]},
    {"must": [{"key": "a", "values_count": {"gt": 1.5}}]},
    {"must": [{"key": "a", "is_empty": "yes"}]},
    {"must": [{"key": "a", "geo_radius": {"center": {"lon": 0, "lat": 0}}}]},
    {"must": [{"key": "a", "geo_polygon": {"exterior": ring((0, 0), (1, 0), (0, 0))}}]},
    {"must": [{"key": "a", "geo_polygon": {"exterior": ring((0, 0), (1, 0), (1, 1), (0, 1))}}]},
    {"must": [{"is_empty": "a"}]},
    {"must": [{"is_null": {"field": "a"}}]},
    {"must": [{"has_id": [-1]}]},
    {"must": [{"has_id": ["not-a-uuid"]}]},
    {"must": [{"has_id": 1}]},
    {"must": [{"has_vector": 1}]},
    {"must": [{"slice": {"total": 0, "index": 0}}]},
    {"must": [{"nested": {"key": "a"}}]},
    {"must": [{"nested": {"key": "a", "filter": {"bad": 1}}}]},
    {"min_should": {"conditions": RED, "min_count": 1}},
    {"min_should": {"conditions": [RED]}},
    {"min_should": {"conditions": [RED], "min_count": -1}},
]


@pytest.mark.parametrize("flt", FORMAT_ERRORS)
def test_format_errors(flt):
    with pytest.raises(FormatError) as err:
        compile_filter(flt)
    assert err.value.message.startswith("Format error in JSON body: ")


def test_error_messages():
    with pytest.raises(FormatError) as err:
        compile_filter({"must": [{"unknown": 1}]})
    assert "Expected some form of condition" in err.value.message
    with pytest.raises(FormatError) as err:
        compile_filter({"foo": 1})
    assert "unknown field `foo`" in err.value.message
    with pytest.raises(FormatError) as err:
        compile_filter({"must": [field("d", range={"gt": "yesterday"})]})
    assert "'yesterday' is not in a supported date/time format" in err.value.message
    with pytest.raises(FormatError) as err:
        compile_filter(
            {"must": [field("g", geo_radius={"center": {"lon": 10, "lat": 100}, "radius": 1})]}
        )
    assert err.value.message == (
        "Format error in JSON body: Wrong format of GeoPoint payload: expected `lat` = 100 "
        "within [-90;90] and `lon` = 10 within [-180;180]"
    )
    with pytest.raises(FormatError) as err:
        compile_filter(
            {
                "must": [
                    field(
                        "g",
                        geo_bounding_box={
                            "top_left": {"lon": -181, "lat": 0},
                            "bottom_right": {"lon": 0, "lat": 0},
                        },
                    )
                ]
            }
        )
    assert "`lon` = -181" in err.value.message
    with pytest.raises(FormatError) as err:
        compile_filter({"must": [field("a.", match={"value": 1})]})
    assert "Invalid json path: 'a.'" in err.value.message


def test_validation_errors():
    with pytest.raises(ValidationFailed) as err:
        compile_filter({"must": [{"key": "a"}]})
    assert err.value.message == (
        "Validation error in JSON body: "
        "[filter.must[0]: At least one field condition must be specified]"
    )
    with pytest.raises(ValidationFailed):
        compile_filter({"should": {"key": "a", "match": None, "range": None}})
    with pytest.raises(ValidationFailed):
        compile_filter({"must": [{"key": "a", "has_id": [1]}]})  # a field condition with only key
    with pytest.raises(ValidationFailed) as err:
        compile_filter({"min_should": {"conditions": [RED], "min_count": 0}})
    assert "min_count: value 0 invalid, must be 1 or larger" in err.value.message
    with pytest.raises(ValidationFailed):
        compile_filter({"must": [{"slice": {"total": 2, "index": 2}}]})
    with pytest.raises(ValidationFailed) as err:
        compile_filter(
            {"must": [{"nested": {"key": "a", "filter": {"must": [{"key": "b"}]}}}]},
            path="query.filter",
        )
    assert "query.filter.must[0].nested.filter.must[0]: At least one" in err.value.message
    # a format error anywhere wins over validation errors
    with pytest.raises(FormatError):
        compile_filter({"must": [{"key": "a"}, {"bad": 1}]})


def test_untagged_condition_fallback():
    # `is_empty` with an object is the is_empty condition even when `key` is present
    c = {"key": "x", "is_empty": {"key": "k"}}
    assert cond(c, {}) and not cond(c, {"k": 1})
    # `null` clauses and parts are absent
    assert matches({"must": None, "should": None, "must_not": None, "min_should": None}, {})
