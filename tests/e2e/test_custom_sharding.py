"""Custom sharding (sharding_method "custom") on one node: shard keys of both types, writes that
must name a key, reads by key, list of keys or target-with-fallback, keys kept across a restart.
Through qdrant-client over REST and gRPC, and plain HTTP where the error body matters."""

from __future__ import annotations

import pytest
from qdrant_client import models

DIM = 4


def _vec(i: int) -> list[float]:
    return [float(i), 1.0, (i % 3) - 1.0, 0.5]


@pytest.fixture
def sharded(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT),
        sharding_method=models.ShardingMethod.CUSTOM,
    )
    client.create_shard_key(collection_name, "cats")
    client.create_shard_key(collection_name, 7, shards_number=2)
    client.upsert(collection_name, [models.PointStruct(id=i, vector=_vec(i), payload={"k": "c"})
                                    for i in range(10)], shard_key_selector="cats")
    client.upsert(collection_name, [models.PointStruct(id=i, vector=_vec(i), payload={"k": 7})
                                    for i in range(5, 30)], shard_key_selector=7)
    return collection_name


def test_reads_address_keys_and_points_carry_their_key(client, sharded):
    assert client.count(sharded, exact=True).count == 35  # ids 5..9 live under both keys
    assert client.count(sharded, exact=True, shard_key_selector="cats").count == 10
    assert client.count(sharded, exact=True, shard_key_selector=7).count == 25
    assert client.count(sharded, exact=True, shard_key_selector=["cats", 7]).count == 35

    points, _ = client.scroll(sharded, limit=100, shard_key_selector=7)
    assert sorted(p.id for p in points) == list(range(5, 30))
    assert {p.shard_key for p in points} == {7}
    got = client.retrieve(sharded, ids=[1, 20], shard_key_selector="cats")
    assert [(p.id, p.shard_key) for p in got] == [(1, "cats")]

    hits = client.query_points(sharded, query=_vec(29), limit=3, shard_key_selector="cats").points
    expected = sorted(
        range(10), key=lambda i: -sum(a * b for a, b in zip(_vec(i), _vec(29), strict=True)))
    assert [h.id for h in hits] == expected[:3]
    assert {h.shard_key for h in hits} == {"cats"}
    everywhere = client.query_points(sharded, query=_vec(29), limit=3).points
    assert [h.id for h in everywhere] == [29, 28, 27]


def test_legacy_search_recommend_and_discover_honour_the_shard_key(http, sharded):
    """POST …/points/search (and its batch), recommend and discover read only the key named."""
    def ids(path: str, body: dict) -> list:
        resp = http.post(f"/collections/{sharded}/points/{path}", json=body)
        assert resp.status_code == 200, resp.text
        return resp.json()["result"]

    hits = ids("search", {"vector": _vec(29), "limit": 3, "shard_key": "cats"})
    assert [h["id"] for h in hits] == [9, 8, 7]
    assert {h["shard_key"] for h in hits} == {"cats"}
    [batch] = ids("search/batch", {"searches": [{"vector": _vec(29), "limit": 3,
                                                 "shard_key": 7}]})
    assert [h["id"] for h in batch] == [29, 28, 27]
    recommended = ids("recommend", {"positive": [9], "limit": 20, "shard_key": "cats"})
    assert {h["id"] for h in recommended} <= set(range(10)) and len(recommended) == 9
    discovered = ids("discover", {"target": 8, "context": [{"positive": 9, "negative": 1}],
                                  "limit": 30, "shard_key": "cats"})
    assert {h["id"] for h in discovered} <= set(range(10))


def test_shard_keys_are_listed_and_dropped(client, sharded):
    keys = client.list_shard_keys(sharded).shard_keys
    assert sorted((type(k.key).__name__, k.key) for k in keys) == [("int", 7), ("str", "cats")]
    client.delete_shard_key(sharded, 7)
    assert [k.key for k in client.list_shard_keys(sharded).shard_keys] == ["cats"]
    assert client.count(sharded, exact=True).count == 10
    with pytest.raises(Exception, match="7"):
        client.count(sharded, exact=True, shard_key_selector=7)


def test_errors_follow_qdrant(http, collection_name):
    body = {"vectors": {"size": DIM, "distance": "Dot"}, "sharding_method": "custom"}
    assert http.put(f"/collections/{collection_name}", json=body).status_code == 200
    assert http.put(f"/collections/{collection_name}/shards",
                    json={"shard_key": "a"}).status_code == 200
    again = http.put(f"/collections/{collection_name}/shards", json={"shard_key": "a"})
    assert again.status_code == 400
    assert "already exists" in again.json()["status"]["error"]
    dead = http.put(f"/collections/{collection_name}/shards",
                    json={"shard_key": "b", "initial_state": "Dead"})
    assert dead.status_code == 400
    assert dead.json()["status"]["error"] == (
        "Bad request: Initial state cannot be Dead, only Active or Partial are allowed")
    keyless = http.put(f"/collections/{collection_name}/points?wait=true",
                       json={"points": [{"id": 1, "vector": _vec(1)}]})
    assert keyless.status_code == 400
    assert keyless.json()["status"]["error"] == "Wrong input: Shard key not specified"
    listed = http.get(f"/collections/{collection_name}/shards").json()["result"]
    assert listed == {"shard_keys": [{"key": "a"}]}
    auto = collection_name + "_auto"
    assert http.put(f"/collections/{auto}", json={"vectors": {"size": DIM, "distance": "Dot"}}
                    ).status_code == 200
    refused = http.put(f"/collections/{auto}/shards", json={"shard_key": "x"})
    assert refused.status_code == 400
    assert "Auto sharding method" in refused.json()["status"]["error"]
    http.delete(f"/collections/{auto}")


def test_fallback_selector_and_key_types_survive_restart(fresh_node):
    node = fresh_node()
    http = node.http
    body = {"vectors": {"size": DIM, "distance": "Dot"}, "sharding_method": "custom"}
    assert http.put("/collections/k", json=body).status_code == 200
    for key in ("1", 1):
        assert http.put("/collections/k/shards", json={"shard_key": key}).status_code == 200
    http.put("/collections/k/points?wait=true",
             json={"points": [{"id": 1, "vector": _vec(1)}], "shard_key": "1"})
    http.put("/collections/k/points?wait=true",
             json={"points": [{"id": 2, "vector": _vec(2)}], "shard_key": 1})
    node.restart()
    http = node.http
    keys = http.get("/collections/k/shards").json()["result"]["shard_keys"]
    assert sorted(keys, key=lambda k: str(type(k["key"]))) == [{"key": 1}, {"key": "1"}]
    for key, expected in (("1", [1]), (1, [2])):
        found = http.post("/collections/k/points/scroll", json={"shard_key": key}).json()
        assert [p["id"] for p in found["result"]["points"]] == expected
        assert {p["shard_key"] for p in found["result"]["points"]} == {key}
    fallback = http.post("/collections/k/points/scroll",
                         json={"shard_key": {"target": 1, "fallback": "1"}}).json()
    assert [p["id"] for p in fallback["result"]["points"]] == [2]
