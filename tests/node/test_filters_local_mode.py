"""Filters: a property test that compares the compiled predicates with qdrant-client's local mode
(Qdrant's own python reimplementation of the filter semantics) on random payloads and filters,
and a grid test of every atomic condition against a catalogue of payload values."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient, models

from node.filters import compile_filter
from tests.node.filter_helpers import no_vectors, ring

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
                "exterior": ring(*ext),
                "interiors": [ring(*h) for h in holes],
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
            {"geo_polygon": {"exterior": ring(*ext), "interiors": [ring(*h) for h in holes]}}
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
