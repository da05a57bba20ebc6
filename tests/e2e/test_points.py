"""Points: upsert (records and column batches), retrieve, get by id, delete, vectors and payload
updates, batch update, scroll, count, point ids, replace semantics, operation ids and versions."""

from __future__ import annotations

import random
import uuid

import pytest
from qdrant_client import models

from tests.support import api
from tests.support.api import create_collection, error, id_sort_key, ok, post_update
from tests.support.filters import select

NAMED = {"a": {"size": 3, "distance": "Dot"}, "b": {"size": 2, "distance": "Euclid"}}


def make_named(http, name):
    create_collection(http, name, {"vectors": NAMED})


def make_unnamed(http, name, size=3, distance="Dot"):
    create_collection(http, name, {"vectors": {"size": size, "distance": distance}})


def by_id(records):
    return {r["id"]: r for r in records}


def named_point(i, payload=None):
    return {"id": i, "vector": {"a": [float(i), 1.0, 0.5], "b": [0.25, float(i)]},
            "payload": payload if payload is not None else {"n": i}}


# ---------------------------------------------------------------------------- upsert


def test_upsert_points_list_and_retrieve(http, client, collection_name):
    make_unnamed(http, collection_name)
    result = client.upsert(
        collection_name,
        points=[
            models.PointStruct(id=1, vector=[1.0, 2.0, 3.0], payload={"city": "Berlin", "n": 1}),
            models.PointStruct(id=2, vector=[0.5, 0.25, 0.125],
                               payload={"city": ["Berlin", "London"]}),
            models.PointStruct(id=3, vector=[0.0, 0.0, 1.0]),
        ],
        wait=True,
    )
    assert result.status == models.UpdateStatus.COMPLETED
    assert isinstance(result.operation_id, int)

    recs = {r.id: r for r in client.retrieve(collection_name, [3, 1, 2, 999],
                                             with_payload=True, with_vectors=True)}
    assert set(recs) == {1, 2, 3}  # missing ids are skipped
    assert recs[1].payload == {"city": "Berlin", "n": 1}
    assert recs[1].vector == [1.0, 2.0, 3.0]
    assert recs[2].payload == {"city": ["Berlin", "London"]}
    assert recs[2].vector == [0.5, 0.25, 0.125]
    assert recs[3].payload == {}
    assert api.count(http, collection_name) == 3


def test_upsert_batch_raw_unnamed(http, collection_name):
    make_unnamed(http, collection_name)
    body = {"batch": {"ids": [10, 11, 12], "vectors": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                      "payloads": [{"k": "x"}, {"k": "y"}, None]}}
    api.update_ok(http.put(f"/collections/{collection_name}/points", params={"wait": "true"},
                           json=body))
    recs = by_id(api.retrieve(http, collection_name, [10, 11, 12]))
    assert recs[10]["vector"] == [1.0, 0.0, 0.0] and recs[10]["payload"] == {"k": "x"}
    assert recs[11]["vector"] == [0.0, 1.0, 0.0] and recs[11]["payload"] == {"k": "y"}
    assert recs[12]["vector"] == [0.0, 0.0, 1.0] and recs[12]["payload"] == {}


def test_upsert_batch_raw_named_without_payloads(http, collection_name):
    make_named(http, collection_name)
    body = {"batch": {"ids": [1, 2],
                      "vectors": {"a": [[1, 2, 3], [4, 5, 6]], "b": [[1, 1], [2, 2]]}}}
    api.update_ok(http.put(f"/collections/{collection_name}/points", params={"wait": "true"},
                           json=body))
    recs = by_id(api.retrieve(http, collection_name, [1, 2]))
    assert recs[1]["vector"] == {"a": [1.0, 2.0, 3.0], "b": [1.0, 1.0]}
    assert recs[2]["vector"] == {"a": [4.0, 5.0, 6.0], "b": [2.0, 2.0]}
    assert recs[1]["payload"] == {} and recs[2]["payload"] == {}


def test_upsert_batch_via_client(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
    )
    ids = [5, 6, str(uuid.UUID(int=7))]
    client.upsert(
        collection_name,
        points=models.Batch(ids=ids, vectors=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
                            payloads=[{"i": 5}, {"i": 6}, {"i": 7}]),
        wait=True,
    )
    recs = {r.id: r for r in client.retrieve(collection_name, ids, with_vectors=True)}
    assert recs[5].vector == [1.0, 0.0] and recs[5].payload == {"i": 5}
    assert recs[ids[2]].vector == [1.0, 1.0] and recs[ids[2]].payload == {"i": 7}
    assert client.count(collection_name).count == 3


