"""Filters: every condition kind, the edge cases Qdrant defines, errors, and a property test that
compares the compiled predicates with qdrant-client's local mode (Qdrant's own python
reimplementation of the filter semantics) on random payloads and filters."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.datetimes import parse_datetime
from node.errors import FormatError, ValidationFailed
from node.filters import MATCH_ALL, compile_filter, extract_has_id, slice_of, text_tokens
from node.geo import haversine_m

U1 = "550e8400-e29b-41d4-a716-446655440000"
U2 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


def no_vectors(name: str) -> bool:
    return False


def matches(flt, payload, point_id=1, vectors=(), **kw):
    pred = compile_filter(flt, **kw)
    return pred(point_id, payload, lambda name: name in vectors)


def cond(c, payload, **kw):
    """Whether the single condition ``c`` holds for ``payload`` (as must)."""
    return matches({"must": [c]}, payload, **kw)


def field(key, **parts):
    return {"key": key, **parts}


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
# match


@pytest.mark.parametrize(
    "value, payload_value, expected",
    [
        ("red", "red", True),
        ("red", "Red", False),
        ("red", ["blue", "red"], True),
        (1, 1, True),
        (1, True, False),
        (1, 1.0, False),
        (1, "1", False),
        (True, True, True),
        (True, 1, False),
        (False, False, True),
        (False, 0, False),
        (0, False, False),
        (-(2**63), -(2**63), True),
        (2**63 - 1, 2**63 - 1, True),
        (5, [[5]], False),  # arrays are looked into one level only
        ("a", {"a": 1}, False),
        ("a", None, False),
    ],
)
def test_match_value(value, payload_value, expected):
    assert cond(field("k", match={"value": value}), {"k": payload_value}) is expected


def test_match_value_missing_key():
    assert not cond(field("k", match={"value": 1}), {})


def test_match_any():
    c = field("k", match={"any": ["a", "b"]})
    assert cond(c, {"k": "a"}) and cond(c, {"k": ["x", "b"]})
    assert not cond(c, {"k": "c"}) and not cond(c, {}) and not cond(c, {"k": None})
    ci = field("k", match={"any": [1, 2]})
    assert cond(ci, {"k": 2}) and not cond(ci, {"k": 2.0}) and not cond(ci, {"k": True})
    assert not cond(ci, {"k": "1"})
    assert not cond(field("k", match={"any": []}), {"k": "a"})


def test_match_except():
    c = field("k", match={"except": ["a", "b"]})
    assert cond(c, {"k": "c"})
    assert not cond(c, {"k": "a"})
    assert cond(c, {"k": ["a", "z"]})  # at least one value not in the list
    assert not cond(c, {"k": ["a", "b"]})
    assert not cond(c, {})  # missing
    assert not cond(c, {"k": None})  # null
    assert not cond(c, {"k": []})  # empty array
    assert not cond(c, {"k": [None]})
    # values of another type are "not in the list"
    assert cond(c, {"k": 1}) and cond(c, {"k": True}) and cond(c, {"k": {"a": 1}})
    assert cond(c, {"k": [["a"]]})
    ci = field("k", match={"except": [1]})
    assert not cond(ci, {"k": 1}) and cond(ci, {"k": 2}) and cond(ci, {"k": 1.0})
    assert cond(ci, {"k": "1"}) and cond(ci, {"k": 2**64 - 1})
    assert cond(field("k", match={"except": []}), {"k": "anything"})
    # must_not except == "every value is in the list, or there is none"
    assert matches({"must_not": [c]}, {})
    assert matches({"must_not": [c]}, {"k": ["a", "b"]})


def test_match_text_tokens_default():
    c = lambda q: field("t", match={"text": q})  # noqa: E731
    p = {"t": "Hello, World! goodness"}
    assert cond(c("hello"), p)
    assert cond(c("world hello"), p)
    assert not cond(c("good"), p)  # whole words only
    assert not cond(c("hello there"), p)
    assert not cond(c(""), p)
    assert not cond(c("!!"), p)
    assert cond(c("hello"), {"t": ["nope", "HELLO"]})
    assert not cond(c("1"), {"t": 1})


def test_match_text_any_and_phrase_tokens():
    p = {"t": "the quick brown fox"}
    assert cond(field("t", match={"text_any": "slow quick"}), p)
    assert not cond(field("t", match={"text_any": "slow qui"}), p)
    assert not cond(field("t", match={"text_any": ""}), p)
    assert cond(field("t", match={"phrase": "Quick Brown"}), p)
    assert not cond(field("t", match={"phrase": "brown quick"}), p)
    assert not cond(field("t", match={"phrase": "quick fox"}), p)
    assert cond(field("t", match={"phrase": "fox"}), p)


def test_match_text_substring_mode():
    kw = {"unindexed_text": "substring"}
    p = {"t": "Hello goodness"}
    assert cond(field("t", match={"text": "good"}), p, **kw)
    assert not cond(field("t", match={"text": "hello"}), p, **kw)  # case-sensitive
    assert cond(field("t", match={"text": "o g"}), p, **kw)
    assert cond(field("t", match={"phrase": "lo go"}), p, **kw)
    assert cond(field("t", match={"text_any": "xyz ness"}), p, **kw)
    assert not cond(field("t", match={"text_any": "   "}), p, **kw)


def test_text_index_lookup_hook():
    calls = []

    def lookup(key, kind, query):
        calls.append((key, kind, query))
        if key == "t":
            return lambda s: s.endswith(query)
        return None

    f = {
        "must": [
            field("t", match={"text": "xyz"}),
            {
                "nested": {
                    "key": "items",
                    "filter": {"must": [field("title", match={"phrase": "a b"})]},
                }
            },
        ]
    }
    pred = compile_filter(f, lookup)
    assert calls == [("t", "text", "xyz"), ("items[].title", "phrase", "a b")]
    assert pred(1, {"t": "abcxyz", "items": [{"title": "A  B"}]}, no_vectors)
    assert not pred(1, {"t": "xyz abc", "items": [{"title": "A  B"}]}, no_vectors)


def test_text_tokens():
    assert text_tokens("Hello, wORLD_x 42 ünï") == ["hello", "world", "x", "42", "ünï"]


def test_match_prefix():
    c = field("k", match={"prefix": "ab"})
    assert cond(c, {"k": "abc"}) and cond(c, {"k": ["x", "ab"]})
    assert not cond(c, {"k": "Abc"}) and not cond(c, {"k": 12}) and not cond(c, {})
    assert cond(field("k", match={"prefix": ""}), {"k": ""})
    assert not cond(field("k", match={"prefix": ""}), {"k": 1})


# --------------------------------------------------------------------------------------------
# range, datetime range, values_count


@pytest.mark.parametrize(
    "rng, value, expected",
    [
        ({"gt": 1}, 2, True),
        ({"gt": 1}, 1, False),
        ({"gte": 1}, 1, True),
        ({"lt": 1.5}, 1, True),
        ({"lte": 1.5}, 1.5, True),
        ({"lt": 1.5}, 1.5, False),
        ({"gt": 0, "lt": 10}, [20, 5], True),
        ({"gt": 0, "lt": 10}, [20, -5], False),
        ({"gte": 1}, True, False),
        ({"gte": 1}, "5", False),
        ({}, 7, True),  # no bounds: any number
        ({}, "7", False),
        ({"gt": None, "lte": 3}, 3, True),
        ({"gt": 2**53}, 2**53 + 1, False),  # compared as float64
        ({"gte": 0}, 2**64 - 1, True),
    ],
)
def test_range(rng, value, expected):
    assert cond(field("n", range=rng), {"n": value}) is expected


def test_range_missing_and_null():
    assert not cond(field("n", range={"gte": 0}), {})
    assert not cond(field("n", range={"gte": 0}), {"n": None})


@pytest.mark.parametrize(
    "text, iso",
    [
        ("2024-06-15T12:30:00Z", "2024-06-15T12:30:00+00:00"),
        ("2024-06-15t12:30:00z", "2024-06-15T12:30:00+00:00"),
        ("2024-06-15T12:30:00.5+02:00", "2024-06-15T10:30:00.500000+00:00"),
        ("2024-06-15 12:30:00-0130", "2024-06-15T14:00:00+00:00"),
        ("2024-06-15T12:30:00+02", "2024-06-15T10:30:00+00:00"),
        ("2024-06-15 12:30:00 +02:00", "2024-06-15T10:30:00+00:00"),
        ("2024-06-15 12:30:00 UTC", "2024-06-15T12:30:00+00:00"),
        ("2024-06-15T12:30:00", "2024-06-15T12:30:00+00:00"),
        ("2024-06-15 12:30:00.25", "2024-06-15T12:30:00.250000+00:00"),
        ("2024-06-15 12:30", "2024-06-15T12:30:00+00:00"),
        ("2024-06-15", "2024-06-15T00:00:00+00:00"),
    ],
)
def test_parse_datetime_formats(text, iso):
    import datetime as dt

    expected = dt.datetime.fromisoformat(iso)
    ns = parse_datetime(text)
    assert ns is not None
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    assert ns == (expected - epoch) // dt.timedelta(microseconds=1) * 1000


@pytest.mark.parametrize(
    "text",
    [
        "2024-06-15T12:30",
        "2024-06-15 12:30+02:00",
        "2024-13-01",
        "2024-02-30",
        "2024-06-15T25:00:00",
        "2024-06-15Z",
        "15/06/2024",
        "",
        "2024-06-15T12:30:00+25:00",
        "2024-06-15T12:30:00 ",
    ],
)
def test_parse_datetime_rejects(text):
    assert parse_datetime(text) is None


def test_parse_datetime_nanoseconds():
    a = parse_datetime("2024-01-01T00:00:00.123456789Z")
    b = parse_datetime("2024-01-01T00:00:00.123456788Z")
    assert a - b == 1


def test_datetime_range():
    c = field("d", range={"gte": "2024-01-01T00:00:00Z", "lt": "2024-02-01"})
    assert cond(c, {"d": "2024-01-15T10:00:00+05:00"})
    assert cond(c, {"d": "2024-01-01"})
    assert not cond(c, {"d": "2024-02-01T00:00:00Z"})
    assert cond(c, {"d": "2024-02-01T00:00:00+01:00"})  # 23:00 UTC the day before
    assert cond(c, {"d": ["2023-01-01", "2024-01-31 23:59"]})
    assert not cond(c, {"d": "not a date"})
    assert not cond(c, {"d": 1704067200})
    assert not cond(c, {})


def test_values_count():
    vc = lambda **b: field("k", values_count=b)  # noqa: E731
    assert cond(vc(gt=1), {"k": [1, 2]})
    assert not cond(vc(gt=2), {"k": [1, 2]})
    assert cond(vc(gte=2, lte=2), {"k": [1, 2]})
    assert cond(vc(lte=1), {"k": "scalar"})  # a scalar counts 1
    assert cond(vc(gte=1), {"k": {"an": "object"}})
    assert cond(vc(lt=1), {})  # missing counts 0
    assert cond(vc(lt=1), {"k": None})  # null counts 0
    assert cond(vc(lt=1), {"k": []})
    assert not cond(vc(gte=1), {})
    assert cond(vc(gte=0), {})
    assert cond(vc(gt=1), {"k": [[1, 2]]}) is False  # the outer array has one element
    # a key reaching several values: any of them
    assert cond(field("a[].k", values_count={"gte": 2}), {"a": [{"k": 1}, {"k": [1, 2]}]})


# --------------------------------------------------------------------------------------------
# geo

BERLIN = {"lon": 13.404954, "lat": 52.520008}
MOSCOW = {"lon": 37.6173, "lat": 55.7558}


def test_haversine():
    london = (-0.1278, 51.5074)
    d = haversine_m(MOSCOW["lon"], MOSCOW["lat"], *london)
    assert 2_490_000 < d < 2_510_000
    assert haversine_m(1, 2, 1, 2) == 0


def test_geo_bounding_box():
    in_berlin = field(
        "loc",
        geo_bounding_box={
            "top_left": {"lon": 13.08835, "lat": 52.67551},
            "bottom_right": {"lon": 13.76116, "lat": 52.33826},
        },
    )
    assert cond(in_berlin, {"loc": BERLIN})
    assert not cond(in_berlin, {"loc": MOSCOW})
    assert cond(in_berlin, {"loc": [MOSCOW, BERLIN]})
    assert not cond(in_berlin, {"loc": {"lon": "13.4", "lat": 52.5}})
    assert not cond(in_berlin, {"loc": {"lon": 13.08835, "lat": 52.5}})  # edges excluded
    assert not cond(in_berlin, {})


def test_geo_bounding_box_antimeridian():
    box = field(
        "loc",
        geo_bounding_box={
            "top_left": {"lon": 170, "lat": 10},
            "bottom_right": {"lon": -170, "lat": -10},
        },
    )
    assert cond(box, {"loc": {"lon": 179, "lat": 0}})
    assert cond(box, {"loc": {"lon": -175, "lat": 0}})
    assert not cond(box, {"loc": {"lon": 0, "lat": 0}})


def test_geo_radius():
    near = field("loc", geo_radius={"center": {"lon": 13.41, "lat": 52.52}, "radius": 2000.0})
    assert cond(near, {"loc": BERLIN})
    assert not cond(near, {"loc": MOSCOW})
    d = haversine_m(13.41, 52.52, BERLIN["lon"], BERLIN["lat"])
    exact = field("loc", geo_radius={"center": {"lon": 13.41, "lat": 52.52}, "radius": d})
    assert not cond(exact, {"loc": BERLIN})  # strictly inside
    assert not cond(near, {"loc": {"lon": 13.41, "lat": True}})


def _ring(*pts):
    return {"points": [{"lon": x, "lat": y} for x, y in pts]}


def test_geo_polygon():
    square = _ring((0, 0), (10, 0), (10, 10), (0, 10), (0, 0))
    hole = _ring((4, 4), (6, 4), (6, 6), (4, 6), (4, 4))
    poly = field("loc", geo_polygon={"exterior": square, "interiors": [hole]})
    at = lambda x, y: {"loc": {"lon": x, "lat": y}}  # noqa: E731
    assert cond(poly, at(2, 2))
    assert not cond(poly, at(5, 5))  # in the hole
    assert not cond(poly, at(4, 5))  # on the hole's edge
    assert not cond(poly, at(0, 5))  # on the exterior edge
    assert not cond(poly, at(10, 10))  # a vertex
    assert not cond(poly, at(11, 5))
    assert cond(poly, at(9.999, 0.001))
    tri = field("loc", geo_polygon={"exterior": _ring((0, 0), (4, 0), (0, 4), (0, 0))})
    assert cond(tri, at(1, 1)) and not cond(tri, at(3, 3)) and not cond(tri, at(2, 2))


# --------------------------------------------------------------------------------------------
# is_empty / is_null


@pytest.mark.parametrize(
    "payload, empty, null",
    [
        ({}, True, False),
        ({"k": None}, True, True),
        ({"k": []}, True, False),
        ({"k": [None]}, False, True),
        ({"k": [1, None]}, False, True),
        ({"k": [1]}, False, False),
        ({"k": 0}, False, False),
        ({"k": ""}, False, False),
        ({"k": {}}, False, False),
        ({"k": False}, False, False),
    ],
)
def test_is_empty_is_null(payload, empty, null):
    assert cond({"is_empty": {"key": "k"}}, payload) is empty
    assert cond({"is_null": {"key": "k"}}, payload) is null
    assert cond(field("k", is_empty=True), payload) is empty
    assert cond(field("k", is_empty=False), payload) is (not empty)
    assert cond(field("k", is_null=True), payload) is null
    assert cond(field("k", is_null=False), payload) is (not null)


def test_is_empty_is_null_over_several_values():
    p = {"a": [{"b": 1}, {"b": None}, {"d": []}, {"d": []}, {"f": None}]}
    assert not cond({"is_empty": {"key": "a[].b"}}, p)
    assert cond({"is_empty": {"key": "a[].c"}}, p)
    assert cond({"is_empty": {"key": "a[].d"}}, p)
    assert cond({"is_empty": {"key": "a[].f"}}, p)
    assert cond({"is_null": {"key": "a[].b"}}, p)
    assert not cond({"is_null": {"key": "a[].d"}}, p)
    assert cond(field("a[].b", is_empty=True), p)  # the field form: any value empty


# --------------------------------------------------------------------------------------------
# ids, vectors, slices


def test_has_id():
    c = {"has_id": [1, 2, U1.upper(), "{" + U2 + "}"]}
    assert cond(c, {}, point_id=2)
    assert not cond(c, {}, point_id=3)
    assert cond(c, {}, point_id=U1)
    assert cond(c, {}, point_id=U2)
    assert not cond({"has_id": []}, {}, point_id=1)
    assert matches({"must_not": [{"has_id": [1, 2, 3]}]}, {}, point_id=10)
    assert not matches({"must_not": [{"has_id": [1, 2, 3]}]}, {}, point_id=2)


def test_has_vector():
    assert cond({"has_vector": "image"}, {}, vectors={"image"})
    assert not cond({"has_vector": "text"}, {}, vectors={"image"})
    assert cond({"has_vector": ""}, {}, vectors={""})


def test_slice():
    ids = list(range(50)) + [str(uuid.UUID(int=i * 7919 + 1)) for i in range(50)]
    for total in (1, 2, 3, 5):
        for pid in ids:
            hits = [
                i
                for i in range(total)
                if cond({"slice": {"total": total, "index": i}}, {}, point_id=pid)
            ]
            assert hits == [slice_of(pid, total)]
    # slices of total 4 nest inside slices of total 2
    for pid in ids:
        assert slice_of(pid, 4) % 2 == slice_of(pid, 2)
    assert {slice_of(pid, 5) for pid in ids} == set(range(5))


def test_siphash_matches_local_mode():
    from qdrant_client.local.siphash import point_id_slice

    for pid in [0, 1, 7, 2**64 - 1, U1, U2]:
        for total in (2, 7, 1000003):
            assert slice_of(pid, total) == point_id_slice(pid, total)


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
# field condition with several parts


def test_field_condition_parts_are_alternatives():
    c = field("k", match={"value": "x"}, range={"gt": 5})
    assert cond(c, {"k": "x"}) and cond(c, {"k": 10}) and not cond(c, {"k": 1})
    vc = field("k", match={"value": "x"}, values_count={"gt": 5})  # values_count takes precedence
    assert not cond(vc, {"k": "x"})


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
    {"must": [{"key": "a", "geo_polygon": {"exterior": _ring((0, 0), (1, 0), (0, 0))}}]},
    {"must": [{"key": "a", "geo_polygon": {"exterior": _ring((0, 0), (1, 0), (1, 1), (0, 1))}}]},
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


# --------------------------------------------------------------------------------------------
# property test: the compiled predicates agree with qdrant-client's local mode
#
# Where local mode is known to differ from Qdrant, those cases are not generated:
# * a field condition with several parts (`match` + `range`...): Qdrant accepts an element that
#   satisfies any part, local mode uses only the first part present;
# * the field forms `is_empty: bool` / `is_null: bool` over keys reaching several values
#   (`a[].b`): Qdrant checks each value, local mode the key as a whole;
# * `min_should` with no conditions: Qdrant treats it as no constraint (like an empty
#   `should`), local mode as unsatisfiable;
# * datetimes are drawn from formats both parsers read the same way.

from qdrant_client import QdrantClient, models  # noqa: E402

KEYS = ["a", "b", "s", "loc", "dt", "arr", "obj"]
WORDS = ["hello", "World", "foo bar", "Hello, world!", "bar", "x", "", "goodness", "hello-x"]
DATES = [
    "2024-01-01T00:00:00Z",
    "2024-01-01T12:30:00+02:00",
    "2024-01-02",
    "2024-01-01 10:00:00",
    "2024-01-01T10:00:00.5Z",
    "2023-12-31T23:00:00-01:00",
    "2024-02-30",
    "nope",
]
DATE_BOUNDS = [
    "2024-01-01T00:00:00Z",
    "2024-01-01T11:00:00+01:00",
    "2024-01-01",
    "2024-01-02T00:00:00",
]
IDS = [1, 2, 3, 17, 2**63, str(uuid.UUID(int=12345)), str(uuid.UUID(int=2**100 + 7)), 0]

NUMBERS = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.0, 1e20, 2**63, 3.0]))
WORD = st.sampled_from(WORDS)
DATE = st.sampled_from(DATES)
scalars = st.one_of(st.none(), st.booleans(), NUMBERS, WORD, DATE)
geo_points = st.builds(
    lambda lon, lat: {"lon": lon, "lat": lat},
    st.sampled_from([0, 1, 2, 5, 9, 10, -3, 2.5, 0.1, 175]),
    st.sampled_from([0, 1, 2, 5, 9, 10, -3, 2.5, 0.1]),
)
json_values = st.recursive(
    st.one_of(scalars, geo_points),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "s", "arr"]), inner, max_size=3),
    ),
    max_leaves=8,
)


def typed(values):
    """Mostly values of one kind (alone or in a list), sometimes anything."""
    return st.one_of(
        values,
        values,
        st.lists(st.one_of(values, values, scalars), max_size=3),
        scalars,
        json_values,
    )


elements = st.fixed_dictionaries(
    {},
    optional={
        "a": typed(st.one_of(NUMBERS, st.booleans())),
        "b": scalars,
        "s": typed(WORD),
        "arr": st.one_of(
            st.lists(st.fixed_dictionaries({}, optional={"a": NUMBERS, "b": scalars}), max_size=2),
            json_values,
        ),
    },
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "a": typed(st.one_of(NUMBERS, st.booleans())),
        "b": json_values,
        "s": typed(WORD),
        "loc": typed(geo_points),
        "dt": typed(DATE),
        "arr": st.one_of(st.lists(elements, max_size=3), json_values),
        "obj": st.one_of(elements, json_values),
    },
)

SIMPLE_KEYS = ["a", "b", "s", "loc", "dt", "obj.a", "obj.s", "missing", "obj.arr", "arr[0]"]
MULTI_KEYS = ["arr[]", "arr[].a", "obj.arr[].b", "arr[].s", "arr[].arr[]"]
ALL_KEYS = SIMPLE_KEYS + MULTI_KEYS

int_lists = st.lists(st.integers(-3, 3), max_size=3, unique=True)
str_lists = st.lists(WORD, max_size=3, unique=True)


def _bounds(values):
    return st.dictionaries(st.sampled_from(["lt", "gt", "gte", "lte"]), values, max_size=3)


text_matchers = st.one_of(
    st.builds(lambda v: {"value": v}, WORD),
    st.builds(lambda v: {"any": v}, str_lists),
    st.builds(lambda v: {"except": v}, str_lists),
    st.builds(lambda v: {"text": v}, st.sampled_from(WORDS + ["hello world", "o"])),
    st.builds(lambda v: {"text_any": v}, st.sampled_from(WORDS + ["nope hello"])),
    st.builds(lambda v: {"phrase": v}, st.sampled_from(WORDS + ["hello world", "world hello"])),
    st.builds(lambda v: {"prefix": v}, st.sampled_from(["h", "He", "", "foo", "x"])),
)
number_matchers = st.one_of(
    st.builds(lambda v: {"value": v}, st.one_of(st.integers(-3, 3), st.booleans())),
    st.builds(lambda v: {"any": v}, int_lists),
    st.builds(lambda v: {"except": v}, int_lists),
)
number_ranges = _bounds(st.sampled_from([-2, 0, 0.5, 1, 2.0, 3, -1.5]))
date_ranges = _bounds(st.sampled_from(DATE_BOUNDS))
ring_square = [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)]
ring_hole = [(2, 2), (5, 2), (5, 5), (2, 5), (2, 2)]
ring_tri = [(0, 0), (9, 1), (1, 9), (0, 0)]
geo_parts = st.one_of(
    st.builds(
        lambda left, t, r, b: {
            "geo_bounding_box": {
                "top_left": {"lon": left, "lat": t},
                "bottom_right": {"lon": r, "lat": b},
            }
        },
        st.sampled_from([-5, 0, 1, 170]),
        st.sampled_from([10, 5, 2]),
        st.sampled_from([3, 10, -170]),
        st.sampled_from([-5, 0, 1]),
    ),
    st.builds(
        lambda lon, lat, r: {"geo_radius": {"center": {"lon": lon, "lat": lat}, "radius": r}},
        st.sampled_from([0, 1, 5]),
        st.sampled_from([0, 1, 5]),
        st.sampled_from([0.0, 100_000.0, 300_000.0, 1_000_000.0]),
    ),
    st.builds(
        lambda ext, holes: {
            "geo_polygon": {
                "exterior": _ring(*ext),
                "interiors": [_ring(*h) for h in holes],
            }
        },
        st.sampled_from([ring_square, ring_tri]),
        st.sampled_from([[], [ring_hole]]),
    ),
)


def _keyed(keys, parts):
    return st.builds(lambda k, p: {"key": k, **p}, st.sampled_from(keys), parts)


def field_conditions(keys):
    def pick(preferred):
        chosen = [k for k in preferred if k in keys]
        return chosen or keys

    any_part = st.one_of(
        st.builds(lambda m: {"match": m}, st.one_of(text_matchers, number_matchers)),
        st.builds(lambda b: {"range": b}, st.one_of(number_ranges, date_ranges)),
        st.builds(lambda b: {"values_count": b}, _bounds(st.integers(0, 3))),
        geo_parts,
    )
    flags = st.builds(
        lambda k, name, v: {"key": k, name: v},
        st.sampled_from([k for k in keys if "[]" not in k]),
        st.sampled_from(["is_empty", "is_null"]),
        st.booleans(),
    )
    return st.one_of(
        _keyed(
            pick(["s", "b", "obj.s", "arr[].s", "arr[]"]),
            st.builds(lambda m: {"match": m}, text_matchers),
        ),
        _keyed(
            pick(["a", "b", "obj.a", "arr[].a", "arr[0]"]),
            st.builds(lambda m: {"match": m}, number_matchers),
        ),
        _keyed(
            pick(["a", "b", "obj.a", "arr[].a", "missing"]),
            st.builds(lambda r: {"range": r}, number_ranges),
        ),
        _keyed(pick(["dt", "b", "arr[]"]), st.builds(lambda r: {"range": r}, date_ranges)),
        _keyed(pick(["loc", "b", "arr[]"]), geo_parts),
        _keyed(keys, st.builds(lambda b: {"values_count": b}, _bounds(st.integers(0, 3)))),
        _keyed(keys, any_part),
        flags,
    )


def conditions(keys, depth, nested_ok=True):
    base = [
        field_conditions(keys),
        field_conditions(keys),
        field_conditions(keys),
        st.builds(lambda k: {"is_empty": {"key": k}}, st.sampled_from(keys)),
        st.builds(lambda k: {"is_null": {"key": k}}, st.sampled_from(keys)),
        st.builds(
            lambda ids: {"has_id": ids}, st.lists(st.sampled_from(IDS), max_size=3, unique=True)
        ),
        st.builds(lambda n: {"has_vector": n}, st.sampled_from(["v1", "v2", "nope"])),
        st.integers(1, 4).flatmap(
            lambda t: st.builds(
                lambda i: {"slice": {"total": t, "index": i}}, st.integers(0, t - 1)
            )
        ),
    ]
    if depth > 0:
        base.append(filters(keys, depth - 1))
        if nested_ok:
            inner_keys = ["a", "b", "s", "arr", "arr[]", "arr[].a", "arr[0]", "missing"]
            base.append(
                st.builds(
                    lambda k, f: {"nested": {"key": k, "filter": f}},
                    st.sampled_from(["arr", "obj.arr", "arr[]", "arr[].arr", "obj"]),
                    filters(inner_keys, depth - 1),
                )
            )
    return st.one_of(*base)


def clause(cond_strategy):
    return st.one_of(st.none(), cond_strategy, st.lists(cond_strategy, max_size=3))


def filters(keys, depth):
    c = conditions(keys, depth)
    min_should = st.lists(c, min_size=1, max_size=3).flatmap(
        lambda cs: st.builds(
            lambda n: {"conditions": cs, "min_count": n}, st.integers(1, len(cs) + 1)
        )
    )
    full = st.builds(
        lambda must, should, must_not, ms: {
            k: v
            for k, v in (
                ("must", must),
                ("should", should),
                ("must_not", must_not),
                ("min_should", ms),
            )
            if v is not None
        },
        clause(c),
        clause(c),
        clause(c),
        st.one_of(st.none(), st.none(), min_should),
    )
    one_clause = st.builds(
        lambda name, value: {name: value},
        st.sampled_from(["must", "should", "must_not"]),
        st.one_of(c, st.lists(c, max_size=2)),
    )
    return st.one_of(
        one_clause, one_clause, full, st.builds(lambda ms: {"min_should": ms}, min_should)
    )


_client = QdrantClient(":memory:")
_VECTORS = {
    "v1": models.VectorParams(size=2, distance=models.Distance.DOT),
    "v2": models.VectorParams(size=2, distance=models.Distance.DOT),
}


def _vectors_of(i):
    return {"v1": [1.0, 0.0]} if i % 3 == 1 else {"v1": [1.0, 0.0], "v2": [0.0, 1.0]}


def _oracle_ids(points, flt):
    ids = IDS[: len(points)]
    result, _ = _client.scroll(
        "oracle", scroll_filter=models.Filter.model_validate(flt), limit=100, with_payload=False
    )
    return ids, {p.id for p in result}


def _load(points):
    if _client.collection_exists("oracle"):
        _client.delete_collection("oracle")
    _client.create_collection("oracle", vectors_config=_VECTORS)
    _client.upsert(
        "oracle",
        points=[
            models.PointStruct(id=pid, vector=_vectors_of(i), payload=payload)
            for i, (pid, payload) in enumerate(zip(IDS, points, strict=False))
        ],
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=st.lists(payloads, min_size=len(IDS), max_size=len(IDS)),
    conds=st.lists(conditions(ALL_KEYS, 1), min_size=4, max_size=12),
)
def test_single_conditions_agree_with_local_mode(points, conds):
    _load(points)
    vector_names = [set(_vectors_of(i)) for i in range(len(points))]
    for c in conds:
        for flt in ({"must": [c]}, {"must_not": c}):
            pred = compile_filter(flt)
            ids, theirs = _oracle_ids(points, flt)
            ours = {
                pid
                for pid, payload, names in zip(ids, points, vector_names, strict=True)
                if pred(pid, payload, names.__contains__)
            }
            assert ours == theirs, (flt, dict(zip(ids, points, strict=True)))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    points=st.lists(payloads, min_size=1, max_size=len(IDS)),
    flts=st.lists(filters(ALL_KEYS, 2), min_size=1, max_size=4),
)
def test_predicates_agree_with_local_mode(points, flts):
    if _client.collection_exists("oracle"):
        _client.delete_collection("oracle")
    _client.create_collection("oracle", vectors_config=_VECTORS)
    ids = IDS[: len(points)]
    _client.upsert(
        "oracle",
        points=[
            models.PointStruct(id=pid, vector=_vectors_of(i), payload=payload)
            for i, (pid, payload) in enumerate(zip(ids, points, strict=True))
        ],
    )
    vector_names = [set(_vectors_of(i)) for i in range(len(points))]
    for flt in flts:
        pred = compile_filter(flt)
        ours = {
            pid
            for pid, payload, names in zip(ids, points, vector_names, strict=True)
            if pred(pid, payload, names.__contains__)
        }
        result, _ = _client.scroll(
            "oracle",
            scroll_filter=models.Filter.model_validate(flt),
            limit=100,
            with_payload=False,
        )
        theirs = {p.id for p in result}
        assert ours == theirs, (flt, dict(zip(ids, points, strict=True)))
        count = _client.count("oracle", count_filter=models.Filter.model_validate(flt)).count
        assert count == len(ours)


# --------------------------------------------------------------------------------------------
# grid oracle test: every atomic condition against a catalogue of payload values

GRID_VALUES = (
    [None, True, False, 0.5, 1.0, 2.0, -1.5, 1e20, 2**63, 2**64 - 1, -(2**63)]
    + list(range(-3, 4))
    + WORDS
    + ["hello world", "world hello there", "HELLO"]
    + DATES
    + [{"lon": x, "lat": y} for x in (0, 2, 2.5, 5, 10) for y in (0, 1, 2, 5, 10)]
    + [{"lon": 175, "lat": 0}, {"lon": -175, "lat": 1}, {"lon": "1", "lat": 1}, {"lon": 1}]
    + [{}, {"a": 1}, [], [None], [1, None], [1, 2], [0, 3], ["x", "hello"], ["World", "x"]]
    + [[[1]], [True], [1.0], [{"lon": 1, "lat": 1}, {"lon": 20, "lat": 20}]]
    + [["2024-01-01", "nope"], [None, None], [[]], ["x", 1, None, True]]
)
GRID_BOUNDS = [-2, 0, 0.5, 1, 2.0, 3]


def _grid_conditions():
    out = []
    for v in list(range(-3, 4)) + [True, False, "", "x", "hello", "World", "foo bar"]:
        out.append({"match": {"value": v}})
    for lst in ([], [1, 2], [0], [-3, 3], ["x", "hello"], ["World"], [""]):
        out.append({"match": {"any": lst}})
        out.append({"match": {"except": lst}})
    for q in WORDS + ["hello world", "o", "world hello", "nope hello", "HELLO there"]:
        out += [{"match": {"text": q}}, {"match": {"text_any": q}}, {"match": {"phrase": q}}]
    for pre in ["", "h", "He", "foo", "x", "2024"]:
        out.append({"match": {"prefix": pre}})
    for b in GRID_BOUNDS:
        out += [{"range": {op: b}} for op in ("gt", "gte", "lt", "lte")]
    out += [{"range": {}}, {"range": {"gt": 0, "lt": 2}}, {"range": {"gte": 1e20}}]
    for b in DATE_BOUNDS:
        out += [{"range": {op: b}} for op in ("gt", "gte", "lt", "lte")]
    for n in range(4):
        out += [{"values_count": {op: n}} for op in ("gt", "gte", "lt", "lte")]
    out += [{"values_count": {"gte": 1, "lte": 1}}, {"values_count": {}}]
    for box in [(0, 10, 10, 0), (1, 5, 5, 1), (-1, 2.5, 2.5, -1), (170, 10, -170, -10)]:
        left, top, right, bottom = box
        out.append(
            {
                "geo_bounding_box": {
                    "top_left": {"lon": left, "lat": top},
                    "bottom_right": {"lon": right, "lat": bottom},
                }
            }
        )
    for lon, lat, r in [(0, 0, 0.0), (0, 0, 300_000.0), (2, 2, 111_195.0), (5, 5, 1_000_000.0)]:
        out.append({"geo_radius": {"center": {"lon": lon, "lat": lat}, "radius": r}})
    for ext, holes in [(ring_square, []), (ring_square, [ring_hole]), (ring_tri, [])]:
        out.append(
            {"geo_polygon": {"exterior": _ring(*ext), "interiors": [_ring(*h) for h in holes]}}
        )
    out += [{"is_empty": True}, {"is_empty": False}, {"is_null": True}, {"is_null": False}]
    return out


def test_grid_agrees_with_local_mode():
    if _client.collection_exists("grid"):
        _client.delete_collection("grid")
    _client.create_collection("grid", vectors_config=_VECTORS)
    payloads_ = [{"v": value} for value in GRID_VALUES] + [{}, {"w": 1}]
    _client.upsert(
        "grid",
        points=[
            models.PointStruct(id=i, vector={"v1": [1.0, 0.0]}, payload=p)
            for i, p in enumerate(payloads_)
        ],
    )
    conds = [{"key": "v", **part} for part in _grid_conditions()]
    conds += [{"is_empty": {"key": "v"}}, {"is_null": {"key": "v"}}]
    for c in conds:
        for flt in ({"must": [c]}, {"must_not": [c]}):
            pred = compile_filter(flt)
            ours = {i for i, p in enumerate(payloads_) if pred(i, p, no_vectors)}
            result, _ = _client.scroll(
                "grid",
                scroll_filter=models.Filter.model_validate(flt),
                limit=1000,
                with_payload=False,
            )
            theirs = {p.id for p in result}
            diff = sorted(ours ^ theirs)
            assert not diff, (flt, [payloads_[i] for i in diff])
