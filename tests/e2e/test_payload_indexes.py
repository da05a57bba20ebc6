"""Payload indexes: every index type answers filters exactly like no index at all, full-text
tokenizer options, accepted index options, ``payload_schema`` in collection info, persistence
across a crash, maintenance on every kind of write, and DELETE.

Indexes are mostly created / deleted over raw HTTP (so that the exact responses can be checked);
``test_index_and_facet_through_the_client`` does it through qdrant-client on every transport.
Filters are run with qdrant-client on every transport.
"""

from __future__ import annotations

import time

import pytest
from qdrant_client import models

from tests.support import api
from tests.support import reference_filter as ref
from tests.support.api import create_collection, error, ok

VECTORS = {"size": 2, "distance": "Dot"}


def put_points(http, name, payloads: dict) -> None:
    points = [
        {"id": pid, "vector": [1.0, float(pid) if isinstance(pid, int) else 0.5], "payload": p}
        for pid, p in payloads.items()
    ]
    api.upsert(http, name, points)


def create_index(http, name, field, schema, wait=True) -> dict:
    return api.update_ok(
        http.put(
            f"/collections/{name}/index",
            params={"wait": "true" if wait else "false"},
            json={"field_name": field, "field_schema": schema},
        ),
        wait,
    )


def schema_of(http, name) -> dict:
    return api.collection_info(http, name)["payload_schema"]


def _model(flt):
    return models.Filter.model_validate(flt) if flt is not None else None


def scroll_ids(client, name, flt) -> list:
    ids: list = []
    offset = None
    while True:
        records, offset = client.scroll(
            name, scroll_filter=_model(flt), limit=3, offset=offset, with_payload=False
        )
        ids.extend(r.id for r in records)
        if offset is None:
            return ids


def count(client, name, flt) -> int:
    return client.count(name, count_filter=_model(flt), exact=True).count


def check(client, names, flt, ids, payloads) -> None:
    """Every collection in ``names`` answers ``flt`` with ``ids`` (scroll and count), and the
    complement (``must_not``) with the other points; the reference evaluator agrees."""
    triples = [(pid, p, {""}) for pid, p in payloads.items()]
    assert ref.select(flt, triples) == ids, f"reference disagrees with the expectation for {flt}"
    rest = ref.select({"must_not": [flt]}, triples)
    for name in names:
        assert scroll_ids(client, name, flt) == ids, f"{name}: {flt}"
        assert count(client, name, flt) == len(ids), f"{name}: {flt}"
        assert scroll_ids(client, name, {"must_not": [flt]}) == rest, f"{name}: must_not {flt}"


# ------------------------------------------------------------------------------ per index type

U1, U2, U3 = (
    "3f0a6a4e-5d2b-4c1e-9a77-0b1c2d3e4f50",
    "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    "c0ffee00-1234-4abc-8def-0123456789ab",
)
BERLIN, PARIS, NYC, POTSDAM = (
    {"lon": 13.40, "lat": 52.52},
    {"lon": 2.35, "lat": 48.86},
    {"lon": -74.0, "lat": 40.71},
    {"lon": 13.06, "lat": 52.40},
)


def _square(x0, y0, x1, y1):
    return {
        "points": [
            {"lon": x0, "lat": y0},
            {"lon": x1, "lat": y0},
            {"lon": x1, "lat": y1},
            {"lon": x0, "lat": y1},
            {"lon": x0, "lat": y0},
        ]
    }