def test_update_mode_insert_only_and_update_only(http, client, collection_name):
    """Qdrant's update_mode: insert_only leaves existing points alone, update_only writes
    only points that exist; both in one batch and through qdrant-client (REST and gRPC)."""
    from qdrant_client import models

    client.create_collection(collection_name, vectors_config=models.VectorParams(
        size=2, distance=models.Distance.DOT))
    client.upsert(collection_name, [models.PointStruct(id=1, vector=[1, 0], payload={"v": 1})])
    client.upsert(collection_name, [
        models.PointStruct(id=1, vector=[0, 1], payload={"v": 2}),
        models.PointStruct(id=2, vector=[0, 1], payload={"v": 2}),
    ], update_mode=models.UpdateMode.INSERT_ONLY)
    got = {p.id: p.payload["v"] for p in client.retrieve(collection_name, [1, 2])}
    assert got == {1: 1, 2: 2}
    client.upsert(collection_name, [
        models.PointStruct(id=2, vector=[1, 1], payload={"v": 3}),
        models.PointStruct(id=3, vector=[1, 1], payload={"v": 3}),
    ], update_mode=models.UpdateMode.UPDATE_ONLY)
    got = {p.id: p.payload["v"] for p in client.retrieve(collection_name, [1, 2, 3])}
    assert got == {1: 1, 2: 3}
    ok(http.put(f"/collections/{collection_name}/points", params={"wait": "true"}, json={
        "batch": {"ids": [1, 4], "vectors": [[5, 5], [5, 5]], "payloads": [{"v": 4}, {"v": 4}]},
        "update_mode": "update_only"}))
    got = {p.id: p.payload["v"] for p in client.retrieve(collection_name, [1, 4])}
    assert got == {1: 4}
    resp = http.put(f"/collections/{collection_name}/points", json={
        "points": [{"id": 9, "vector": [1, 1]}], "update_mode": "sometimes"})
    assert resp.status_code == 400 and "unknown variant `sometimes`" in resp.text
    assert client.count(collection_name).count == 2


def test_upsert_existing_id_replaces_whole_point(http, collection_name):
    make_named(http, collection_name)
    api.upsert(http, collection_name, [named_point(1, {"a": 1, "b": 2})])
    api.upsert(http, collection_name, [{"id": 1, "vector": {"a": [9, 9, 9]}, "payload": {"c": 3}}])
    (rec,) = api.retrieve(http, collection_name, [1])
    assert rec["payload"] == {"c": 3}
    assert rec["vector"] == {"a": [9.0, 9.0, 9.0]}  # "b" is gone too
    api.upsert(http, collection_name, [{"id": 1, "vector": {"b": [1, 2]}}])
    (rec,) = api.retrieve(http, collection_name, [1])
    assert rec["payload"] == {}
    assert rec["vector"] == {"b": [1.0, 2.0]}
    assert api.count(http, collection_name) == 1


def test_named_vectors_may_be_omitted_per_point(http, collection_name):
    make_named(http, collection_name)
    api.upsert(
        http,
        collection_name,
        [
            {"id": 1, "vector": {"a": [1, 0, 0]}},
            {"id": 2, "vector": {"b": [1, 0]}},
            {"id": 3, "vector": {}, "payload": {"empty": True}},
            named_point(4),
        ],
    )
    recs = by_id(api.retrieve(http, collection_name, [1, 2, 3, 4]))
    assert recs[1]["vector"] == {"a": [1.0, 0.0, 0.0]}
    assert recs[2]["vector"] == {"b": [1.0, 0.0]}
    assert not recs[3]["vector"]  # a point without any vector
    assert recs[3]["payload"] == {"empty": True}
    assert api.count(http, collection_name) == 4
    # only points that have the vector take part in a search on it
    hits = api.query(http, collection_name, {"query": [1, 1, 1], "using": "a", "limit": 10})
    assert {h["id"] for h in hits} == {1, 4}
    hits = api.query(http, collection_name, {"query": [0, 0], "using": "b", "limit": 10})
    assert {h["id"] for h in hits} == {2, 4}


# ---------------------------------------------------------------------------- retrieve


@pytest.fixture
def seeded(http, collection_name):
    make_named(http, collection_name)
    points = [named_point(i, {"n": i, "color": "red" if i % 2 else "blue", "tags": {"x": i}})
              for i in range(1, 6)]
    api.upsert(http, collection_name, points)
    return collection_name, {p["id"]: p for p in points}


def test_retrieve_payload_selectors(http, seeded):
    name, points = seeded
    recs = by_id(api.retrieve(http, name, [1, 2], with_payload=True, with_vector=False))
    assert recs[1]["payload"] == points[1]["payload"]
    assert recs[1].get("vector") is None

    recs = by_id(api.retrieve(http, name, [1], with_payload=False, with_vector=False))
    assert recs[1].get("payload") is None

    recs = by_id(api.retrieve(http, name, [1], with_payload=["n", "tags"], with_vector=False))
    assert recs[1]["payload"] == {"n": 1, "tags": {"x": 1}}

    recs = by_id(api.retrieve(http, name, [1], with_payload={"include": ["color"]},
                              with_vector=False))
    assert recs[1]["payload"] == {"color": "red"}

    recs = by_id(api.retrieve(http, name, [1], with_payload={"exclude": ["color", "tags"]},
                              with_vector=False))
    assert recs[1]["payload"] == {"n": 1}


