"""Filters by example: min_should, nested (per-element) conditions, conditional updates
(``update_filter`` on upsert and update-vectors), ``order_by``, facets, and the errors a bad
filter / order_by / facet request gets.

Indexes are created and facets asked over raw HTTP (so that the exact JSON is checked);
scroll / count / query / writes go through qdrant-client on every transport.
"""

from __future__ import annotations

import pytest
from qdrant_client import models

from tests.support import api
from tests.support import reference_filter as ref
from tests.support.api import create_collection, error, ok

VECTORS = {"size": 2, "distance": "Dot"}


def put_points(http, name, payloads: dict, vectors: dict | None = None) -> None:
    points = [
        {"id": pid, "vector": (vectors or {}).get(pid, [1.0, float(i)]), "payload": payload}
        for i, (pid, payload) in enumerate(payloads.items())
    ]
    api.upsert(http, name, points)


def create_index(http, name, field, schema) -> None:
    api.update_ok(
        http.put(
            f"/collections/{name}/index",
            params={"wait": "true"},
            json={"field_name": field, "field_schema": schema},
        )
    )


def scroll_ids(client, name, flt: dict | None) -> list:
    model = models.Filter.model_validate(flt) if flt is not None else None
    records, offset = client.scroll(name, scroll_filter=model, limit=1000, with_payload=False)
    assert offset is None
    return [r.id for r in records]


def count(client, name, flt: dict | None) -> int:
    model = models.Filter.model_validate(flt) if flt is not None else None
    return client.count(name, count_filter=model, exact=True).count


def expect(client, name, flt: dict, ids: list, payloads: dict | None = None) -> None:
    """scroll and count give ``ids``; and so does the reference evaluator when given payloads."""
    assert scroll_ids(client, name, flt) == ids, flt
    assert count(client, name, flt) == len(ids), flt
    if payloads is not None:
        assert ref.select(flt, [(pid, p, {""}) for pid, p in payloads.items()]) == ids, (
            f"reference disagrees with the hand-written expectation for {flt}"
        )


# ------------------------------------------------------------------------------ min_should

MS_PAYLOADS = {
    1: {"a": 1, "b": 1, "c": 1},
    2: {"a": 1, "b": 1},
    3: {"a": 1},
    4: {"b": 1, "c": 1},
    5: {},
}
A, B, C = ({"key": k, "match": {"value": 1}} for k in "abc")


@pytest.mark.parametrize(
    "flt, ids",
    [
        ({"min_should": {"conditions": [A, B, C], "min_count": 1}}, [1, 2, 3, 4]),
        ({"min_should": {"conditions": [A, B, C], "min_count": 2}}, [1, 2, 4]),
        ({"min_should": {"conditions": [A, B, C], "min_count": 3}}, [1]),
        ({"min_should": {"conditions": [A, B], "min_count": 3}}, []),  # more than there are
        ({"min_should": {"conditions": [], "min_count": 2}}, [1, 2, 3, 4, 5]),  # no constraint
        ({"must": [A], "min_should": {"conditions": [B, C], "min_count": 1}}, [1, 2]),
        ({"must_not": [A], "min_should": {"conditions": [B, C], "min_count": 2}}, [4]),
        ({"should": [C], "min_should": {"conditions": [A, B], "min_count": 2}}, [1]),
        (
            {
                "min_should": {
                    "conditions": [{"must_not": [A]}, {"has_id": [1, 2, 5]}],
                    "min_count": 2,
                }
            },
            [5],
        ),
        ({"should": []}, [1, 2, 3, 4, 5]),  # an empty should is no constraint
        ({}, [1, 2, 3, 4, 5]),
    ],
    ids=lambda v: str(v) if isinstance(v, list) else None,
)
def test_min_should(http, client, collection_name, flt, ids):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, MS_PAYLOADS)
    expect(client, collection_name, flt, ids, MS_PAYLOADS)