TYPE_CASES = {
    "keyword": (
        "k",
        "keyword",
        {
            1: {"k": "a"},
            2: {"k": ["a", "b"]},
            3: {"k": "b"},
            4: {"k": None},
            5: {"k": []},
            6: {},
            7: {"k": "A"},
        },
        4,
        [
            ({"key": "k", "match": {"value": "a"}}, [1, 2]),
            ({"key": "k", "match": {"any": ["b", "A"]}}, [2, 3, 7]),
            ({"key": "k", "match": {"any": []}}, []),
            ({"key": "k", "match": {"except": ["a"]}}, [2, 3, 7]),
            ({"is_empty": {"key": "k"}}, [4, 5, 6]),
            ({"key": "k", "values_count": {"gte": 2}}, [2]),
            (
                {
                    "should": [
                        {"key": "k", "match": {"value": "A"}},
                        {"key": "k", "match": {"value": "b"}},
                    ]
                },
                [2, 3, 7],
            ),
        ],
    ),
    "integer": (
        "n",
        "integer",
        {
            1: {"n": 1},
            2: {"n": [2, 5]},
            3: {"n": -3},
            4: {"n": None},
            5: {"n": 10},
            6: {},
            7: {"n": 0},
        },
        5,
        [
            ({"key": "n", "match": {"value": 2}}, [2]),
            ({"key": "n", "match": {"any": [1, 10]}}, [1, 5]),
            ({"key": "n", "match": {"except": [1, 2]}}, [2, 3, 5, 7]),
            ({"key": "n", "range": {"gte": 1, "lt": 5}}, [1, 2]),
            ({"key": "n", "range": {"gt": -3}}, [1, 2, 5, 7]),
            ({"key": "n", "range": {"lte": 0}}, [3, 7]),
            ({"key": "n", "range": {"gt": 10}}, []),
            ({"key": "n", "values_count": {"lt": 1}}, [4, 6]),
        ],
    ),
    "float": (
        "f",
        "float",
        {1: {"f": 1.5}, 2: {"f": [0.25, 9.75]}, 3: {"f": -2.0}, 4: {"f": 3}, 5: {"f": None}, 6: {}},
        4,
        [
            ({"key": "f", "range": {"gt": 1}}, [1, 2, 4]),
            ({"key": "f", "range": {"gte": -2, "lte": 0.25}}, [2, 3]),
            ({"key": "f", "range": {"lt": 3}}, [1, 2, 3]),
            ({"key": "f", "range": {"lte": 3}}, [1, 2, 3, 4]),
            ({"key": "f", "range": {"gt": 9.75}}, []),
            ({"is_null": {"key": "f"}}, [5]),
        ],
    ),
    "bool": (
        "b",
        "bool",
        {
            1: {"b": True},
            2: {"b": False},
            3: {"b": [True, False]},
            4: {"b": None},
            5: {},
            6: {"b": [True]},
        },
        4,
        [
            ({"key": "b", "match": {"value": True}}, [1, 3, 6]),
            ({"key": "b", "match": {"value": False}}, [2, 3]),
            ({"is_empty": {"key": "b"}}, [4, 5]),
        ],
    ),
    "geo": (
        "g",
        "geo",
        {
            1: {"g": BERLIN},
            2: {"g": PARIS},
            3: {"g": [NYC, POTSDAM]},
            4: {"g": None},
            5: {},
            6: {"g": {"lon": 179.5, "lat": -16.5}},
        },
        4,
        [
            ({"key": "g", "geo_radius": {"center": BERLIN, "radius": 50_000}}, [1, 3]),
            ({"key": "g", "geo_radius": {"center": BERLIN, "radius": 1_000_000}}, [1, 2, 3]),
            ({"key": "g", "geo_radius": {"center": BERLIN, "radius": 800_000}}, [1, 3]),
            (
                {
                    "key": "g",
                    "geo_bounding_box": {
                        "top_left": {"lon": 0, "lat": 60},
                        "bottom_right": {"lon": 20, "lat": 40},
                    },
                },
                [1, 2, 3],
            ),
            (
                {
                    "key": "g",
                    "geo_bounding_box": {
                        "top_left": {"lon": 179, "lat": -15},
                        "bottom_right": {"lon": -179, "lat": -20},
                    },
                },
                [6],
            ),
            ({"key": "g", "geo_polygon": {"exterior": _square(12, 51, 15, 54)}}, [1, 3]),
            (
                {
                    "key": "g",
                    "geo_polygon": {
                        "exterior": _square(12, 51, 15, 54),
                        "interiors": [_square(13.3, 52.45, 13.6, 52.6)],
                    },
                },
                [3],
            ),
        ],
    ),
    "text": (
        "t",
        "text",
        {
            1: {"t": "The quick brown fox"},
            2: {"t": "Lazy DOG"},
            3: {"t": "quick-dog!"},
            4: {"t": None},
            5: {},
        },
        3,
        [
            ({"key": "t", "match": {"text": "QUICK"}}, [1, 3]),
            ({"key": "t", "match": {"text": "quick dog"}}, [3]),
            ({"key": "t", "match": {"text": "qui"}}, []),
            ({"key": "t", "match": {"text_any": "fox dog"}}, [1, 2, 3]),
        ],
    ),
    "datetime": (
        "d",
        "datetime",
        {
            1: {"d": "2024-01-01T00:00:00Z"},
            2: {"d": ["2024-06-01T12:00:00+02:00", "2025-01-01T00:00:00Z"]},
            3: {"d": "2023-05-05"},
            4: {"d": None},
            5: {},
            6: {"d": "2024-06-01T10:00:00Z"},
            7: {"d": "2024-01-01T00:00:00.000001Z"},
        },
        5,
        [
            ({"key": "d", "range": {"gte": "2024-06-01T10:00:00Z"}}, [2, 6]),
            ({"key": "d", "range": {"gt": "2024-06-01T10:00:00Z"}}, [2]),
            ({"key": "d", "range": {"lt": "2024-01-01T00:00:00Z"}}, [3]),
            ({"key": "d", "range": {"lte": "2024-01-01T01:00:00+01:00"}}, [1, 3]),
            (
                {"key": "d", "range": {"gt": "2024-01-01T00:00:00Z", "lt": "2024-02-01T00:00:00Z"}},
                [7],
            ),
        ],
    ),
    "uuid": (
        "u",
        "uuid",
        {1: {"u": U1}, 2: {"u": [U1, U2]}, 3: {"u": U3}, 4: {"u": None}, 5: {}},
        3,
        [
            ({"key": "u", "match": {"value": U1}}, [1, 2]),
            ({"key": "u", "match": {"any": [U2, U3]}}, [2, 3]),
            ({"key": "u", "match": {"value": "00000000-0000-4000-8000-000000000000"}}, []),
        ],
    ),
}
# integer index flags: the same data and filters
TYPE_CASES["integer_lookup_only"] = (
    "n",
    {"type": "integer", "lookup": True, "range": False},
    *TYPE_CASES["integer"][2:],
)
TYPE_CASES["integer_range_only"] = (
    "n",
    {"type": "integer", "lookup": False, "range": True},
    *TYPE_CASES["integer"][2:],
)


