"""Durability: everything acknowledged with wait=true survives kill -9 and a restart on the same
storage: points (payload and vectors, exactly), deletions, collection config and aliases."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support import api
from tests.support.api import create_collection, ok

pytestmark = pytest.mark.durability

VECTORS = {
    "dense": {"size": 4, "distance": "Cosine"},
    "dist": {"size": 3, "distance": "Euclid", "on_disk": True},
}


def full_state(http, name):
    """Every point with payload and vectors, in id order (the raw JSON, for exact comparison)."""
    return api.scroll_all(http, name, page=64, with_payload=True, with_vector=True)


def test_acknowledged_writes_survive_kill_9(fresh_node):
    node = fresh_node()
    http = node.http
    name = "durable"
    create_collection(http, name, {
        "vectors": VECTORS,
        "shard_number": 2,
        "hnsw_config": {"m": 8},
        "optimizers_config": {"indexing_threshold": 5000},
        "metadata": {"purpose": "durability"},
    })
    alias = {"create_alias": {"alias_name": "durable_alias", "collection_name": name}}
    ok(http.post("/collections/aliases", json={"actions": [alias]}))

    rng = np.random.default_rng(8)
    model: dict[int, dict] = {}
    for batch in range(4):
        points = []
        for i in range(batch * 50, batch * 50 + 50):
            dense = rng.normal(size=4).astype(np.float32)
            dist = rng.normal(size=3).astype(np.float32)
            payload = {"i": i, "batch": batch, "tags": ["x", str(i)], "nested": {"f": i / 7}}
            points.append({"id": i, "vector": {"dense": dense.tolist(), "dist": dist.tolist()},
                           "payload": payload})
            model[i] = {"payload": payload, "dense": dense, "dist": dist}
        api.upsert(http, name, points, wait=True)

    # updates of every kind, all acknowledged with wait=true
    api.post_update(http, f"/collections/{name}/points/payload",
                    {"payload": {"updated": True}, "points": list(range(0, 200, 5))})
    for i in range(0, 200, 5):
        model[i]["payload"] = {**model[i]["payload"], "updated": True}
    api.update_ok(http.put(f"/collections/{name}/points/payload", params={"wait": "true"},
                           json={"payload": {"overwritten": 1}, "points": [3, 4]}))
    for i in (3, 4):
        model[i]["payload"] = {"overwritten": 1}
    api.post_update(http, f"/collections/{name}/points/delete", {"points": list(range(1, 200, 9))})
    for i in range(1, 200, 9):
        model.pop(i, None)
    api.post_update(http, f"/collections/{name}/points/delete",
                    {"filter": {"must": [{"key": "batch", "match": {"value": 3}},
                                         {"key": "tags", "match": {"value": "x"}}],
                                "must_not": [{"has_id": [150, 151]}]}})
    for i in [i for i, m in model.items()
              if m["payload"].get("batch") == 3 and i not in (150, 151)]:
        model.pop(i)
    new_dist = np.array([9.5, -1.25, 0.0], dtype=np.float32)
    api.update_ok(http.put(f"/collections/{name}/points/vectors", params={"wait": "true"},
                           json={"points": [{"id": 11, "vector": {"dist": new_dist.tolist()}}]}))
    model[11]["dist"] = new_dist
    api.post_update(http, f"/collections/{name}/points/vectors/delete",
                    {"points": [12], "vector": ["dense"]})
    model[12]["dense"] = None
    ok(http.patch(f"/collections/{name}",
                  json={"metadata": {"patched": True}, "hnsw_config": {"ef_construct": 77}}))

    before_state = full_state(http, name)
    before_info = ok(http.get(f"/collections/{name}"))
    before_aliases = ok(http.get("/aliases"))
    check_against_model(before_state, model)

    node.kill()
    node.restart()
    http = node.http

    after_state = full_state(http, name)
    assert after_state == before_state  # exact: ids, payloads, vectors
    check_against_model(after_state, model)
    after_info = ok(http.get(f"/collections/{name}"))
    assert after_info["config"] == before_info["config"]
    assert after_info["config"]["metadata"] == {"purpose": "durability", "patched": True}
    assert after_info["config"]["hnsw_config"]["ef_construct"] == 77
    assert after_info["points_count"] == len(model)
    assert api.count(http, name) == len(model)
    assert ok(http.get("/aliases")) == before_aliases
    assert api.count(http, "durable_alias") == len(model)

    # the node keeps working after recovery, and a second restart (graceful) changes nothing
    api.upsert(http, name, [{"id": 1000, "vector": {"dense": [1, 0, 0, 0]}}])
    node.restart()
    assert [p["id"] for p in full_state(node.http, name)] == sorted(list(model) + [1000])


def check_against_model(state, model):
    assert [p["id"] for p in state] == sorted(model)
    for p in state:
        m = model[p["id"]]
        assert p["payload"] == m["payload"]
        vec = p["vector"]
        if m["dense"] is None:
            assert "dense" not in vec
        else:
            # Cosine: normalised
            expected = m["dense"] / np.linalg.norm(m["dense"].astype(np.float64))
            np.testing.assert_allclose(vec["dense"], expected, rtol=1e-5, atol=1e-6)
        assert np.array_equal(np.asarray(vec["dist"], dtype=np.float32), m["dist"])


def test_kill_right_after_wait_true_write(fresh_node):
    """No pause between the acknowledged write and kill -9: only the WAL can save it."""
    node = fresh_node()
    name = "wal_only"
    create_collection(node.http, name, {"vectors": {"size": 2, "distance": "Dot"}})
    node.kill()
    node.restart()
    vectors = ok(node.http.get(f"/collections/{name}"))["config"]["params"]["vectors"]
    assert vectors == {"size": 2, "distance": "Dot"}

    api.upsert(node.http, name,
               [{"id": i, "vector": [i, 1], "payload": {"i": i}} for i in range(100)], wait=True)
    node.kill()
    node.restart()
    assert api.count(node.http, name) == 100
    assert api.retrieve(node.http, name, [42])[0]["payload"] == {"i": 42}

    api.post_update(node.http, f"/collections/{name}/points/payload",
                    {"payload": {"late": True}, "points": [7]})
    node.kill()
    node.restart()
    assert api.retrieve(node.http, name, [7])[0]["payload"] == {"i": 7, "late": True}

    api.post_update(node.http, f"/collections/{name}/points/delete", {"points": [0, 1, 2]})
    node.kill()
    node.restart()
    assert api.count(node.http, name) == 97
    assert api.retrieve(node.http, name, [0, 1, 2]) == []

    # one point at a time, each followed immediately by a crash
    for i in range(200, 203):
        api.upsert(node.http, name, [{"id": i, "vector": [1, 1]}], wait=True)
        node.kill()
        node.restart()
        assert len(api.retrieve(node.http, name, [i])) == 1
    assert api.count(node.http, name) == 100


def test_operation_ids_continue_after_restart(fresh_node):
    node = fresh_node()
    name = "opids"
    create_collection(node.http, name, {"vectors": {"size": 2, "distance": "Dot"}})
    last = None
    for i in range(5):
        last = api.upsert(node.http, name, [{"id": i, "vector": [1, i]}])["operation_id"]
    everything = {"query": [1, 1], "limit": 10}
    versions_before = {h["id"]: h["version"] for h in api.query(node.http, name, everything)}
    node.kill()
    node.restart()
    versions_after = {h["id"]: h["version"] for h in api.query(node.http, name, everything)}
    assert versions_after == versions_before
    nxt = api.upsert(node.http, name, [{"id": 99, "vector": [1, 1]}])["operation_id"]
    assert nxt > last


def test_deleted_collection_stays_deleted(fresh_node):
    node = fresh_node()
    create_collection(node.http, "gone", {"vectors": {"size": 2, "distance": "Dot"}})
    api.upsert(node.http, "gone", [{"id": 1, "vector": [1, 1]}])
    create_collection(node.http, "kept", {"vectors": {"size": 2, "distance": "Dot"}})
    assert ok(node.http.delete("/collections/gone")) is True
    node.kill()
    node.restart()
    assert ok(node.http.get("/collections/gone/exists")) == {"exists": False}
    assert ok(node.http.get("/collections/kept/exists")) == {"exists": True}
    names = {c["name"] for c in ok(node.http.get("/collections"))["collections"]}
    assert "gone" not in names and "kept" in names
