"""Property test: random filters over random payloads, the server against a reference evaluator.

Two collections hold the same ~200 generated points (integer and UUID ids, named vectors ``a``
on every point and ``b`` on most, payloads with nested objects, arrays, nulls, mixed types, geo
points and datetimes). One has no payload index; the other has keyword / integer / float / bool /
geo / text / datetime / uuid indexes on the typed keys. Hypothesis generates filters over every
condition kind, nested in must / should / must_not / min_should, and for both collections the
server's ``scroll`` (every page), ``count`` and exact ``query`` must return exactly what
``tests.support.reference_filter`` computes.

The payloads are generated once per module from a fixed seed (``TESSERA_FILTER_SEED`` overrides
it). The indexed keys only hold values of their index's type (or null, [], arrays of distinct
values, nothing), so the answer does not depend on how an index treats foreign values; the
unindexed keys (``mixed``, ``note``, ``when``, ``where``, ``items``...) hold anything.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import uuid
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import models

from tests.e2e.conftest import unique_name
from tests.support import api, oracle
from tests.support import reference_filter as ref

SEED = int(os.environ.get("TESSERA_FILTER_SEED", "1919"))
N_POINTS = 200
PAGE = 70  # scroll page size: several pages for unselective filters
MAX_QUERY = 50
VECTORS = {"a": {"size": 4, "distance": "Cosine"}, "b": {"size": 3, "distance": "Dot"}}

COLORS = ["red", "green", "blue", "Red", "yellow", "black", "café", "", "navy blue"]
NAMES = ["apple", "banana", "cherry", "Apple", "date"]
TAGS = ["x", "y", "z", "new", "old"]
VOCAB = [
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "Qdrant",
    "vector",
    "search",
    "red",
    "Fox",
    "DOG",
    "café",
    "x1",
    "42",
]
MIXED_STRINGS = ["1", "red", "true", "Red", "apple pie", ""]
# (lon, lat) centres the geo points cluster around; two sit next to the antimeridian
CLUSTERS = [(13.4, 52.5), (-74.0, 40.7), (179.0, -17.0), (151.2, -33.9), (-179.5, 60.0)]
DT_START = dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc)
DT_SPAN_S = 3 * 365 * 86_400

INDEXES = {
    "color": "keyword",
    "count": "integer",
    "price": "float",
    "flag": "bool",
    "loc": "geo",
    "title": {"type": "text", "tokenizer": "word", "lowercase": True, "phrase_matching": True},
    "ts": "datetime",
    "uid": "uuid",
    "meta.level": "integer",
}

_MISSING = object()


# ------------------------------------------------------------------------------ the data set


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.uids = [str(uuid.UUID(int=self.rng.getrandbits(128), version=4)) for _ in range(8)]

    def shaped(self, one, *, missing=0.1, null=0.05, empty=0.05, array=0.2, max_len=3):
        """A scalar from ``one()``, or an array of distinct ones, null, [] or nothing."""
        r = self.rng.random()
        if r < missing:
            return _MISSING
        r -= missing
        if r < null:
            return None
        r -= null
        if r < empty:
            return []
        r -= empty
        if r < array:
            out: list = []
            for _ in range(self.rng.randint(1, max_len)):
                v = one()
                if v not in out:
                    out.append(v)
            return out
        return one()

    def geo(self) -> dict:
        lon0, lat0 = self.rng.choice(CLUSTERS)
        lon = lon0 + self.rng.uniform(-6, 6)
        if lon > 180:
            lon -= 360
        if lon < -180:
            lon += 360
        lat = max(-89.0, min(89.0, lat0 + self.rng.uniform(-6, 6)))
        return {"lon": round(lon, 6), "lat": round(lat, 6)}

    def datetime_text(self) -> str:
        seconds = self.rng.randrange(DT_SPAN_S)
        when = DT_START + dt.timedelta(seconds=seconds)
        style = self.rng.randrange(6)
        if style == 0:
            return when.strftime("%Y-%m-%dT%H:%M:%SZ")
        if style == 1:
            return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{self.rng.randrange(1000):03d}Z"
        if style == 2:
            hours = self.rng.choice([-5, 2, 9])
            local = when.astimezone(dt.timezone(dt.timedelta(hours=hours)))
            return local.isoformat()
        if style == 3:
            return when.strftime("%Y-%m-%dT%H:%M:%S")
        if style == 4:
            return when.strftime("%Y-%m-%d %H:%M:%S")
        return when.strftime("%Y-%m-%d")

    def sentence(self) -> str:
        words = [self.rng.choice(VOCAB) for _ in range(self.rng.randint(1, 5))]
        out = words[0]
        for w in words[1:]:
            out += self.rng.choice([" ", " ", ", ", " - ", "! ", "."]) + w
        return out

    def mixed(self) -> Any:
        rng = self.rng
        kind = rng.randrange(12)
        if kind == 0:
            return rng.randint(-3, 5)
        if kind == 1:
            return rng.choice([1.0, 2.0, 2.5, -0.5, 3.75])
        if kind == 2:
            return rng.choice(MIXED_STRINGS)
        if kind == 3:
            return rng.choice([True, False])
        if kind == 4:
            return None
        if kind == 5:
            return []
        if kind == 6:
            return [rng.choice([1, 2.0, "red", True, None, "1"]) for _ in range(rng.randint(1, 4))]
        if kind == 7:
            return [[1, 2], 3]
        if kind == 8:
            return {"a": 1}
        if kind == 9:
            return self.datetime_text()
        if kind == 10:
            return self.sentence()
        return [rng.randint(-3, 5), rng.choice(MIXED_STRINGS)]

    def item(self) -> Any:
        rng = self.rng
        if rng.random() < 0.08:
            return rng.choice([5, "x", None])
        item: dict = {}
        if rng.random() < 0.9:
            item["name"] = rng.choice(NAMES)
        if rng.random() < 0.85:
            item["qty"] = rng.randint(0, 10)
        if rng.random() < 0.7:
            item["tags"] = rng.sample(TAGS, rng.randint(0, 3))
        return item

    def payload(self) -> dict:
        rng = self.rng
        p: dict = {
            "color": self.shaped(lambda: rng.choice(COLORS)),
            "count": self.shaped(lambda: rng.randint(-10, 30)),
            "price": self.shaped(
                lambda: rng.choice([round(rng.uniform(-50, 150), 2), rng.randint(0, 100)])
            ),
            "flag": self.shaped(lambda: rng.choice([True, False]), max_len=2),
            "loc": self.shaped(self.geo, max_len=2),
            "title": self.shaped(self.sentence, array=0.0, empty=0.0),
            "ts": self.shaped(self.datetime_text, max_len=2),
            "uid": self.shaped(lambda: rng.choice(self.uids), max_len=2),
            "mixed": self.mixed() if rng.random() < 0.9 else _MISSING,
            "note": self.shaped(
                lambda: self.sentence() if rng.random() < 0.85 else rng.choice([7, True]),
                array=0.25,
            ),
            "when": self.shaped(
                lambda: (
                    self.datetime_text()
                    if rng.random() < 0.8
                    else rng.choice(["not a date", 20240101])
                ),
            ),
            "where": self.shaped(
                lambda: (
                    self.geo() if rng.random() < 0.85 else rng.choice([{"lon": 1.0}, "52.5,13.4"])
                ),
            ),
        }
        r = rng.random()
        if r < 0.75:
            meta: dict = {"tag": rng.choice(TAGS)}
            level = self.shaped(
                lambda: rng.randint(0, 5), missing=0.1, null=0.05, empty=0.0, array=0.15
            )
            if level is not _MISSING:
                meta["level"] = level
            if rng.random() < 0.6:
                meta["inner"] = {
                    "x": rng.choice([rng.randint(-5, 5), round(rng.uniform(-5, 5), 3)])
                }
            p["meta"] = meta
        elif r < 0.82:
            p["meta"] = [{"level": 1, "tag": "x"}]  # a key does not descend into an array
        elif r < 0.87:
            p["meta"] = None
        r = rng.random()
        if r < 0.7:
            p["items"] = [self.item() for _ in range(rng.randint(0, 4))]
        elif r < 0.78:
            p["items"] = {"name": "apple", "qty": 3}  # an object, not an array
        elif r < 0.82:
            p["items"] = None
        return {k: v for k, v in p.items() if v is not _MISSING}

    def points(self, n: int) -> list[dict]:
        rng = self.rng
        ids: list = rng.sample(range(1, 10_000), n - n // 4)
        ids += [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n // 4)]
        rng.shuffle(ids)
        points = []
        for pid in ids:
            vector = {"a": [round(rng.gauss(0, 1), 4) for _ in range(4)]}
            if rng.random() < 0.75:
                vector["b"] = [round(rng.gauss(0, 1), 4) for _ in range(3)]
            points.append({"id": pid, "vector": vector, "payload": self.payload()})
        return points


GEN = Gen(SEED)
POINTS = GEN.points(N_POINTS)
UIDS = GEN.uids
IDS = [p["id"] for p in POINTS]
TRIPLES = [(p["id"], p["payload"], frozenset(p["vector"])) for p in POINTS]
A_IDS = IDS
A_STORED = oracle.stored_form(
    np.array([p["vector"]["a"] for p in POINTS], dtype=np.float32), "Cosine"
)


def expected_ids(flt: dict) -> list:
    return sorted(ref.select(flt, TRIPLES), key=api.id_sort_key)


# ------------------------------------------------------------------------------ collections


@pytest.fixture(scope="module")
def collections(node):
    """{"plain": name, "indexed": name}: the same points, without and with payload indexes."""
    http = node.http
    names = {"plain": unique_name("fprop_plain"), "indexed": unique_name("fprop_idx")}
    try:
        for kind, name in names.items():
            api.create_collection(http, name, {"vectors": VECTORS})
            if kind == "indexed":  # half the indexes before the points, half after
                for key in list(INDEXES)[::2]:
                    api.update_ok(
                        http.put(
                            f"/collections/{name}/index",
                            params={"wait": "true"},
                            json={"field_name": key, "field_schema": INDEXES[key]},
                        )
                    )
            for start in range(0, len(POINTS), 100):
                api.upsert(http, name, POINTS[start : start + 100])
            if kind == "indexed":
                for key in list(INDEXES)[1::2]:
                    api.update_ok(
                        http.put(
                            f"/collections/{name}/index",
                            params={"wait": "true"},
                            json={"field_name": key, "field_schema": INDEXES[key]},
                        )
                    )
        yield names
    finally:
        for name in names.values():
            try:
                http.delete(f"/collections/{name}")
            except Exception:
                pass


def test_data_set_round_trips(node, collections):
    """The reference sees exactly the payloads the server holds; the index schema is complete."""
    by_id = {p["id"]: p for p in POINTS}
    for name in collections.values():
        records = api.scroll_all(node.http, name, page=128, with_vector=True)
        assert len(records) == N_POINTS
        for r in records:
            assert r["payload"] == by_id[r["id"]]["payload"], r["id"]
            assert set(r["vector"]) == set(by_id[r["id"]]["vector"]), r["id"]
    schema = api.collection_info(node.http, collections["indexed"])["payload_schema"]
    assert set(schema) == set(INDEXES)
    assert api.collection_info(node.http, collections["plain"])["payload_schema"] == {}


# ------------------------------------------------------------------------------ server vs reference


def check_filter(client, names: dict, flt: dict, query_seed: int) -> None:
    expected = expected_ids(flt)
    model = models.Filter.model_validate(flt)
    qvec = np.random.default_rng(query_seed).normal(size=4).astype(np.float32)
    if not np.any(qvec):
        qvec[0] = 1.0
    k = min(max(len(expected), 1), MAX_QUERY)
    ranking = oracle.rank(A_IDS, A_STORED, qvec, "Cosine", keep=set(expected))
    for kind, name in names.items():
        where = f"[{kind} collection] filter={flt}"
        got: list = []
        offset = None
        for _ in range(N_POINTS):
            records, offset = client.scroll(
                name, scroll_filter=model, limit=PAGE, offset=offset, with_payload=False
            )
            got.extend(r.id for r in records)
            if offset is None:
                break
        assert got == expected, (
            f"scroll {where}\n missing: {sorted(set(expected) - set(got), key=api.id_sort_key)}"
            f"\n unexpected: {sorted(set(got) - set(expected), key=api.id_sort_key)}"
        )
        assert client.count(name, count_filter=model, exact=True).count == len(expected), (
            f"count {where}"
        )
        hits = client.query_points(
            name,
            query=qvec.tolist(),
            using="a",
            query_filter=model,
            limit=k,
            search_params=models.SearchParams(exact=True),
            with_payload=False,
        ).points
        try:
            oracle.assert_ranking([(h.id, h.score) for h in hits], ranking, k, "Cosine")
        except AssertionError as exc:
            raise AssertionError(f"query {where}: {exc}") from None


# ------------------------------------------------------------------------------ strategies

small_int = st.integers(-12, 32)
half_steps = st.integers(-100, 300).map(lambda x: x / 2)
number = st.one_of(small_int, half_steps)


def one_or_list(children, max_size=3):
    return st.one_of(children, st.lists(children, min_size=0, max_size=max_size))


@st.composite
def numeric_range(draw, lo=-15, hi=35, ints_only=False):
    ops = draw(st.lists(st.sampled_from(ref._RANGE_OPS), min_size=1, max_size=2, unique=True))
    bounds = {}
    for op in ops:
        if ints_only or draw(st.booleans()):
            bounds[op] = draw(st.integers(lo, hi))
        else:
            bounds[op] = draw(st.integers(lo * 4, hi * 4)) / 4
    return bounds


@st.composite
def datetime_range(draw):
    ops = draw(st.lists(st.sampled_from(ref._RANGE_OPS), min_size=1, max_size=2, unique=True))
    bounds = {}
    for op in ops:
        seconds = draw(st.integers(-30 * 86_400, DT_SPAN_S + 30 * 86_400))
        when = DT_START + dt.timedelta(
            seconds=seconds, milliseconds=draw(st.sampled_from([0, 0, 250]))
        )
        hours = draw(st.sampled_from([0, 0, 2, -7]))
        local = when.astimezone(dt.timezone(dt.timedelta(hours=hours)))
        text = local.isoformat()
        bounds[op] = text.replace("+00:00", "Z") if hours == 0 and draw(st.booleans()) else text
    return bounds


def _wrap_lon(lon: float) -> float:
    if lon > 180:
        return lon - 360
    if lon < -180:
        return lon + 360
    return lon


@st.composite
def bounding_box(draw):
    lon0, lat0 = draw(st.sampled_from(CLUSTERS))
    w = draw(st.floats(0.3, 8.0))
    h = draw(st.floats(0.3, 8.0))
    dlon = draw(st.floats(-3, 3))
    left, right = _wrap_lon(lon0 + dlon - w), _wrap_lon(lon0 + dlon + w)
    top, bottom = min(90.0, lat0 + h), max(-90.0, lat0 - h)
    return {"top_left": {"lon": left, "lat": top}, "bottom_right": {"lon": right, "lat": bottom}}


@st.composite
def radius(draw):
    lon0, lat0 = draw(st.sampled_from(CLUSTERS))
    center = {"lon": _wrap_lon(lon0 + draw(st.floats(-2, 2))), "lat": lat0 + draw(st.floats(-2, 2))}
    return {"center": center, "radius": draw(st.floats(5_000, 900_000))}


def _ring(draw, lon0, lat0, rmin, rmax) -> dict:
    n = draw(st.integers(3, 7))
    angles = sorted(
        draw(
            st.lists(
                st.floats(0, 2 * math.pi, exclude_max=True), min_size=n, max_size=n, unique=True
            )
        )
    )
    pts = []
    for a in angles:
        r = draw(st.floats(rmin, rmax))
        pts.append({"lon": lon0 + r * math.cos(a), "lat": lat0 + r * math.sin(a)})
    pts.append(dict(pts[0]))
    return {"points": pts}


@st.composite
def polygon(draw):
    # clusters away from the antimeridian, so every vertex is a valid longitude
    lon0, lat0 = draw(st.sampled_from([c for c in CLUSTERS if abs(c[0]) < 170]))
    lon0 += draw(st.floats(-2, 2))
    lat0 += draw(st.floats(-2, 2))
    exterior = _ring(draw, lon0, lat0, 1.5, 7.0)
    interiors = [
        _ring(draw, lon0 + draw(st.floats(-0.5, 0.5)), lat0 + draw(st.floats(-0.5, 0.5)), 0.2, 1.2)
        for _ in range(draw(st.integers(0, 2)))
    ]
    out = {"exterior": exterior}
    if interiors or draw(st.booleans()):
        out["interiors"] = interiors
    return out


def field(keys, match_or_other):
    return st.builds(lambda k, body: {"key": k, **body}, st.sampled_from(keys), match_or_other)


def m(kind, values):
    return values.map(lambda v: {"match": {kind: v}})


string_pool = st.sampled_from(COLORS + NAMES + TAGS + MIXED_STRINGS + ["nope"])
int_pool = st.integers(-12, 32)
query_text = st.lists(
    st.sampled_from(VOCAB + ["FOX", "cat", "Lazy dog", "brown-fox"]), min_size=1, max_size=3
).map(" ".join)

STRING_KEYS = ["color", "meta.tag", "items[].name", "items[0].name", "mixed", "nope"]
INT_KEYS = ["count", "meta.level", "items[].qty", "mixed"]
FLOAT_KEYS = ["meta.inner.x", "mixed", "items[].qty"]
BOOL_KEYS = ["flag", "mixed"]
GEO_KEYS = ["loc", "where"]
TEXT_KEYS = ["title", "note", "mixed"]
PREFIX_KEYS = ["meta.tag", "items[].name", "mixed", "note"]
DT_KEYS = ["ts", "when", "mixed"]
ANY_KEYS = [
    "color",
    "count",
    "price",
    "flag",
    "loc",
    "ts",
    "uid",
    "mixed",
    "note",
    "when",
    "where",
    "meta",
    "meta.level",
    "items",
    "items[].tags",
    "items[].name",
    "nope",
]
COUNT_KEYS = [
    "color",
    "count",
    "price",
    "flag",
    "loc",
    "ts",
    "uid",
    "mixed",
    "note",
    "items",
    "items[].tags",
    "meta.level",
    "nope",
]

field_conditions = st.one_of(
    field(STRING_KEYS, m("value", string_pool)),
    field(STRING_KEYS, m("any", st.lists(string_pool, max_size=3, unique=True))),
    field(STRING_KEYS, m("except", st.lists(string_pool, max_size=3, unique=True))),
    field(INT_KEYS, m("value", int_pool)),
    field(BOOL_KEYS, m("value", st.booleans())),
    field(INT_KEYS, m("any", st.lists(int_pool, max_size=4, unique=True))),
    field(INT_KEYS, m("except", st.lists(int_pool, min_size=1, max_size=4, unique=True))),
    field(["uid"], m("value", st.sampled_from(UIDS))),
    field(["uid"], m("any", st.lists(st.sampled_from(UIDS), max_size=3, unique=True))),
    field(TEXT_KEYS, m("text", query_text)),
    field(TEXT_KEYS, m("text_any", query_text)),
    field(TEXT_KEYS, m("phrase", query_text)),
    field(PREFIX_KEYS, m("prefix", st.sampled_from(["re", "ap", "Ap", "n", "qu", "", "x", "1"]))),
    field(FLOAT_KEYS, numeric_range(-6, 12).map(lambda r: {"range": r})),
    field(["price"], numeric_range(-60, 160).map(lambda r: {"range": r})),
    # integer bounds only on the integer-indexed keys
    field(
        ["count", "meta.level"], numeric_range(-12, 32, ints_only=True).map(lambda r: {"range": r})
    ),
    field(DT_KEYS, datetime_range().map(lambda r: {"range": r})),
    field(
        COUNT_KEYS,
        st.builds(
            lambda r: {"values_count": {k: max(0, int(v)) for k, v in r.items()}},
            numeric_range(0, 4),
        ),
    ),
    field(GEO_KEYS, bounding_box().map(lambda b: {"geo_bounding_box": b})),
    field(GEO_KEYS, radius().map(lambda r: {"geo_radius": r})),
    field(GEO_KEYS, polygon().map(lambda p: {"geo_polygon": p})),
    field(ANY_KEYS, st.builds(lambda b: {"is_empty": b}, st.booleans())),
    field(ANY_KEYS, st.builds(lambda b: {"is_null": b}, st.booleans())),
)

other_conditions = st.one_of(
    st.sampled_from(ANY_KEYS).map(lambda k: {"is_empty": {"key": k}}),
    st.sampled_from(ANY_KEYS).map(lambda k: {"is_null": {"key": k}}),
    st.lists(
        st.sampled_from(IDS + [123456789, "00000000-0000-4000-8000-000000000000"]),
        min_size=0,
        max_size=6,
        unique=True,
    ).map(lambda ids: {"has_id": ids}),
    st.sampled_from(["a", "b"]).map(lambda v: {"has_vector": v}),
)

nested_leaf = st.one_of(
    field(["name"], m("value", st.sampled_from(NAMES + ["nope"]))),
    field(["name"], m("any", st.lists(st.sampled_from(NAMES), max_size=3, unique=True))),
    field(
        ["name"], m("except", st.lists(st.sampled_from(NAMES), min_size=1, max_size=2, unique=True))
    ),
    field(["qty"], numeric_range(-1, 11).map(lambda r: {"range": r})),
    field(["qty"], m("value", st.integers(0, 10))),
    field(["tags"], m("value", st.sampled_from(TAGS))),
    field(
        ["tags"],
        st.builds(
            lambda r: {"values_count": {k: max(0, int(v)) for k, v in r.items()}},
            numeric_range(0, 3),
        ),
    ),
    st.sampled_from(["tags", "name", "qty"]).map(lambda k: {"is_empty": {"key": k}}),
    st.just({"has_id": IDS[:3]}),  # never holds inside nested
)


def filters(children):
    """Filters over ``children`` conditions: mostly small common shapes (so that many filters
    select some but not all points), sometimes any mix of the four clauses."""
    some = st.lists(children, min_size=1, max_size=2)
    min_should = st.lists(children, min_size=0, max_size=3).flatmap(
        lambda cs: st.integers(1, max(1, len(cs))).map(lambda k: {"conditions": cs, "min_count": k})
    )
    clause = st.one_of(children, st.lists(children, min_size=0, max_size=2))
    return st.one_of(
        some.map(lambda cs: {"must": cs}),
        children.map(lambda c: {"must": c}),  # one condition instead of a list
        some.map(lambda cs: {"must_not": cs}),
        st.lists(children, min_size=1, max_size=3).map(lambda cs: {"should": cs}),
        st.tuples(children, children).map(lambda t: {"must": [t[0]], "must_not": [t[1]]}),
        st.tuples(children, st.lists(children, min_size=0, max_size=3)).map(
            lambda t: {"must": [t[0]], "should": t[1]}
        ),
        min_should.map(lambda ms: {"min_should": ms}),
        st.fixed_dictionaries(
            {},
            optional={
                "must": clause,
                "should": clause,
                "must_not": clause,
                "min_should": min_should,
            },
        ),
    )


nested_filters = filters(nested_leaf)
nested_conditions = st.builds(
    lambda key, f: {"nested": {"key": key, "filter": f}},
    st.sampled_from(["items", "items[]"]),
    nested_filters,
)

# weights: hypothesis flattens nested one_of's, which would make `nested` one branch in ~30
_LEAVES = {"field": field_conditions, "other": other_conditions, "nested": nested_conditions}
leaf_conditions = st.sampled_from(["field"] * 6 + ["other"] * 2 + ["nested"] * 2).flatmap(
    _LEAVES.__getitem__
)
conditions = st.recursive(leaf_conditions, filters, max_leaves=4)
top_filters = filters(conditions)


# ------------------------------------------------------------------------------ the property


@settings(
    max_examples=int(os.environ.get("TESSERA_FILTER_EXAMPLES", "110")),
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
@given(flt=top_filters, query_seed=st.integers(0, 2**32 - 1))
def test_random_filters_match_reference(client, collections, flt, query_seed):
    check_filter(client, collections, flt, query_seed)


# ------------------------------------------------------------------------------ one of each kind

ONE_OF_EACH = {
    "match_value_keyword": {"must": [{"key": "color", "match": {"value": "red"}}]},
    "match_value_int": {"must": [{"key": "count", "match": {"value": 3}}]},
    "match_value_bool": {"must": [{"key": "flag", "match": {"value": False}}]},
    "match_value_mixed_int": {"must": [{"key": "mixed", "match": {"value": 2}}]},
    "match_value_uuid": {"must": [{"key": "uid", "match": {"value": UIDS[0]}}]},
    "match_any": {"must": [{"key": "color", "match": {"any": ["blue", "café", ""]}}]},
    "match_any_int": {"must": [{"key": "count", "match": {"any": [1, 2, 3, 4, 5]}}]},
    "match_except": {"must": [{"key": "color", "match": {"except": ["red", "blue"]}}]},
    "match_except_mixed": {"must": [{"key": "mixed", "match": {"except": [1, 2]}}]},
    "match_text": {"must": [{"key": "title", "match": {"text": "fox"}}]},
    "match_text_unindexed": {"must": [{"key": "note", "match": {"text": "LAZY dog"}}]},
    "match_text_any": {"must": [{"key": "title", "match": {"text_any": "dog vector"}}]},
    "match_phrase": {"must": [{"key": "note", "match": {"phrase": "quick brown"}}]},
    "match_phrase_indexed": {"must": [{"key": "title", "match": {"phrase": "brown fox"}}]},
    "match_prefix": {"must": [{"key": "items[].name", "match": {"prefix": "ap"}}]},
    "range_int": {"must": [{"key": "count", "range": {"gte": 0, "lt": 10}}]},
    "range_float": {"must": [{"key": "price", "range": {"gt": 10.5, "lte": 80}}]},
    "range_nested_key": {"must": [{"key": "meta.inner.x", "range": {"lt": 0}}]},
    "datetime_range": {
        "must": [
            {
                "key": "ts",
                "range": {"gte": "2024-01-01T00:00:00Z", "lt": "2025-01-01T00:00:00+02:00"},
            }
        ]
    },
    "datetime_range_unindexed": {
        "must": [{"key": "when", "range": {"lt": "2024-06-01T00:00:00Z"}}]
    },
    "values_count": {"must": [{"key": "color", "values_count": {"gte": 2}}]},
    "values_count_items": {"must": [{"key": "items", "values_count": {"gt": 2}}]},
    "is_empty": {"must": [{"is_empty": {"key": "color"}}]},
    "is_empty_field_form": {"must": [{"key": "items", "is_empty": False}]},
    "is_null": {"must": [{"is_null": {"key": "count"}}]},
    "is_null_mixed": {"must": [{"is_null": {"key": "mixed"}}]},
    "has_id": {"must": [{"has_id": IDS[:10]}]},
    "has_vector": {"must": [{"has_vector": "b"}]},
    "geo_bounding_box": {
        "must": [
            {
                "key": "loc",
                "geo_bounding_box": {
                    "top_left": {"lon": 8.0, "lat": 56.0},
                    "bottom_right": {"lon": 18.0, "lat": 48.0},
                },
            }
        ]
    },
    "geo_bounding_box_antimeridian": {
        "must": [
            {
                "key": "loc",
                "geo_bounding_box": {
                    "top_left": {"lon": 176.0, "lat": 70.0},
                    "bottom_right": {"lon": -176.0, "lat": -25.0},
                },
            }
        ]
    },
    "geo_radius": {
        "must": [
            {
                "key": "where",
                "geo_radius": {"center": {"lon": -74.0, "lat": 40.7}, "radius": 400000},
            }
        ]
    },
    "geo_polygon_with_hole": {
        "must": [
            {
                "key": "loc",
                "geo_polygon": {
                    "exterior": {
                        "points": [
                            {"lon": 7, "lat": 47},
                            {"lon": 20, "lat": 47},
                            {"lon": 20, "lat": 58},
                            {"lon": 7, "lat": 58},
                            {"lon": 7, "lat": 47},
                        ]
                    },
                    "interiors": [
                        {
                            "points": [
                                {"lon": 11, "lat": 50},
                                {"lon": 16, "lat": 50},
                                {"lon": 16, "lat": 55},
                                {"lon": 11, "lat": 55},
                                {"lon": 11, "lat": 50},
                            ]
                        }
                    ],
                },
            }
        ]
    },
    "nested": {
        "must": [
            {
                "nested": {
                    "key": "items",
                    "filter": {
                        "must": [
                            {"key": "name", "match": {"value": "apple"}},
                            {"key": "qty", "range": {"gte": 5}},
                        ]
                    },
                }
            }
        ]
    },
    "nested_must_not": {
        "must": [
            {
                "nested": {
                    "key": "items[]",
                    "filter": {"must_not": [{"key": "qty", "range": {"gte": 3}}]},
                }
            }
        ]
    },
    "min_should": {
        "min_should": {
            "conditions": [
                {"key": "color", "match": {"value": "red"}},
                {"key": "flag", "match": {"value": True}},
                {"key": "count", "range": {"gt": 10}},
            ],
            "min_count": 2,
        }
    },
    "should_must_not": {
        "should": [{"key": "color", "match": {"value": "green"}}, {"has_vector": "b"}],
        "must_not": [{"key": "count", "range": {"lt": 0}}],
    },
    "nested_filters": {
        "must_not": [
            {
                "should": [
                    {"must": [{"key": "flag", "match": {"value": True}}]},
                    {"is_empty": {"key": "loc"}},
                ]
            }
        ]
    },
}


@pytest.mark.parametrize("kind", list(ONE_OF_EACH))
def test_each_condition_kind(client, collections, kind):
    flt = ONE_OF_EACH[kind]
    n = len(expected_ids(flt))
    if "TESSERA_FILTER_SEED" not in os.environ:  # another data set may not exercise every kind
        assert 0 < n < N_POINTS, (
            f"the data set does not exercise {kind}: {n} of {N_POINTS} points match"
        )
    check_filter(client, collections, flt, query_seed=len(kind))