@pytest.mark.parametrize("case", list(TYPE_CASES))
def test_index_type_answers_like_no_index(http, client, make_name, case):
    key, schema, payloads, indexed_points, filters = TYPE_CASES[case]
    plain, indexed = make_name("plain"), make_name("indexed")
    for name in (plain, indexed):
        create_collection(http, name, {"vectors": VECTORS})
    put_points(http, plain, payloads)
    create_index(http, indexed, key, schema)  # before the points ...
    put_points(http, indexed, payloads)
    data_type = schema if isinstance(schema, str) else schema["type"]
    expected_info = {"data_type": data_type, "points": indexed_points}
    if isinstance(schema, dict):
        expected_info["params"] = schema
    assert schema_of(http, indexed) == {key: expected_info}
    for flt, ids in filters:
        check(client, [plain, indexed], {"must": [flt]}, ids, payloads)


@pytest.mark.parametrize("case", ["keyword", "integer", "geo", "datetime"])
def test_index_created_after_the_points(http, client, collection_name, case):
    key, schema, payloads, indexed_points, filters = TYPE_CASES[case]
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, payloads)
    create_index(http, collection_name, key, schema)
    assert schema_of(http, collection_name)[key]["points"] == indexed_points
    for flt, ids in filters:
        check(client, [collection_name], {"must": [flt]}, ids, payloads)


# ------------------------------------------------------------------------------ full-text options

TOKENIZER_CASES = {
    "word_default": (
        {"type": "text"},
        {1: "Hello, World-wide web", 2: "worldwide", 3: "HELLO"},
        [
            ("text", "world", [1]),
            ("text", "hello", [1, 3]),
            ("text", "WIDE web", [1]),
            ("text_any", "worldwide hello", [1, 2, 3]),
            ("text", "tele", []),
        ],
    ),
    "word_explicit": (
        {"type": "text", "tokenizer": "word", "lowercase": True},
        {1: "Café au lait", 2: "cafe", 3: "Lait-Café"},
        [("text", "café", [1, 3]), ("text", "LAIT café", [1, 3]), ("text", "cafe", [2])],
    ),
    "whitespace": (
        {"type": "text", "tokenizer": "whitespace"},
        {1: "foo-bar baz", 2: "foo bar", 3: "Baz!"},
        [
            ("text", "foo", [2]),
            ("text", "foo-bar", [1]),
            ("text", "BAZ", [1]),
            ("text", "baz!", [3]),
            ("text_any", "bar baz!", [2, 3]),
        ],
    ),
    "prefix": (
        {"type": "text", "tokenizer": "prefix"},
        {1: "television set", 2: "Telephone", 3: "vision"},
        [
            ("text", "tele", [1, 2]),
            ("text", "vision", [3]),
            ("text", "telev set", [1]),
            ("text", "television", [1]),
            ("text", "t", [1, 2]),
            ("text", "visionary", []),
        ],
    ),
    "lowercase_false": (
        {"type": "text", "tokenizer": "word", "lowercase": False},
        {1: "Hello World", 2: "hello world", 3: "HELLO"},
        [
            ("text", "hello", [2]),
            ("text", "Hello", [1]),
            ("text", "World", [1]),
            ("text", "HELLO", [3]),
        ],
    ),
    "min_token_len": (
        {"type": "text", "tokenizer": "word", "min_token_len": 3},
        {1: "an ox ate hay", 2: "ox cart", 3: "cart"},
        # "ox" is shorter than 3: dropped from the documents and from the query alike
        [("text", "ox cart", [2, 3]), ("text", "hay", [1]), ("text", "ate cart", [])],
    ),
    "no_min_token_len": (
        {"type": "text", "tokenizer": "word"},
        {1: "an ox ate hay", 2: "ox cart", 3: "cart"},
        [("text", "ox cart", [2]), ("text", "ox", [1, 2])],
    ),
    "max_token_len": (
        {"type": "text", "tokenizer": "word", "max_token_len": 4},
        {1: "elephant cat", 2: "cat", 3: "elephant"},
        [("text", "elephant cat", [1, 2]), ("text", "cat", [1, 2])],
    ),
    "custom_stopwords": (
        {"type": "text", "tokenizer": "word", "stopwords": {"custom": ["the", "a"]}},
        {1: "the cat", 2: "A cat", 3: "the dog"},
        [("text", "the cat", [1, 2]), ("text", "The dog", [3]), ("text_any", "the dog", [3])],
    ),
    "no_stopwords": (
        {"type": "text", "tokenizer": "word"},
        {1: "the cat", 2: "A cat", 3: "the dog"},
        [("text", "the cat", [1]), ("text_any", "the dog", [1, 3])],
    ),
    "stemmer": (
        {"type": "text", "tokenizer": "word", "stemmer": {"type": "snowball", "language": "english"}},
        {1: "she was running home", 2: "he runs", 3: "a runner"},
        # snowball english: running, runs, run -> "run"; runner stays "runner"
        [("text", "run", [1, 2]), ("text", "RUNNING", [1, 2]), ("text", "runners", [3])],
    ),
    "phrase_matching": (
        {"type": "text", "tokenizer": "word", "phrase_matching": True},
        {1: "quick brown fox", 2: "brown quick fox", 3: "The quick, BROWN dog"},
        [
            ("phrase", "quick brown", [1, 3]),
            ("phrase", "brown fox", [1]),
            ("text", "brown fox", [1, 2]),
            ("phrase", "fox brown", []),
        ],
    ),
}