def test_retrieve_vector_selectors(http, client, transport, seeded):
    name, points = seeded
    recs = by_id(api.retrieve(http, name, [3], with_payload=False, with_vector=True))
    assert recs[3]["vector"] == {"a": [3.0, 1.0, 0.5], "b": [0.25, 3.0]}
    recs = by_id(api.retrieve(http, name, [3], with_payload=False, with_vector=["b"]))
    assert recs[3]["vector"] == {"b": [0.25, 3.0]}
    recs = by_id(api.retrieve(http, name, [3], with_payload=False, with_vector=False))
    assert recs[3].get("vector") is None

    (rec,) = client.retrieve(name, [3], with_payload=False, with_vectors=["a"])
    assert rec.vector == {"a": [3.0, 1.0, 0.5]}
    # qdrant-client's gRPC conversion turns an absent payload into {}; REST keeps None
    assert rec.payload == ({} if transport == "grpc" else None)


def test_with_vectors_is_an_alias_of_with_vector(http, seeded):
    """Qdrant's serde alias: retrieve and scroll read ``with_vectors`` as ``with_vector``; both
    at once is serde's duplicate field."""
    name, _ = seeded
    recs = by_id(ok(http.post(f"/collections/{name}/points", json={
        "ids": [3], "with_vectors": ["b"], "with_payload": False})))
    assert recs[3]["vector"] == {"b": [0.25, 3.0]}
    page = ok(http.post(f"/collections/{name}/points/scroll", json={
        "limit": 1, "with_vectors": True, "with_payload": False}))
    assert page["points"][0]["vector"] == {"a": [1.0, 1.0, 0.5], "b": [0.25, 1.0]}
    resp = http.post(f"/collections/{name}/points/scroll", json={
        "with_vectors": True, "with_vector": False})
    assert resp.status_code == 400
    assert "duplicate field `with_vector`" in resp.json()["status"]["error"]


def test_retrieve_default_is_payload_without_vector(http, seeded):
    name, points = seeded
    recs = ok(http.post(f"/collections/{name}/points", json={"ids": [2]}))
    assert len(recs) == 1
    assert recs[0]["id"] == 2
    assert recs[0]["payload"] == points[2]["payload"]
    assert recs[0].get("vector") is None


def test_get_point_by_id(http, seeded):
    name, points = seeded
    rec = ok(http.get(f"/collections/{name}/points/4"))
    assert rec["id"] == 4
    assert rec["payload"] == points[4]["payload"]
    assert rec["vector"] == {"a": [4.0, 1.0, 0.5], "b": [0.25, 4.0]}


def test_get_missing_point_is_404(http, seeded):
    name, _ = seeded
    error(http.get(f"/collections/{name}/points/42"), 404,
          message="Not found: No point with id 42 found")
    u = "5f2b0f8e-4a43-4d5b-9a5b-6f8e1c1a2b3c"
    error(http.get(f"/collections/{name}/points/{u}"), 404,
          message=f"Not found: No point with id {u} found")


def test_get_point_invalid_id_is_400(http, seeded):
    name, _ = seeded
    error(http.get(f"/collections/{name}/points/not-an-id"), 400)


# ---------------------------------------------------------------------------- delete


def test_delete_by_ids(http, client, seeded):
    name, _ = seeded
    post_update(http, f"/collections/{name}/points/delete", {"points": [1, 2, 777]})
    assert api.count(http, name) == 3
    assert {r["id"] for r in api.retrieve(http, name, [1, 2, 3])} == {3}
    client.delete(name, points_selector=models.PointIdsList(points=[3]))
    assert api.count(http, name) == 2


def test_an_id_named_twice_is_deleted_once_with_the_rest(http, client, seeded):
    """A 500 before (the second occurrence looked up a point already gone), and the ids
    after it in the request stayed."""
    name, _ = seeded
    post_update(http, f"/collections/{name}/points/delete", {"points": [1, 1, 2]})
    assert {r["id"] for r in api.retrieve(http, name, [1, 2, 3])} == {3}
    client.delete(name, points_selector=models.PointIdsList(points=[3, 3, 4]))
    assert api.count(http, name) == 1
    post_update(http, f"/collections/{name}/points/payload",
                {"points": [5, 5], "payload": {"twice": True}})
    assert api.retrieve(http, name, [5])[0]["payload"]["twice"] is True


def test_delete_by_filter(http, client, seeded):
    name, points = seeded
    post_update(http, f"/collections/{name}/points/delete",
                {"filter": {"must": [{"key": "color", "match": {"value": "red"}}]}})
    remaining = {p["id"] for p in api.scroll_all(http, name)}
    assert remaining == {2, 4}
    client.delete(name, points_selector=models.FilterSelector(
        filter=models.Filter(must=[models.HasIdCondition(has_id=[2])])))
    assert {p["id"] for p in api.scroll_all(http, name)} == {4}


# ---------------------------------------------------------------------------- vectors