def test_min_should_min_count_zero_is_422(http, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    body = {"filter": {"min_should": {"conditions": [A], "min_count": 0}}}
    error(
        http.post(f"/collections/{collection_name}/points/count", json=body),
        422,
        contains=["min_should.min_count", "must be 1 or larger"],
        prefix="Validation error in JSON body: ",
    )


# ------------------------------------------------------------------------------ nested

NESTED_PAYLOADS = {
    1: {"items": [{"name": "apple", "qty": 1}, {"name": "pear", "qty": 9}]},
    2: {"items": [{"name": "apple", "qty": 7}]},
    3: {
        "items": [
            {"name": "pear", "qty": 2, "tags": []},
            {"name": "plum", "qty": 3, "tags": ["ripe"]},
        ]
    },
    4: {"items": []},
    5: {"items": {"name": "apple", "qty": 8}},  # an object, not an array
    6: {"items": [5, "apple", None, {"name": "apple", "qty": 8}]},
    7: {"other": 1},
    8: {"box": {"items": [{"name": "apple", "qty": 9}]}},
}
APPLE = {"key": "name", "match": {"value": "apple"}}
MANY = {"key": "qty", "range": {"gte": 5}}


@pytest.mark.parametrize(
    "flt, ids",
    [
        # the same element must be an apple with qty >= 5 ...
        ({"must": [{"nested": {"key": "items", "filter": {"must": [APPLE, MANY]}}}]}, [2, 6]),
        # ... which flat conditions over items[] do not require
        (
            {
                "must": [
                    {"key": "items[].name", "match": {"value": "apple"}},
                    {"key": "items[].qty", "range": {"gte": 5}},
                ]
            },
            [1, 2, 6],
        ),
        ({"must": [{"nested": {"key": "items[]", "filter": {"must": [APPLE, MANY]}}}]}, [2, 6]),
        # an element that is not an apple
        ({"must": [{"nested": {"key": "items", "filter": {"must_not": [APPLE]}}}]}, [1, 3]),
        # no element is an apple (points without items too)
        (
            {"must_not": [{"nested": {"key": "items", "filter": {"must": [APPLE]}}}]},
            [3, 4, 5, 7, 8],
        ),
        (
            {
                "must": [
                    {
                        "nested": {
                            "key": "items",
                            "filter": {
                                "should": [APPLE, {"key": "qty", "range": {"lt": 3}}],
                                "must_not": [{"key": "qty", "range": {"gt": 7}}],
                            },
                        }
                    }
                ]
            },
            [1, 2, 3],
        ),
        (
            {
                "must": [
                    {
                        "nested": {
                            "key": "items",
                            "filter": {
                                "must": [
                                    {"is_empty": {"key": "tags"}},
                                    {"key": "name", "match": {"value": "pear"}},
                                ]
                            },
                        }
                    }
                ]
            },
            [1, 3],
        ),
        (
            {
                "must": [
                    {
                        "nested": {
                            "key": "items",
                            "filter": {
                                "min_should": {
                                    "conditions": [
                                        APPLE,
                                        MANY,
                                        {"key": "qty", "match": {"value": 3}},
                                    ],
                                    "min_count": 2,
                                }
                            },
                        }
                    }
                ]
            },
            [2, 6],
        ),
        ({"must": [{"nested": {"key": "box.items", "filter": {"must": [APPLE, MANY]}}}]}, [8]),
        # has_id never holds inside nested
        ({"must": [{"nested": {"key": "items", "filter": {"must": [{"has_id": [1, 2, 3]}]}}}]}, []),
        (
            {
                "must": [
                    {"nested": {"key": "items", "filter": {"must_not": [{"has_id": [1, 2, 3]}]}}}
                ]
            },
            [1, 2, 3, 6],
        ),
    ],
    ids=lambda v: str(v) if isinstance(v, list) else None,
)
def test_nested_per_element(http, client, collection_name, flt, ids):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, NESTED_PAYLOADS)
    expect(client, collection_name, flt, ids, NESTED_PAYLOADS)


def test_nested_with_payload_index(http, client, collection_name):
    """An index on the nested key does not change the per-element semantics."""
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, NESTED_PAYLOADS)
    create_index(http, collection_name, "items[].name", "keyword")
    create_index(http, collection_name, "items[].qty", "integer")
    flt = {"must": [{"nested": {"key": "items", "filter": {"must": [APPLE, MANY]}}}]}
    expect(client, collection_name, flt, [2, 6])
    flat = {
        "must": [
            {"key": "items[].name", "match": {"value": "apple"}},
            {"key": "items[].qty", "range": {"gte": 5}},
        ]
    }
    expect(client, collection_name, flat, [1, 2, 6])