@pytest.mark.parametrize("case", list(TOKENIZER_CASES))
def test_text_index_tokenizer_options(http, client, collection_name, case):
    params, docs, queries = TOKENIZER_CASES[case]
    create_collection(http, collection_name, {"vectors": VECTORS})
    create_index(http, collection_name, "t", params)
    put_points(http, collection_name, {pid: {"t": text} for pid, text in docs.items()})
    info = schema_of(http, collection_name)["t"]
    assert (info["data_type"], info["params"]) == ("text", params)
    for kind, query, ids in queries:
        cond = {"key": "t", "match": {kind: query}}
        assert scroll_ids(client, collection_name, {"must": [cond]}) == ids, (kind, query)
        assert count(client, collection_name, {"must": [cond]}) == len(ids), (kind, query)
        # the complement: the same matcher whichever way the filter is evaluated
        others = [pid for pid in docs if pid not in ids]
        assert scroll_ids(client, collection_name, {"must_not": [cond]}) == others, (kind, query)


def test_word_tokenizer_splits_on_underscore(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, {1: {"t": "red_fox"}, 2: {"t": "red fox"}, 3: {"t": "fox_"}})
    flt = {"must": [{"key": "t", "match": {"text": "fox"}}]}
    assert scroll_ids(client, collection_name, flt) == [1, 2, 3]  # no index: words
    create_index(http, collection_name, "t", "text")
    assert scroll_ids(client, collection_name, flt) == [1, 2, 3]


def test_text_index_on_string_arrays_is_plan_independent(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(
        http,
        collection_name,
        {
            1: {"t": ["red fox", "blue cat"]},
            2: {"t": "red fox, blue cat"},
            3: {"t": ["fox"]},
            4: {"t": ["cat"]},
        },
    )
    create_index(http, collection_name, "t", "text")
    cond = {"key": "t", "match": {"text": "fox cat"}}
    direct = scroll_ids(client, collection_name, {"must": [cond]})
    wrapped = scroll_ids(client, collection_name, {"must": [{"must": [cond]}]})
    negated = scroll_ids(client, collection_name, {"must_not": [cond]})
    assert direct == wrapped
    assert sorted(direct + negated) == [1, 2, 3, 4]


def test_integer_index_range_is_plan_independent(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(
        http, collection_name, {1: {"n": 1.5}, 2: {"n": 2}, 3: {"n": [0, 2.5]}, 4: {"n": "3"}}
    )
    create_index(http, collection_name, "n", "integer")
    cond = {"key": "n", "range": {"gte": 1}}
    direct = scroll_ids(client, collection_name, {"must": [cond]})
    wrapped = scroll_ids(client, collection_name, {"must": [{"must": [cond]}]})
    negated = scroll_ids(client, collection_name, {"must_not": [cond]})
    assert direct == wrapped
    assert sorted(direct + negated) == [1, 2, 3, 4]


# ------------------------------------------------------------------------ options, payload_schema

OPTION_SCHEMAS = [
    {"type": "keyword", "is_tenant": True, "on_disk": True},
    {"type": "keyword", "on_disk": False},
    {"type": "uuid", "is_tenant": True, "on_disk": True},
    {"type": "integer", "lookup": True, "range": True, "is_principal": True, "on_disk": True},
    {"type": "float", "is_principal": True, "on_disk": True},
    {"type": "datetime", "is_principal": True, "on_disk": True},
    {"type": "geo", "on_disk": True},
    {"type": "bool", "on_disk": True},
    {"type": "text", "tokenizer": "word", "on_disk": True},
]
OPTION_VALUES = {
    "keyword": ("tenant-a", "tenant-b", {"key": "v", "match": {"value": "tenant-a"}}),
    "uuid": (U1, U2, {"key": "v", "match": {"value": U1}}),
    "integer": (7, 8, {"key": "v", "match": {"value": 7}}),
    "float": (0.5, 8.5, {"key": "v", "range": {"lt": 1}}),
    "datetime": (
        "2024-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
        {"key": "v", "range": {"lt": "2024-06-01T00:00:00Z"}},
    ),
    "geo": (BERLIN, NYC, {"key": "v", "geo_radius": {"center": BERLIN, "radius": 1000}}),
    "bool": (True, False, {"key": "v", "match": {"value": True}}),
    "text": ("hello world", "bye", {"key": "v", "match": {"text": "world"}}),
}


@pytest.mark.parametrize(
    "schema", OPTION_SCHEMAS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items())
)
def test_index_options_accepted(http, client, collection_name, schema):
    first, second, cond = OPTION_VALUES[schema["type"]]
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, {1: {"v": first}, 2: {"v": second}, 3: {"v": first}, 4: {}})
    create_index(http, collection_name, "v", schema)
    assert schema_of(http, collection_name) == {
        "v": {"data_type": schema["type"], "params": schema, "points": 3}
    }
    assert scroll_ids(client, collection_name, {"must": [cond]}) == [1, 3]