def test_update_vectors_only_touches_given_names(http, client, seeded):
    name, points = seeded
    api.update_ok(http.put(f"/collections/{name}/points/vectors", params={"wait": "true"},
                           json={"points": [{"id": 1, "vector": {"a": [7, 7, 7]}}]}))
    (rec,) = api.retrieve(http, name, [1])
    assert rec["vector"] == {"a": [7.0, 7.0, 7.0], "b": [0.25, 1.0]}
    assert rec["payload"] == points[1]["payload"]

    client.update_vectors(name, points=[models.PointVectors(id=2, vector={"b": [5.0, 5.0]})])
    (rec,) = api.retrieve(http, name, [2])
    assert rec["vector"] == {"a": [2.0, 1.0, 0.5], "b": [5.0, 5.0]}


def test_update_vectors_unnamed(http, collection_name):
    make_unnamed(http, collection_name)
    api.upsert(http, collection_name, [{"id": 1, "vector": [1, 2, 3], "payload": {"p": 1}}])
    api.update_ok(http.put(f"/collections/{collection_name}/points/vectors",
                           params={"wait": "true"},
                           json={"points": [{"id": 1, "vector": [3, 2, 1]}]}))
    (rec,) = api.retrieve(http, collection_name, [1])
    assert rec["vector"] == [3.0, 2.0, 1.0]
    assert rec["payload"] == {"p": 1}


def test_delete_vectors(http, client, seeded):
    name, points = seeded
    post_update(http, f"/collections/{name}/points/vectors/delete",
                {"points": [1, 2], "vector": ["b"]})
    recs = by_id(api.retrieve(http, name, [1, 2, 3]))
    assert recs[1]["vector"] == {"a": [1.0, 1.0, 0.5]}
    assert recs[2]["vector"] == {"a": [2.0, 1.0, 0.5]}
    assert recs[3]["vector"] == {"a": [3.0, 1.0, 0.5], "b": [0.25, 3.0]}
    assert recs[1]["payload"] == points[1]["payload"]  # payload untouched
    client.delete_vectors(name, vectors=["a"], points=[1])
    (rec,) = api.retrieve(http, name, [1])
    assert not rec["vector"]
    assert api.count(http, name) == 5  # the point itself stays


# ---------------------------------------------------------------------------- payload


def test_set_payload_merges_keys(http, client, seeded):
    name, _ = seeded
    post_update(http, f"/collections/{name}/points/payload",
                {"payload": {"color": "green", "new": [1, 2]}, "points": [1, 2]})
    recs = by_id(api.retrieve(http, name, [1, 2, 3], with_vector=False))
    assert recs[1]["payload"] == {"n": 1, "color": "green", "tags": {"x": 1}, "new": [1, 2]}
    assert recs[2]["payload"] == {"n": 2, "color": "green", "tags": {"x": 2}, "new": [1, 2]}
    assert recs[3]["payload"] == {"n": 3, "color": "red", "tags": {"x": 3}}

    client.set_payload(name, payload={"z": None},
                       points=models.Filter(must=[models.HasIdCondition(has_id=[3])]))
    (rec,) = api.retrieve(http, name, [3], with_vector=False)
    assert rec["payload"] == {"n": 3, "color": "red", "tags": {"x": 3}, "z": None}


def test_set_payload_with_nested_key(http, client, collection_name):
    make_unnamed(http, collection_name)
    api.upsert(http, collection_name,
               [{"id": 1, "vector": [1, 1, 1], "payload": {"a": {"b": {"x": 0}}, "z": 1}}])
    post_update(http, f"/collections/{collection_name}/points/payload",
                {"payload": {"c": 1}, "points": [1], "key": "a.b"})
    (rec,) = api.retrieve(http, collection_name, [1], with_vector=False)
    assert rec["payload"] == {"a": {"b": {"x": 0, "c": 1}}, "z": 1}

    client.set_payload(collection_name, payload={"d": "deep"}, points=[1], key="a")
    (rec,) = api.retrieve(http, collection_name, [1], with_vector=False)
    assert rec["payload"] == {"a": {"b": {"x": 0, "c": 1}, "d": "deep"}, "z": 1}


def test_overwrite_payload(http, client, seeded):
    name, _ = seeded
    api.update_ok(http.put(f"/collections/{name}/points/payload", params={"wait": "true"},
                           json={"payload": {"only": True}, "points": [1]}))
    (rec,) = api.retrieve(http, name, [1], with_vector=False)
    assert rec["payload"] == {"only": True}
    client.overwrite_payload(name, payload={"x": 1}, points=[2])
    (rec,) = api.retrieve(http, name, [2], with_vector=True)
    assert rec["payload"] == {"x": 1}
    assert rec["vector"] == {"a": [2.0, 1.0, 0.5], "b": [0.25, 2.0]}  # vectors untouched