def test_query_with_nested_filter(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    vectors = {pid: [1.0, float(pid)] for pid in NESTED_PAYLOADS}
    put_points(http, collection_name, NESTED_PAYLOADS, vectors)
    flt = models.Filter.model_validate(
        {"must": [{"nested": {"key": "items", "filter": {"must": [APPLE, MANY]}}}]}
    )
    hits = client.query_points(
        collection_name,
        query=[0.0, 1.0],
        query_filter=flt,
        limit=10,
        search_params=models.SearchParams(exact=True),
    ).points
    assert [h.id for h in hits] == [6, 2]
    assert [h.score for h in hits] == [6.0, 2.0]


# ------------------------------------------------------------------------------ update_filter


def _state(http, name) -> dict:
    return {
        r["id"]: (r["payload"], r["vector"]) for r in api.scroll_all(http, name, with_vector=True)
    }


def test_upsert_with_update_filter(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(
        http,
        collection_name,
        {1: {"version": 1}, 2: {"version": 2}, 3: {"version": 1, "tag": "x"}},
        {1: [1.0, 1.0], 2: [2.0, 2.0], 3: [3.0, 3.0]},
    )
    only_v1 = models.Filter(
        must=[models.FieldCondition(key="version", match=models.MatchValue(value=1))]
    )
    result = client.upsert(
        collection_name,
        points=[
            models.PointStruct(id=1, vector=[10.0, 10.0], payload={"version": 5}),
            models.PointStruct(id=2, vector=[20.0, 20.0], payload={"version": 5}),
            models.PointStruct(id=4, vector=[40.0, 40.0], payload={"version": 5}),  # new: inserted
        ],
        update_filter=only_v1,
        wait=True,
    )
    assert result.status == models.UpdateStatus.COMPLETED
    state = _state(http, collection_name)
    assert state == {
        1: ({"version": 5}, [10.0, 10.0]),
        2: ({"version": 2}, [2.0, 2.0]),  # fails the filter: left untouched
        3: ({"version": 1, "tag": "x"}, [3.0, 3.0]),  # not in the request
        4: ({"version": 5}, [40.0, 40.0]),
    }
    assert (
        count(client, collection_name, {"must": [{"key": "version", "match": {"value": 5}}]}) == 2
    )


def test_upsert_update_filter_raw_http_and_index(http, collection_name):
    """The raw body field `update_filter`, with the filtered key indexed."""
    create_collection(http, collection_name, {"vectors": VECTORS})
    create_index(http, collection_name, "owner", "keyword")
    put_points(
        http,
        collection_name,
        {1: {"owner": "alice"}, 2: {"owner": "bob"}},
        {1: [1.0, 0.0], 2: [2.0, 0.0]},
    )
    body = {
        "points": [
            {"id": 1, "vector": [0.0, 1.0], "payload": {"owner": "carol"}},
            {"id": 2, "vector": [0.0, 2.0], "payload": {"owner": "carol"}},
        ],
        "update_filter": {"must": [{"key": "owner", "match": {"value": "bob"}}]},
    }
    api.update_ok(
        http.put(f"/collections/{collection_name}/points", params={"wait": "true"}, json=body)
    )
    assert _state(http, collection_name) == {
        1: ({"owner": "alice"}, [1.0, 0.0]),
        2: ({"owner": "carol"}, [0.0, 2.0]),
    }
    assert (
        api.count(http, collection_name, {"must": [{"key": "owner", "match": {"value": "carol"}}]})
        == 1
    )
    assert (
        api.count(http, collection_name, {"must": [{"key": "owner", "match": {"value": "bob"}}]})
        == 0
    )


def test_update_vectors_with_update_filter(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(
        http,
        collection_name,
        {1: {"ok": True}, 2: {"ok": False}, 3: {}},
        {1: [1.0, 1.0], 2: [2.0, 2.0], 3: [3.0, 3.0]},
    )
    client.update_vectors(
        collection_name,
        points=[models.PointVectors(id=pid, vector=[9.0, float(pid)]) for pid in (1, 2, 3)],
        update_filter=models.Filter(
            must=[models.FieldCondition(key="ok", match=models.MatchValue(value=True))]
        ),
        wait=True,
    )
    state = _state(http, collection_name)
    assert state[1] == ({"ok": True}, [9.0, 1.0])
    assert state[2] == ({"ok": False}, [2.0, 2.0])
    assert state[3] == ({}, [3.0, 3.0])


# ------------------------------------------------------------------------------ order_by

ORDER_PAYLOADS = {
    1: {"n": 30, "f": 0.5, "t": "2024-03-01T00:00:00Z", "g": "b"},
    2: {"n": 10, "f": -1.5, "t": "2024-01-01T00:00:00Z", "g": "a"},
    3: {"n": 20, "f": 2.25, "t": "2024-02-01T00:00:00Z", "g": "b"},
    4: {"n": 50, "f": 9.0, "t": "2023-12-01T00:00:00+01:00", "g": "a"},
    5: {"n": 40, "f": 3.0, "g": "c"},
    6: {"g": "a"},  # no value: never listed
    7: {"n": None, "f": "x", "t": "not a date"},
}


@pytest.fixture
def ordered_collection(http, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, ORDER_PAYLOADS)
    create_index(http, collection_name, "n", "integer")
    create_index(http, collection_name, "f", "float")
    create_index(http, collection_name, "t", "datetime")
    return collection_name


@pytest.mark.parametrize(
    "order_by, limit, flt, ids, values",
    [
        ({"key": "n"}, 10, None, [2, 3, 1, 5, 4], [10, 20, 30, 40, 50]),
        ({"key": "n", "direction": "asc"}, 2, None, [2, 3], [10, 20]),
        ({"key": "n", "direction": "desc"}, 10, None, [4, 5, 1, 3, 2], [50, 40, 30, 20, 10]),
        ({"key": "n", "start_from": 25}, 10, None, [1, 5, 4], [30, 40, 50]),
        ({"key": "n", "start_from": 30}, 2, None, [1, 5], [30, 40]),
        ({"key": "n", "direction": "desc", "start_from": 30}, 10, None, [1, 3, 2], [30, 20, 10]),
        ({"key": "n"}, 10, {"must": [{"key": "g", "match": {"value": "b"}}]}, [3, 1], [20, 30]),
        ({"key": "f"}, 10, None, [2, 1, 3, 5, 4], [-1.5, 0.5, 2.25, 3.0, 9.0]),
        (
            {"key": "f", "direction": "desc", "start_from": 2.5},
            10,
            None,
            [3, 1, 2],
            [2.25, 0.5, -1.5],
        ),
        ({"key": "t"}, 10, None, [4, 2, 3, 1], None),
        (
            {"key": "t", "direction": "desc", "start_from": "2024-01-15T00:00:00Z"},
            10,
            None,
            [2, 4],
            None,
        ),
    ],
    ids=lambda v: str(v) if isinstance(v, list) else None,
)
def test_order_by(http, client, ordered_collection, order_by, limit, flt, ids, values):
    model = models.Filter.model_validate(flt) if flt else None
    records, next_offset = client.scroll(
        ordered_collection, scroll_filter=model, limit=limit, order_by=models.OrderBy(**order_by)
    )
    assert [r.id for r in records] == ids
    assert next_offset is None
    if values is not None:
        assert [r.order_value for r in records] == values
    # the raw response: next_page_offset is null, order_value present
    body = {"limit": limit, "order_by": order_by, "filter": flt}
    result = ok(http.post(f"/collections/{ordered_collection}/points/scroll", json=body))
    assert result["next_page_offset"] is None
    assert [p["id"] for p in result["points"]] == ids
    if values is not None:
        assert [p["order_value"] for p in result["points"]] == values


def test_order_by_key_as_string(http, ordered_collection):
    result = ok(
        http.post(
            f"/collections/{ordered_collection}/points/scroll", json={"order_by": "n", "limit": 3}
        )
    )
    assert [p["id"] for p in result["points"]] == [2, 3, 1]
    assert result["next_page_offset"] is None


def test_order_by_pagination_with_start_from_and_must_not(client, ordered_collection):
    """The documented way to page: start_from the last value, must_not the ids already seen."""
    seen: list = []
    start = None
    for _ in range(10):
        flt = models.Filter(must_not=[models.HasIdCondition(has_id=seen)]) if seen else None
        records, _ = client.scroll(
            ordered_collection,
            scroll_filter=flt,
            limit=2,
            order_by=models.OrderBy(key="n", start_from=start),
        )
        if not records:
            break
        seen += [r.id for r in records]
        start = records[-1].order_value
    assert seen == [2, 3, 1, 5, 4]


def test_order_by_without_range_index(http, ordered_collection):
    name = ordered_collection
    for key in ("g", "missing"):
        error(
            http.post(f"/collections/{name}/points/scroll", json={"order_by": {"key": key}}),
            400,
            contains=[
                f"No range index for `order_by` key: `{key}`",
                "Please create one to use `order_by`",
            ],
            prefix="Bad request: ",
        )
    create_index(http, name, "g", "keyword")  # a keyword index does not support ranges
    error(
        http.post(f"/collections/{name}/points/scroll", json={"order_by": "g"}),
        400,
        contains="No range index for `order_by` key: `g`",
    )


def test_order_by_integer_index_without_range(http, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, ORDER_PAYLOADS)
    create_index(http, collection_name, "n", {"type": "integer", "lookup": True, "range": False})
    error(
        http.post(f"/collections/{collection_name}/points/scroll", json={"order_by": "n"}),
        400,
        contains="No range index for `order_by` key: `n`",
    )


def test_order_by_with_offset_is_400(http, ordered_collection):
    body = {"order_by": {"key": "n"}, "offset": 1}
    error(
        http.post(f"/collections/{ordered_collection}/points/scroll", json=body),
        400,
        contains=["offset", "order_by", "start_from"],
        prefix="Bad request: ",
    )


# ------------------------------------------------------------------------------ facet

FACET_PAYLOADS = {
    1: {"color": "red", "size": 1, "ok": True},
    2: {"color": "red", "size": 2, "ok": True},
    3: {"color": ["red", "green"], "size": [1, 2], "ok": False},
    4: {"color": "red", "size": 1, "ok": True},
    5: {"color": "green", "size": 3},
    6: {"color": "green", "size": 1, "ok": False},
    7: {"color": "blue", "size": 1, "ok": True},
    8: {"color": "red", "size": 2},
    9: {"color": None, "size": "x"},
    10: {},
}


@pytest.fixture
def facet_collection(http, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, FACET_PAYLOADS)
    create_index(http, collection_name, "color", "keyword")
    create_index(http, collection_name, "size", "integer")
    create_index(http, collection_name, "ok", "bool")
    return collection_name


def facet(http, name, body) -> list:
    result = ok(http.post(f"/collections/{name}/facet", json=body))
    assert set(result) == {"hits"}
    return [(h["value"], h["count"]) for h in result["hits"]]


@pytest.mark.parametrize("exact", [None, False, True])
def test_facet_counts(http, facet_collection, exact):
    body = {"key": "color"}
    if exact is not None:
        body["exact"] = exact
    assert facet(http, facet_collection, body) == [("red", 5), ("green", 3), ("blue", 1)]


def test_facet_integer_and_bool(http, facet_collection):
    assert facet(http, facet_collection, {"key": "size", "exact": True}) == [(1, 5), (2, 3), (3, 1)]
    assert facet(http, facet_collection, {"key": "ok"}) == [(True, 4), (False, 2)]


def test_facet_limit_and_filter(http, facet_collection):
    name = facet_collection
    assert facet(http, name, {"key": "color", "limit": 2}) == [("red", 5), ("green", 3)]
    assert facet(http, name, {"key": "color", "limit": 1}) == [("red", 5)]
    flt = {"must": [{"key": "size", "match": {"value": 1}}]}
    assert facet(http, name, {"key": "color", "filter": flt}) == [
        ("red", 3),
        ("green", 2),
        ("blue", 1),
    ]
    flt = {"must_not": [{"key": "ok", "match": {"value": True}}]}
    assert facet(http, name, {"key": "color", "filter": flt, "exact": True}) == [
        ("green", 3),
        ("red", 2),
    ]
    flt = {"must": [{"has_id": [99]}]}
    assert facet(http, name, {"key": "color", "filter": flt}) == []


def test_facet_counts_follow_writes(http, facet_collection):
    name = facet_collection
    api.post_update(
        http,
        f"/collections/{name}/points/payload",
        {"payload": {"color": "blue"}, "points": [1, 2]},
    )
    api.post_update(http, f"/collections/{name}/points/delete", {"points": [8]})
    hits = facet(http, name, {"key": "color"})
    assert [c for _, c in hits] == [
        3,
        3,
        2,
    ]  # most frequent first (the order of ties is not asserted)
    assert set(hits) == {("blue", 3), ("green", 3), ("red", 2)}


def test_facet_on_a_uuid_index(http, client, collection_name):
    """REST and gRPC: values of a uuid index, counted (lowercase, as the index keeps them)."""
    a, b = "550e8400-e29b-41d4-a716-446655440000", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, dict(enumerate(
        [{"u": a}, {"u": a.upper()}, {"u": b}, {"u": [a, b]}, {}], start=1)))
    create_index(http, collection_name, "u", "uuid")
    assert set(facet(http, collection_name, {"key": "u"})) == {(a, 3), (b, 2)}
    hits = client.facet(collection_name, "u")
    assert {(h.value, h.count) for h in hits.hits} == {(a, 3), (b, 2)}


def test_facet_without_index(http, facet_collection):
    for key in ("missing", "color.x"):
        msg = error(http.post(f"/collections/{facet_collection}/facet", json={"key": key}), 400)
        assert key in msg and "ndex" in msg, msg


def test_facet_on_unsupported_index_type(http, facet_collection):
    create_index(http, facet_collection, "title", "text")
    msg = error(http.post(f"/collections/{facet_collection}/facet", json={"key": "title"}), 400)
    assert "title" in msg and "keyword" in msg, msg


def test_facet_missing_collection(http):
    error(
        http.post("/collections/no_such_collection_facet/facet", json={"key": "color"}),
        404,
        prefix="Not found: ",
    )


# ------------------------------------------------------------------------------ bad input

FORMAT = "Format error in JSON body: "
BAD_FILTERS = [
    ("unknown condition", {"must": [{"foo": 1}]}, 400, ["Expected some form of condition"]),
    ("condition not an object", {"must": [42]}, 400, ["Expected some form of condition"]),
    ("unknown match kind", {"must": [{"key": "a", "match": {"regex": "x"}}]}, 400, ["match"]),
    ("range bool", {"must": [{"key": "a", "range": {"gt": True}}]}, 400, ["range"]),
    ("range list", {"must": [{"key": "a", "range": {"gte": [1]}}]}, 400, ["range"]),
    ("range object", {"must": [{"key": "a", "range": {"lt": {"x": 1}}}]}, 400, ["range"]),
    (
        "datetime does not parse",
        {"must": [{"key": "a", "range": {"gt": "next tuesday"}}]},
        400,
        ["'next tuesday'", "RFC 3339"],
    ),
    (
        "geo radius lat 100",
        {"must": [{"key": "g", "geo_radius": {"center": {"lon": 10, "lat": 100}, "radius": 5}}]},
        400,
        ["lat", "100", "[-90;90]"],
    ),
    (
        "geo box lon 200",
        {
            "must": [
                {
                    "key": "g",
                    "geo_bounding_box": {
                        "top_left": {"lon": 200, "lat": 10},
                        "bottom_right": {"lon": 10, "lat": 0},
                    },
                }
            ]
        },
        400,
        ["lon", "200", "[-180;180]"],
    ),
    (
        "polygon too short",
        {
            "must": [
                {
                    "key": "g",
                    "geo_polygon": {
                        "exterior": {
                            "points": [
                                {"lon": 0, "lat": 0},
                                {"lon": 1, "lat": 0},
                                {"lon": 0, "lat": 0},
                            ]
                        }
                    },
                }
            ]
        },
        400,
        ["polygon"],
    ),
    (
        "polygon not closed",
        {
            "must": [
                {
                    "key": "g",
                    "geo_polygon": {
                        "exterior": {
                            "points": [
                                {"lon": 0, "lat": 0},
                                {"lon": 1, "lat": 0},
                                {"lon": 1, "lat": 1},
                                {"lon": 0, "lat": 1},
                            ]
                        }
                    },
                }
            ]
        },
        400,
        ["polygon", "closed"],
    ),
    (
        "values_count negative",
        {"must": [{"key": "a", "values_count": {"gt": -1}}]},
        400,
        ["values_count"],
    ),
    ("match value float", {"must": [{"key": "a", "match": {"value": 1.5}}]}, 400, ["match.value"]),
    ("match any mixed", {"must": [{"key": "a", "match": {"any": ["x", 1]}}]}, 400, ["match.any"]),
    ("must not a list", {"must": "a"}, 400, ["must"]),
    ("unknown filter key", {"musts": []}, 400, ["musts"]),
    ("key only", {"must": [{"key": "a"}]}, 422, ["At least one field condition must be specified"]),
    ("nested key only", {"must": [{"nested": {"key": "items"}}]}, 400, ["filter"]),
    (
        "min_count 0",
        {"min_should": {"conditions": [{"has_id": [1]}], "min_count": 0}},
        422,
        ["min_count"],
    ),
]


@pytest.mark.parametrize("what, flt, status, parts", BAD_FILTERS, ids=[b[0] for b in BAD_FILTERS])
@pytest.mark.parametrize("endpoint", ["scroll", "count", "query"])
def test_bad_filter(http, collection_name, endpoint, what, flt, status, parts):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, {1: {"a": 1}})
    if endpoint == "query":
        resp = http.post(
            f"/collections/{collection_name}/points/query",
            json={"query": [1.0, 0.0], "filter": flt},
        )
    else:
        resp = http.post(f"/collections/{collection_name}/points/{endpoint}", json={"filter": flt})
    prefix = FORMAT if status == 400 else "Validation error in JSON body: "
    error(resp, status, contains=parts, prefix=prefix)


def test_bad_filter_in_writes_changes_nothing(http, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, {1: {"a": 1}, 2: {"a": 2}})
    bad = {"must": [{"key": "a", "range": {"gt": "not a date"}}]}
    error(
        http.post(
            f"/collections/{collection_name}/points/delete",
            params={"wait": "true"},
            json={"filter": bad},
        ),
        400,
        contains="not a date",
    )
    error(
        http.post(
            f"/collections/{collection_name}/points/payload",
            params={"wait": "true"},
            json={"payload": {"b": 1}, "filter": bad},
        ),
        400,
        contains="not a date",
    )
    body = {"points": [{"id": 1, "vector": [0.0, 0.0], "payload": {}}], "update_filter": bad}
    error(
        http.put(f"/collections/{collection_name}/points", params={"wait": "true"}, json=body),
        400,
        contains="not a date",
    )
    assert {r["id"]: r["payload"] for r in api.scroll_all(http, collection_name)} == {
        1: {"a": 1},
        2: {"a": 2},
    }


def test_bad_filter_over_client(client, collection_name, http):
    """qdrant-client surfaces the server's error whatever the transport."""
    create_collection(http, collection_name, {"vectors": VECTORS})
    flt = models.Filter(
        must=[
            models.FieldCondition(
                key="g",
                geo_radius=models.GeoRadius(center=models.GeoPoint(lon=10, lat=100), radius=5.0),
            )
        ]
    )
    with pytest.raises(Exception) as info:
        client.count(collection_name, count_filter=flt)
    assert "lat" in str(info.value) and "100" in str(info.value)


def test_a_datetime_bound_without_seconds(http, collection_name):
    """Qdrant reads ``2015-03-01T12:30`` (no seconds, no offset: UTC) in a range filter."""
    create_collection(http, collection_name, {"vectors": {"size": 2, "distance": "Dot"}})
    api.upsert(http, collection_name, [
        {"id": i, "vector": [1.0, 0.0], "payload": {"t": f"2015-03-01T12:{m:02d}:00Z"}}
        for i, m in enumerate((29, 30, 31))])
    page = ok(http.post(f"/collections/{collection_name}/points/scroll", json={
        "filter": {"must": [{"key": "t", "range": {"gte": "2015-03-01T12:30"}}]}}))
    assert [p["id"] for p in page["points"]] == [1, 2]