def test_payload_schema_in_collection_info(http, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    assert schema_of(http, collection_name) == {}
    put_points(
        http,
        collection_name,
        {
            1: {"city": "Berlin", "meta": {"level": 1}, "tags": ["a", "b"]},
            2: {"city": ["Paris", "Rome"], "meta": {"level": [2, 3]}},
            3: {"city": None, "meta": [{"level": 4}]},  # meta.level does not reach into an array
            4: {"city": 5},  # not a keyword value
        },
    )
    create_index(http, collection_name, "city", "keyword")
    create_index(http, collection_name, "meta.level", {"type": "integer"})
    create_index(http, collection_name, "tags", {"type": "keyword", "is_tenant": False})
    create_index(http, collection_name, "nobody", "float")
    assert schema_of(http, collection_name) == {
        "city": {"data_type": "keyword", "points": 2},  # a type name: no params
        "meta.level": {"data_type": "integer", "params": {"type": "integer"}, "points": 2},
        "tags": {
            "data_type": "keyword",
            "params": {"type": "keyword", "is_tenant": False},
            "points": 1,
        },
        "nobody": {"data_type": "float", "points": 0},
    }
    # counts follow the points
    put_points(
        http,
        collection_name,
        {5: {"city": "Oslo", "tags": []}, 6: {"city": "Rome", "meta": {"level": 0}}},
    )
    api.post_update(http, f"/collections/{collection_name}/points/delete", {"points": [1]})
    info = schema_of(http, collection_name)
    assert {k: v["points"] for k, v in info.items()} == {
        "city": 3,
        "meta.level": 2,
        "tags": 0,
        "nobody": 0,
    }


def test_recreate_index_with_another_type(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, {1: {"v": 1}, 2: {"v": "1"}, 3: {"v": [1, "x"]}})
    create_index(http, collection_name, "v", "keyword")
    assert schema_of(http, collection_name)["v"] == {"data_type": "keyword", "points": 2}
    create_index(http, collection_name, "v", "integer")
    assert schema_of(http, collection_name)["v"] == {"data_type": "integer", "points": 2}
    assert scroll_ids(client, collection_name, {"must": [{"key": "v", "range": {"gte": 1}}]}) == [
        1,
        3,
    ]
    facet = ok(http.post(f"/collections/{collection_name}/facet", json={"key": "v"}))
    assert facet["hits"] == [{"value": 1, "count": 2}]


def test_create_index_wait_false(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, {1: {"k": "a"}, 2: {"k": "b"}})
    create_index(http, collection_name, "k", "keyword", wait=False)
    api.wait_until(lambda: "k" in schema_of(http, collection_name), timeout=10, what="index k")
    assert scroll_ids(
        client, collection_name, {"must": [{"key": "k", "match": {"value": "b"}}]}
    ) == [2]


def test_create_index_errors(http, collection_name):
    error(
        http.put(
            "/collections/no_such_collection_idx/index",
            params={"wait": "true"},
            json={"field_name": "k", "field_schema": "keyword"},
        ),
        404,
        prefix="Not found: ",
    )
    create_collection(http, collection_name, {"vectors": VECTORS})
    msg = error(
        http.put(
            f"/collections/{collection_name}/index",
            params={"wait": "true"},
            json={"field_name": "k", "field_schema": "strings"},
        ),
        400,
    )
    assert "strings" in msg or "variant" in msg, msg
    error(
        http.put(
            f"/collections/{collection_name}/index",
            params={"wait": "true"},
            json={"field_schema": "keyword"},
        ),
        400,
        contains="field_name",
    )
    assert schema_of(http, collection_name) == {}


# ------------------------------------------------------------------------------ DELETE index


def test_delete_index(http, client, collection_name):
    payloads = {1: {"k": "a", "n": 1}, 2: {"k": "b", "n": 2}, 3: {"k": ["a", "c"], "n": 3}}
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, payloads)
    create_index(http, collection_name, "k", "keyword")
    create_index(http, collection_name, "n", "integer")
    by_k = {"must": [{"key": "k", "match": {"value": "a"}}]}
    assert scroll_ids(client, collection_name, by_k) == [1, 3]
    assert ok(http.post(f"/collections/{collection_name}/facet", json={"key": "k"}))["hits"]

    api.update_ok(http.delete(f"/collections/{collection_name}/index/k", params={"wait": "true"}))
    assert set(schema_of(http, collection_name)) == {"n"}
    assert scroll_ids(client, collection_name, by_k) == [1, 3]  # still answered, without the index
    error(http.post(f"/collections/{collection_name}/facet", json={"key": "k"}), 400, contains="k")
    put_points(http, collection_name, {4: {"k": "a"}})
    assert scroll_ids(client, collection_name, by_k) == [1, 3, 4]

    api.update_ok(http.delete(f"/collections/{collection_name}/index/n", params={"wait": "true"}))
    assert schema_of(http, collection_name) == {}
    error(
        http.post(f"/collections/{collection_name}/points/scroll", json={"order_by": "n"}),
        400,
        contains="No range index for `order_by` key: `n`",
    )

    create_index(http, collection_name, "k", "keyword")  # and back: built from the current points
    assert schema_of(http, collection_name) == {"k": {"data_type": "keyword", "points": 4}}
    assert scroll_ids(client, collection_name, by_k) == [1, 3, 4]