def test_delete_payload_keys(http, client, seeded):
    name, _ = seeded
    post_update(http, f"/collections/{name}/points/payload/delete",
                {"keys": ["color", "absent"], "points": [1, 2]})
    recs = by_id(api.retrieve(http, name, [1, 2, 3], with_vector=False))
    assert recs[1]["payload"] == {"n": 1, "tags": {"x": 1}}
    assert recs[2]["payload"] == {"n": 2, "tags": {"x": 2}}
    assert recs[3]["payload"]["color"] == "red"
    red = models.FieldCondition(key="color", match=models.MatchValue(value="red"))
    client.delete_payload(name, keys=["n"], points=models.Filter(must=[red]))
    recs = by_id(api.retrieve(http, name, [3, 4, 5], with_vector=False))
    assert "n" not in recs[3]["payload"] and "n" not in recs[5]["payload"]
    assert recs[4]["payload"]["n"] == 4


def test_clear_payload(http, client, seeded):
    name, _ = seeded
    post_update(http, f"/collections/{name}/points/payload/clear", {"points": [1]})
    (rec,) = api.retrieve(http, name, [1], with_vector=True)
    assert rec["payload"] == {}
    assert rec["vector"] == {"a": [1.0, 1.0, 0.5], "b": [0.25, 1.0]}
    client.clear_payload(name, points_selector=[2, 3])
    recs = by_id(api.retrieve(http, name, [2, 3, 4], with_vector=False))
    assert recs[2]["payload"] == {} and recs[3]["payload"] == {}
    assert recs[4]["payload"] != {}


def test_set_payload_on_missing_point_is_404(http, seeded):
    name, _ = seeded
    resp = http.post(f"/collections/{name}/points/payload", params={"wait": "true"},
                     json={"payload": {"x": 1}, "points": [424242]})
    error(resp, 404, message="Not found: No point with id 424242 found")


# ---------------------------------------------------------------------------- batch update


def test_batch_update_applies_every_kind_in_order(http, collection_name):
    make_named(http, collection_name)
    api.upsert(http, collection_name, [named_point(i) for i in range(1, 5)])
    operations = [
        {"upsert": {"points": [named_point(5)]}},
        {"set_payload": {"payload": {"color": "red"}, "points": [1, 2, 5]}},
        {"overwrite_payload": {"payload": {"only": True}, "points": [2]}},
        {"delete_payload": {"keys": ["n"], "points": [1]}},
        {"clear_payload": {"points": [3]}},
        {"update_vectors": {"points": [{"id": 4, "vector": {"a": [9, 9, 9]}}]}},
        {"delete_vectors": {"points": [5], "vector": ["b"]}},
        {"delete": {"points": [2]}},
        # 2 is gone by now, so only 3 matches
        {"set_payload": {"payload": {"after": 1}, "filter": {"must": [{"has_id": [2, 3]}]}}},
        {"upsert": {"points": [{"id": 2, "vector": {"a": [2, 2, 2]},
                                "payload": {"reborn": True}}]}},
    ]
    resp = http.post(f"/collections/{collection_name}/points/batch", params={"wait": "true"},
                     json={"operations": operations})
    results = ok(resp)
    assert isinstance(results, list) and len(results) == len(operations)
    op_ids = []
    for r in results:
        assert r["status"] == "completed"
        op_ids.append(r["operation_id"])
    assert op_ids == sorted(op_ids) and len(set(op_ids)) == len(op_ids), op_ids

    recs = by_id(api.retrieve(http, collection_name, [1, 2, 3, 4, 5]))
    assert recs[1]["payload"] == {"color": "red"}
    assert recs[1]["vector"] == {"a": [1.0, 1.0, 0.5], "b": [0.25, 1.0]}
    assert recs[2]["payload"] == {"reborn": True}
    assert recs[2]["vector"] == {"a": [2.0, 2.0, 2.0]}
    assert recs[3]["payload"] == {"after": 1}
    assert recs[4]["payload"] == {"n": 4}
    assert recs[4]["vector"] == {"a": [9.0, 9.0, 9.0], "b": [0.25, 4.0]}
    assert recs[5]["payload"] == {"n": 5, "color": "red"}
    assert recs[5]["vector"] == {"a": [5.0, 1.0, 0.5]}
    assert api.count(http, collection_name) == 5


def test_batch_update_via_client(client, http, collection_name):
    make_unnamed(http, collection_name, size=2)
    results = client.batch_update_points(
        collection_name,
        update_operations=[
            models.UpsertOperation(upsert=models.PointsList(points=[
                models.PointStruct(id=1, vector=[1.0, 0.0], payload={"a": 1}),
                models.PointStruct(id=2, vector=[0.0, 1.0], payload={"a": 2}),
            ])),
            models.SetPayloadOperation(set_payload=models.SetPayload(payload={"b": 1}, points=[1])),
            models.DeleteOperation(delete=models.PointIdsList(points=[2])),
        ],
    )
    assert len(results) == 3 and all(r.status == models.UpdateStatus.COMPLETED for r in results)
    recs = client.retrieve(collection_name, [1, 2])
    assert [(r.id, r.payload) for r in recs] == [(1, {"a": 1, "b": 1})]


# ---------------------------------------------------------------------------- scroll


