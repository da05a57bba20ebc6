"""Payload indexes kept current: maintenance on every kind of write, persistence across a
crash, filtered queries right after an index is created or dropped, and compaction (vacuum).
"""

from __future__ import annotations

import time

import pytest
from qdrant_client import models

from tests.support import api
from tests.support import reference_filter as ref
from tests.support.api import create_collection, ok
from tests.support.payload_indexes import (
    BERLIN,
    PARIS,
    POTSDAM,
    VECTORS,
    create_index,
    filter_model,
    put_points,
    schema_of,
    scroll_ids,
)

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


# ----------------------------------------------------------------- index created / dropped


def _query_ids(client, name, flt) -> list:
    hits = client.query_points(
        name,
        query=[1.0, 0.0],
        query_filter=filter_model(flt),
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


# --------------------------------------------------------------------------------- vacuum


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