# ------------------------------------------------------------------------ writes keep it current

WRITE_INDEXES = {"color": "keyword", "n": "integer", "t": "text", "g": "geo"}
WRITE_FILTERS = [
    {"must": [{"key": "color", "match": {"value": "red"}}]},
    {"must": [{"key": "color", "match": {"any": ["red", "blue"]}}]},
    {"must": [{"key": "n", "range": {"gte": 5}}]},
    {"must": [{"key": "n", "match": {"value": 42}}]},
    {"must": [{"key": "t", "match": {"text": "fox"}}]},
    {"must": [{"key": "g", "geo_radius": {"center": BERLIN, "radius": 100_000}}]},
    {"should": [{"key": "color", "match": {"value": "green"}}, {"key": "n", "range": {"lt": 2}}]},
    {"must_not": [{"key": "color", "match": {"value": "red"}}]},
    {"must": [{"is_empty": {"key": "color"}}]},
]


def _indexable(key: str, payload: dict) -> bool:
    values = ref.elements(ref.reach(payload, key))
    if key == "color":
        return any(isinstance(v, str) for v in values)
    if key == "n":
        return any(ref.is_int(v) for v in values)
    if key == "t":
        return any(isinstance(v, str) for v in values)
    return any(ref.lon_lat(v) is not None for v in values)


def _check_model(http, client, name, model: dict, step: str) -> None:
    triples = [(pid, p, {""}) for pid, p in sorted(model.items())]
    for flt in WRITE_FILTERS:
        assert scroll_ids(client, name, flt) == ref.select(flt, triples), f"after {step}: {flt}"
    points = {k: v["points"] for k, v in schema_of(http, name).items()}
    assert points == {k: sum(_indexable(k, p) for p in model.values()) for k in WRITE_INDEXES}, step
    stored = {r["id"]: r["payload"] for r in api.scroll_all(http, name)}
    assert stored == model, step


def test_writes_keep_indexes_current(http, client, collection_name):
    name = collection_name
    create_collection(http, name, {"vectors": VECTORS})
    for key, schema in WRITE_INDEXES.items():
        create_index(http, name, key, schema)
    model = {
        1: {"color": "red", "n": 1, "t": "quick fox", "g": BERLIN},
        2: {"color": "green", "n": 5},
        3: {"color": ["red", "blue"], "n": [7, 42], "t": "lazy dog"},
        4: {"n": 3, "g": PARIS},
        5: {"color": "blue", "t": "Fox!", "g": POTSDAM},
        6: {"color": "red", "n": 9},
    }

    def upsert(points: dict):
        client.upsert(
            name,
            points=[
                models.PointStruct(id=pid, vector=[1.0, 0.0], payload=p)
                for pid, p in points.items()
            ],
            wait=True,
        )
        model.update({pid: dict(p) for pid, p in points.items()})

    upsert(dict(model))
    _check_model(http, client, name, model, "upsert")

    upsert({2: {"color": "red", "n": 0, "t": "a fox"}, 7: {"color": "green", "n": 42}})
    _check_model(http, client, name, model, "upsert over existing points")

    client.set_payload(name, payload={"color": "blue", "t": "no animals"}, points=[1, 4], wait=True)
    for pid in (1, 4):
        model[pid].update({"color": "blue", "t": "no animals"})
    _check_model(http, client, name, model, "set_payload")

    client.set_payload(
        name,
        payload={"n": 42},
        points=models.Filter(
            must=[models.FieldCondition(key="color", match=models.MatchValue(value="green"))]
        ),
        wait=True,
    )
    model[7]["n"] = 42
    _check_model(http, client, name, model, "set_payload by filter")

    client.overwrite_payload(name, payload={"n": 100, "g": BERLIN}, points=[3], wait=True)
    model[3] = {"n": 100, "g": BERLIN}
    _check_model(http, client, name, model, "overwrite_payload")

    client.delete_payload(name, keys=["color", "g"], points=[5], wait=True)
    model[5] = {"t": "Fox!"}
    _check_model(http, client, name, model, "delete_payload")

    client.clear_payload(name, points_selector=[6], wait=True)
    model[6] = {}
    _check_model(http, client, name, model, "clear_payload")

    client.delete(name, points_selector=[1], wait=True)
    del model[1]
    _check_model(http, client, name, model, "delete")

    client.delete(
        name,
        points_selector=models.Filter(
            must=[models.FieldCondition(key="n", range=models.Range(gte=40))]
        ),
        wait=True,
    )
    for pid in [
        pid
        for pid, p in model.items()
        if ref.matches({"must": [{"key": "n", "range": {"gte": 40}}]}, pid, p)
    ]:
        del model[pid]
    _check_model(http, client, name, model, "delete by filter")

    body = {
        "operations": [
            {
                "upsert": {
                    "points": [{"id": 8, "vector": [1.0, 0.0], "payload": {"color": "red", "n": 8}}]
                }
            },
            {"set_payload": {"payload": {"color": "green"}, "points": [8]}},
            {"delete": {"points": [2]}},
        ]
    }
    results = ok(http.post(f"/collections/{name}/points/batch", params={"wait": "true"}, json=body))
    assert [r["status"] for r in results] == ["completed"] * 3
    model[8] = {"color": "green", "n": 8}
    del model[2]
    _check_model(http, client, name, model, "batch update")