def mixed_ids():
    rng = random.Random(7)
    ints = [0, 1, 2, 3, 10, 99, 1000, 2**63, 2**64 - 1]
    uuids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(6)]
    return ints, uuids


def test_scroll_orders_ints_then_uuids_and_pages(http, client, collection_name):
    make_unnamed(http, collection_name, size=2)
    ints, uuids = mixed_ids()
    all_ids = ints + uuids
    shuffled = list(all_ids)
    random.Random(1).shuffle(shuffled)
    api.upsert(http, collection_name, [{"id": pid, "vector": [1, 2], "payload": {"k": i}}
                                       for i, pid in enumerate(shuffled)])
    expected = sorted(all_ids, key=id_sort_key)
    assert expected[: len(ints)] == sorted(ints)

    # one page with everything
    result = ok(http.post(f"/collections/{collection_name}/points/scroll", json={"limit": 100}))
    assert [p["id"] for p in result["points"]] == expected
    assert result["next_page_offset"] is None

    # pages of 4: next_page_offset is the first id of the next page; null at the end
    seen, offset, pages = [], None, 0
    while True:
        body = {"limit": 4, **({"offset": offset} if offset is not None else {})}
        result = ok(http.post(f"/collections/{collection_name}/points/scroll", json=body))
        ids = [p["id"] for p in result["points"]]
        seen.extend(ids)
        pages += 1
        offset = result["next_page_offset"]
        if offset is None:
            break
        assert offset == expected[len(seen)]
    assert seen == expected
    assert pages == -(-len(expected) // 4)

    # the client walks the same pages
    seen, offset = [], None
    while True:
        recs, offset = client.scroll(collection_name, limit=5, offset=offset)
        seen.extend(r.id for r in recs)
        if offset is None:
            break
    assert seen == expected


def test_scroll_next_offset_null_when_last_page_is_exactly_full(http, collection_name):
    make_unnamed(http, collection_name, size=2)
    api.upsert(http, collection_name, [{"id": i, "vector": [1, 1]} for i in range(1, 11)])
    first = ok(http.post(f"/collections/{collection_name}/points/scroll", json={"limit": 5}))
    assert [p["id"] for p in first["points"]] == [1, 2, 3, 4, 5]
    assert first["next_page_offset"] == 6
    second = ok(http.post(f"/collections/{collection_name}/points/scroll",
                          json={"limit": 5, "offset": 6}))
    assert [p["id"] for p in second["points"]] == [6, 7, 8, 9, 10]
    assert second["next_page_offset"] is None


def test_scroll_offset_is_inclusive_and_may_be_missing_id(http, collection_name):
    make_unnamed(http, collection_name, size=2)
    api.upsert(http, collection_name, [{"id": i, "vector": [1, 1]} for i in (2, 4, 6, 8)])
    r = ok(http.post(f"/collections/{collection_name}/points/scroll",
                     json={"offset": 4, "limit": 2}))
    assert [p["id"] for p in r["points"]] == [4, 6]
    assert r["next_page_offset"] == 8
    r = ok(http.post(f"/collections/{collection_name}/points/scroll",
                     json={"offset": 5, "limit": 10}))
    assert [p["id"] for p in r["points"]] == [6, 8]
    assert r["next_page_offset"] is None


def test_scroll_default_limit_is_10(http, collection_name):
    make_unnamed(http, collection_name, size=2)
    api.upsert(http, collection_name, [{"id": i, "vector": [1, 1]} for i in range(15)])
    r = ok(http.post(f"/collections/{collection_name}/points/scroll", json={}))
    assert [p["id"] for p in r["points"]] == list(range(10))
    assert r["next_page_offset"] == 10


def test_scroll_filter_payload_and_vector_selectors(http, client, seeded):
    name, points = seeded
    flt = {"must": [{"key": "color", "match": {"value": "red"}}]}
    r = ok(http.post(f"/collections/{name}/points/scroll",
                     json={"filter": flt, "limit": 2, "with_payload": {"include": ["n"]},
                           "with_vector": ["b"]}))
    assert [p["id"] for p in r["points"]] == [1, 3]
    assert r["next_page_offset"] == 5
    assert r["points"][0]["payload"] == {"n": 1}
    assert r["points"][0]["vector"] == {"b": [0.25, 1.0]}

    r = ok(http.post(f"/collections/{name}/points/scroll",
                     json={"filter": flt, "offset": 5, "limit": 2,
                           "with_payload": {"exclude": ["tags", "n"]}}))
    assert [p["id"] for p in r["points"]] == [5]
    assert r["points"][0]["payload"] == {"color": "red"}
    assert r["points"][0].get("vector") is None
    assert r["next_page_offset"] is None

    r = ok(http.post(f"/collections/{name}/points/scroll",
                     json={"with_payload": False, "limit": 1}))
    assert r["points"][0].get("payload") is None

    recs, nxt = client.scroll(
        name,
        scroll_filter=models.Filter(
            must_not=[models.FieldCondition(key="color", match=models.MatchValue(value="red"))]),
        with_payload=["color"],
        with_vectors=True,
        limit=10,
    )
    assert [r.id for r in recs] == [2, 4]
    assert nxt is None
    assert recs[0].payload == {"color": "blue"}
    assert recs[0].vector == {"a": [2.0, 1.0, 0.5], "b": [0.25, 2.0]}


# ---------------------------------------------------------------------------- count and filters


COUNT_PAYLOADS = {
    1: {"color": "red", "n": 1, "flag": True},
    2: {"color": "green", "n": 2, "flag": False},
    3: {"color": "blue", "n": 3, "flag": True},
    4: {"color": ["red", "green"], "n": 4},
    5: {"n": 5},
    6: {"color": "red", "n": 6, "flag": False},
    7: {"color": "Red", "n": 7},
    8: {"nested": {"color": "red"}, "n": 8},
}

COUNT_FILTERS = [
    None,
    {"must": [{"key": "color", "match": {"value": "red"}}]},
    {"should": [{"key": "color", "match": {"value": "red"}},
                {"key": "color", "match": {"value": "blue"}}]},
    {"must_not": [{"key": "color", "match": {"value": "red"}}]},
    {"must": [{"has_id": [1, 2, 3, 99]}]},
    {"must": [{"has_id": [1, 2, 3, 4]}],
     "must_not": [{"key": "color", "match": {"value": "green"}}]},
    {"must": [{"key": "flag", "match": {"value": True}}]},
    {"must": [{"key": "n", "match": {"value": 5}}]},
    {"must": [{"key": "nested.color", "match": {"value": "red"}}]},
    {"should": [{"has_id": [5]}, {"key": "color", "match": {"value": "green"}}],
     "must_not": [{"has_id": [2]}]},
    {"must": [{"has_id": [1, 6, 7]}, {"key": "color", "match": {"value": "red"}}]},
    {"must_not": [{"has_id": [1, 2, 3, 4, 5, 6, 7, 8]}]},
]


@pytest.mark.parametrize("flt", COUNT_FILTERS, ids=[f"f{i}" for i in range(len(COUNT_FILTERS))])
def test_count_exact_with_filters(http, client, collection_name, flt):
    make_unnamed(http, collection_name, size=2)
    api.upsert(http, collection_name, [{"id": i, "vector": [1, float(i)], "payload": p}
                                       for i, p in COUNT_PAYLOADS.items()])
    expected = select(COUNT_PAYLOADS, flt)
    assert api.count(http, collection_name, flt) == len(expected)
    # scroll with the same filter returns exactly these ids
    assert [p["id"] for p in api.scroll_all(http, collection_name, filter=flt)] == sorted(expected)
    if flt is None:
        assert client.count(collection_name, exact=True).count == len(expected)


def test_count_via_client_filter_models(client, http, collection_name):
    make_unnamed(http, collection_name, size=2)
    api.upsert(http, collection_name, [{"id": i, "vector": [1, float(i)], "payload": p}
                                       for i, p in COUNT_PAYLOADS.items()])
    flt = models.Filter(
        should=[models.FieldCondition(key="color", match=models.MatchValue(value="red")),
                models.HasIdCondition(has_id=[3])],
        must_not=[models.FieldCondition(key="flag", match=models.MatchValue(value=False))],
    )
    expected = select(COUNT_PAYLOADS, {
        "should": [{"key": "color", "match": {"value": "red"}}, {"has_id": [3]}],
        "must_not": [{"key": "flag", "match": {"value": False}}],
    })
    assert client.count(collection_name, count_filter=flt, exact=True).count == len(expected)
    assert expected == {1, 3, 4}


# ---------------------------------------------------------------------------- point ids


def test_u64_max_id(http, collection_name):
    make_unnamed(http, collection_name, size=2)
    big = 2**64 - 1
    api.upsert(http, collection_name, [{"id": big, "vector": [1, 2], "payload": {"big": True}},
                                       {"id": 1, "vector": [1, 1]}])
    (rec,) = api.retrieve(http, collection_name, [big])
    assert rec["id"] == big and rec["payload"] == {"big": True}
    assert ok(http.get(f"/collections/{collection_name}/points/{big}"))["id"] == big
    assert [p["id"] for p in api.scroll_all(http, collection_name)] == [1, big]
    hits = api.query(http, collection_name, {"query": [1, 2], "limit": 1})
    assert hits[0]["id"] == big
    raw = http.post(f"/collections/{collection_name}/points/scroll", json={}).content
    assert b"18446744073709551615" in raw


UUID_FORMS = {
    "hyphenated": lambda u: str(u),
    "simple": lambda u: u.hex,
    "uppercase": lambda u: str(u).upper(),
    "urn": lambda u: u.urn,
    "braced": lambda u: "{" + str(u) + "}",
}


@pytest.mark.parametrize("form", list(UUID_FORMS))
def test_uuid_textual_forms(http, collection_name, form):
    make_unnamed(http, collection_name, size=2)
    u = uuid.UUID("8F0E4C2A-1B3D-4E5F-9A7B-0C1D2E3F4A5B")
    canonical = str(u)
    assert canonical == "8f0e4c2a-1b3d-4e5f-9a7b-0c1d2e3f4a5b"
    written = UUID_FORMS[form](u)
    api.upsert(http, collection_name,
               [{"id": written, "vector": [1, 2], "payload": {"form": form}}])

    # listed in canonical form
    assert [p["id"] for p in api.scroll_all(http, collection_name)] == [canonical]
    # addressable in every form, always answered canonically
    for other in UUID_FORMS.values():
        recs = api.retrieve(http, collection_name, [other(u)])
        assert [r["id"] for r in recs] == [canonical]
    assert ok(http.get(f"/collections/{collection_name}/points/{u.hex}"))["id"] == canonical
    # the same id in another form is the same point
    api.upsert(http, collection_name,
               [{"id": str(u).upper(), "vector": [3, 4], "payload": {"form": "again"}}])
    assert api.count(http, collection_name) == 1
    (rec,) = api.retrieve(http, collection_name, [canonical])
    assert rec["payload"] == {"form": "again"}
    hits = api.query(http, collection_name, {"query": [1, 1], "limit": 1})
    assert hits[0]["id"] == canonical


def test_uuid_ids_via_client(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
    )
    u = uuid.uuid4()
    client.upsert(collection_name, points=[models.PointStruct(id=u.hex, vector=[1.0, 1.0])])
    (rec,) = client.retrieve(collection_name, [str(u)])
    assert rec.id == str(u)


@pytest.mark.parametrize(
    "bad_id",
    [-1, 2**64, 1.5, "not-a-uuid", "8f0e4c2a-1b3d-4e5f-9a7b-0c1d2e3f4a5", True, None, [1]],
    ids=["negative", "u64max+1", "float", "string", "short-uuid", "bool", "null", "list"],
)
def test_invalid_point_id_is_400(http, collection_name, bad_id):
    make_unnamed(http, collection_name, size=2)
    api.upsert(http, collection_name, [{"id": 1, "vector": [1, 1]}])
    resp = http.put(f"/collections/{collection_name}/points", params={"wait": "true"},
                    json={"points": [{"id": 2, "vector": [1, 1]},
                                     {"id": bad_id, "vector": [1, 2]}]})
    error(resp, 400)
    assert api.count(http, collection_name) == 1
    resp = http.post(f"/collections/{collection_name}/points", json={"ids": [bad_id]})
    error(resp, 400)


# ------------------------------------------------------------------- operation ids and versions


def raw_versions(http, name, query_vector) -> dict:
    hits = api.query(http, name, {"query": query_vector, "limit": 100, "params": {"exact": True}})
    return {h["id"]: h["version"] for h in hits}


def test_operation_ids_increase_and_versions_track_last_change(http, collection_name):
    make_unnamed(http, collection_name, size=2)
    ops = []
    ops.append(api.upsert(http, collection_name, [{"id": 1, "vector": [1, 0]}])["operation_id"])
    ops.append(api.upsert(http, collection_name, [{"id": 2, "vector": [0, 1]},
                                                  {"id": 3, "vector": [1, 1]}])["operation_id"])
    versions = raw_versions(http, collection_name, [1, 1])
    assert versions == {1: ops[0], 2: ops[1], 3: ops[1]}

    ops.append(post_update(http, f"/collections/{collection_name}/points/payload",
                           {"payload": {"x": 1}, "points": [1]})["operation_id"])
    resp = http.put(f"/collections/{collection_name}/points/vectors", params={"wait": "true"},
                    json={"points": [{"id": 2, "vector": [0, 2]}]})
    ops.append(api.update_ok(resp)["operation_id"])
    ops.append(api.upsert(http, collection_name, [{"id": 4, "vector": [2, 2]}])["operation_id"])
    assert all(b > a for a, b in zip(ops, ops[1:], strict=False)), ops

    versions = raw_versions(http, collection_name, [1, 1])
    assert versions == {1: ops[2], 2: ops[3], 3: ops[1], 4: ops[4]}

    # a delete consumes an operation id as well, and the next write is numbered after it
    deleted = post_update(http, f"/collections/{collection_name}/points/delete",
                          {"points": [3]})["operation_id"]
    after = api.upsert(http, collection_name, [{"id": 1, "vector": [1, 0]}])["operation_id"]
    assert ops[-1] < deleted < after
    assert raw_versions(http, collection_name, [1, 1])[1] == after


def test_operation_ids_are_per_collection(http, make_name):
    a, b = make_name(), make_name()
    for name in (a, b):
        make_unnamed(http, name, size=2)
    first_a = api.upsert(http, a, [{"id": 1, "vector": [1, 0]}])["operation_id"]
    for i in range(5):
        api.upsert(http, a, [{"id": i, "vector": [1, 0]}])
    first_b = api.upsert(http, b, [{"id": 1, "vector": [1, 0]}])["operation_id"]
    assert first_b == first_a  # a fresh collection starts its own sequence
