"""Filters (``node.filters.checks``): the per-value parts of a field condition, with the edge
cases Qdrant defines: ``match`` (value, any, except, text, text_any, phrase, prefix, the text
index hook), number and datetime ``range``, ``values_count`` and the geo conditions."""

from __future__ import annotations

import pytest

from node.datetimes import parse_datetime
from node.filters import compile_filter, text_tokens
from node.geo import haversine_m
from tests.node.filter_helpers import cond, field, matches, no_vectors, ring

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
        ("2024-06-15T12:30", "2024-06-15T12:30:00+00:00"),  # as Qdrant 1.19 reads it
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
        "2024-06-15t12:30",
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



def test_geo_polygon():
    square = ring((0, 0), (10, 0), (10, 10), (0, 10), (0, 0))
    hole = ring((4, 4), (6, 4), (6, 6), (4, 6), (4, 4))
    poly = field("loc", geo_polygon={"exterior": square, "interiors": [hole]})
    at = lambda x, y: {"loc": {"lon": x, "lat": y}}  # noqa: E731
    assert cond(poly, at(2, 2))
    assert not cond(poly, at(5, 5))  # in the hole
    assert not cond(poly, at(4, 5))  # on the hole's edge
    assert not cond(poly, at(0, 5))  # on the exterior edge
    assert not cond(poly, at(10, 10))  # a vertex
    assert not cond(poly, at(11, 5))
    assert cond(poly, at(9.999, 0.001))
    tri = field("loc", geo_polygon={"exterior": ring((0, 0), (4, 0), (0, 4), (0, 0))})
    assert cond(tri, at(1, 1)) and not cond(tri, at(3, 3)) and not cond(tri, at(2, 2))