# ------------------------------------------------------------------------------ persistence


@pytest.mark.durability
def test_indexes_survive_kill_and_restart(fresh_node):
    node = fresh_node()
    http = node.http
    name = "idx_restart"
    create_collection(http, name, {"vectors": VECTORS})
    payloads = {
        i: {
            "k": ["a", "b", "c"][i % 3],
            "n": i,
            "t": f"word{i % 4} common",
            "d": f"2024-01-{1 + i % 28:02d}",
        }
        for i in range(1, 61)
    }
    put_points(http, name, payloads)
    create_index(http, name, "k", "keyword")
    create_index(http, name, "n", {"type": "integer", "lookup": False, "range": True})
    create_index(http, name, "t", {"type": "text", "tokenizer": "whitespace", "lowercase": True})
    create_index(http, name, "d", "datetime")
    put_points(http, name, {61: {"k": "a", "n": 61}})  # a write after the indexes
    filters = [
        {"must": [{"key": "k", "match": {"value": "a"}}]},
        {"must": [{"key": "n", "range": {"gt": 30}}]},
        {"must": [{"key": "t", "match": {"text": "word2"}}]},
        {"must": [{"key": "d", "range": {"lt": "2024-01-10T00:00:00Z"}}]},
    ]
    schema_before = schema_of(http, name)
    counts_before = [api.count(http, name, f) for f in filters]
    assert counts_before == [21, 31, 15, 22]

    node.kill()
    node.start()
    node.wait_ready(timeout=60)
    http = node.http

    assert schema_of(http, name) == schema_before
    assert [api.count(http, name, f) for f in filters] == counts_before
    ok(http.post(f"/collections/{name}/points/scroll", json={"order_by": "n", "limit": 1}))
    # still maintained after the restart
    put_points(http, name, {62: {"k": "a", "n": 62, "t": "word2"}})
    assert [api.count(http, name, f) for f in filters] == [
        c + d for c, d in zip(counts_before, [1, 1, 1, 0], strict=True)
    ]


def _query_ids(client, name, flt) -> list:
    hits = client.query_points(
        name,
        query=[1.0, 0.0],
        query_filter=_model(flt),
        limit=100,
        search_params=models.SearchParams(exact=True),
        with_payload=False,
    ).points
    return sorted(h.id for h in hits)


def test_query_follows_index_changes(http, client, collection_name):
    """Creating / dropping a full-text index changes what `match.text` allows; a filtered
    query must agree with scroll right after, without any point write in between."""
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(
        http, collection_name, {1: {"t": "television"}, 2: {"t": "tele vision"}, 3: {"t": "radio"}}
    )
    flt = {"must": [{"key": "t", "match": {"text": "tele"}}]}
    assert scroll_ids(client, collection_name, flt) == [2]  # no index: whole words
    assert _query_ids(client, collection_name, flt) == [2]
    create_index(http, collection_name, "t", {"type": "text", "tokenizer": "prefix"})
    assert scroll_ids(client, collection_name, flt) == [1, 2]  # prefix tokenizer: "tele..." too
    assert _query_ids(client, collection_name, flt) == [1, 2]
    api.update_ok(http.delete(f"/collections/{collection_name}/index/t", params={"wait": "true"}))
    assert scroll_ids(client, collection_name, flt) == [2]
    assert _query_ids(client, collection_name, flt) == [2]


def test_index_and_facet_through_the_client(http, client, collection_name):
    """create_payload_index / facet / delete_payload_index through qdrant-client."""
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(
        http,
        collection_name,
        {1: {"k": "a", "n": 1}, 2: {"k": ["a", "b"], "n": 2}, 3: {"k": "c", "n": 1}},
    )
    client.create_payload_index(
        collection_name, "k", field_schema=models.PayloadSchemaType.KEYWORD, wait=True
    )
    client.create_payload_index(
        collection_name,
        "n",
        field_schema=models.IntegerIndexParams(type="integer", lookup=True, range=False),
        wait=True,
    )
    assert schema_of(http, collection_name) == {
        "k": {"data_type": "keyword", "points": 3},
        "n": {
            "data_type": "integer",
            "params": {"type": "integer", "lookup": True, "range": False},
            "points": 3,
        },
    }
    info = client.get_collection(collection_name).payload_schema
    assert info["k"].data_type == models.PayloadSchemaType.KEYWORD and info["k"].points == 3
    hits = client.facet(collection_name, "k", exact=True).hits
    assert (hits[0].value, hits[0].count) == ("a", 2)  # the order of the ties is not asserted
    assert sorted((h.value, h.count) for h in hits) == [("a", 2), ("b", 1), ("c", 1)]
    flt = models.Filter(must=[models.FieldCondition(key="n", match=models.MatchValue(value=1))])
    hits = client.facet(collection_name, "k", facet_filter=flt).hits
    assert sorted((h.value, h.count) for h in hits) == [("a", 1), ("c", 1)]
    client.delete_payload_index(collection_name, "k", wait=True)
    assert set(schema_of(http, collection_name)) == {"n"}


def test_indexes_follow_vacuum(http, client, collection_name):
    """Enough deleted points make the optimizer compact the shard (offsets move); every index
    must still answer for the surviving points, and keep being maintained afterwards."""
    name = collection_name
    create_collection(
        http,
        name,
        {
            "vectors": VECTORS,
            "optimizers_config": {"deleted_threshold": 0.1, "vacuum_min_vector_number": 100},
        },
    )
    schemas = {
        "k": "keyword",
        "n": "integer",
        "f": "float",
        "g": "geo",
        "t": "text",
        "d": "datetime",
    }
    for key, schema in schemas.items():
        create_index(http, name, key, schema)

    def payload(i: int) -> dict:
        return {
            "k": ["x", "y", "z"][i % 3],
            "n": i % 10,
            "f": i / 4,
            "g": {"lon": 13.0 + i / 100, "lat": 52.0},
            "t": f"w{i % 5} all",
            "d": f"2024-02-{1 + i % 28:02d}T00:00:00Z",
        }

    model = {i: payload(i) for i in range(300)}
    put_points(http, name, model)
    doomed = [i for i in range(300) if i % 4 != 0]  # 225 of 300 deleted
    api.post_update(http, f"/collections/{name}/points/delete", {"points": doomed})
    for i in doomed:
        del model[i]
    # the optimizer looks for work every ~0.2 s; vacuum leaves no trace in the API, so give it
    # time to run (the checks hold either way, they just test less if it has not)
    time.sleep(1.0)
    api.wait_until(
        lambda: api.collection_info(http, name)["status"] == "green", timeout=30, what="green"
    )

    filters = [
        {"must": [{"key": "k", "match": {"value": "x"}}]},
        {"must": [{"key": "n", "match": {"any": [0, 4]}}]},
        {"must": [{"key": "n", "range": {"gte": 6}}]},
        {"must": [{"key": "f", "range": {"lt": 20}}]},
        {
            "must": [
                {
                    "key": "g",
                    "geo_bounding_box": {
                        "top_left": {"lon": 13.5, "lat": 53},
                        "bottom_right": {"lon": 14.5, "lat": 51},
                    },
                }
            ]
        },
        {"must": [{"key": "t", "match": {"text": "w4"}}]},
        {"must": [{"key": "d", "range": {"lt": "2024-02-10T00:00:00Z"}}]},
    ]

    def verify(step: str) -> None:
        triples = [(pid, p, {""}) for pid, p in sorted(model.items())]
        for flt in filters:
            assert scroll_ids(client, name, flt) == ref.select(flt, triples), f"{step}: {flt}"
        assert {k: v["points"] for k, v in schema_of(http, name).items()} == dict.fromkeys(
            schemas, len(model)
        ), step
        hits = ok(http.post(f"/collections/{name}/facet", json={"key": "n", "limit": 100}))["hits"]
        expected = {}
        for p in model.values():
            expected[p["n"]] = expected.get(p["n"], 0) + 1
        assert {h["value"]: h["count"] for h in hits} == expected, step
        records, _ = client.scroll(
            name, order_by=models.OrderBy(key="f"), limit=len(model) + 5, with_payload=False
        )
        assert [r.id for r in records] == sorted(model), step

    verify("after vacuum")
    more = {i: payload(i) for i in range(300, 330)}
    put_points(http, name, more)
    model.update(more)
    api.post_update(
        http,
        f"/collections/{name}/points/payload",
        {"payload": {"k": "x", "n": 9}, "points": [0, 4, 8]},
    )
    for i in (0, 4, 8):
        model[i] = {**model[i], "k": "x", "n": 9}
    api.post_update(http, f"/collections/{name}/points/delete", {"points": [12, 16]})
    del model[12], model[16]
    verify("writes after vacuum")


def test_language_stopwords_are_refused_not_ignored(http, collection_name):
    """Per-language stop-word lists are not available: the index is refused with a message that
    says so (filtering with a different list than Qdrant's would silently change answers)."""
    create_collection(http, collection_name, {"vectors": VECTORS})
    resp = http.put(
        f"/collections/{collection_name}/index",
        json={"field_name": "t", "field_schema": {"type": "text", "stopwords": "english"}},
    )
    api.error(resp, 400, contains="Stopwords by language")
    assert "t" not in schema_of(http, collection_name)
