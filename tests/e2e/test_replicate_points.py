"""``replicate_points`` on a real 3-node cluster: a tenant's points copied from a shared shard
key to its own. As in Qdrant, the call answers once consensus accepted the transfer; the copy
runs in the background, listed in ``shard_transfers`` (with ``to_shard_id``) until it is done.

Copies are held to 150 points per second here, so that one is seen while it runs.
"""

from __future__ import annotations

import random
import time

import httpx
import pytest
from qdrant_client import models

from tests.support.cluster import start_cluster, wait_until

pytestmark = pytest.mark.slow

DIM = 4
RATE = 150  # storage.performance.max_transfer_rate: points per second of a copy
POINTS = 900  # a third of them are the big tenant's: 300 points, two seconds of copying
BIG = models.Filter(must=[models.FieldCondition(key="tenant",
                                                match=models.MatchValue(value="big"))])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    nodes = start_cluster(tmp_path_factory.mktemp("replicate-points"), 3, extra_env={
        "QDRANT__STORAGE__PERFORMANCE__MAX_TRANSFER_RATE": str(RATE)})
    yield nodes
    for node in nodes:
        node.kill()


def _operate(node, name: str, body: dict) -> httpx.Response:
    return httpx.post(f"{node.url}/collections/{name}/cluster", json=body, timeout=30)


def _transfers(node, name: str) -> list[dict]:
    resp = httpx.get(f"{node.url}/collections/{name}/cluster", timeout=10)
    return resp.json()["result"]["shard_transfers"]


def _key_shard(node, name: str, key: str) -> int:
    info = httpx.get(f"{node.url}/collections/{name}/cluster", timeout=10).json()["result"]
    shards = {s["shard_id"] for s in info["local_shards"] + info["remote_shards"]
              if s.get("shard_key") == key}
    assert len(shards) == 1, info
    return shards.pop()


def _tenants(client, name: str) -> list[models.PointStruct]:
    client.create_collection(name, vectors_config=models.VectorParams(
        size=DIM, distance=models.Distance.DOT), sharding_method=models.ShardingMethod.CUSTOM,
        replication_factor=2)
    client.create_shard_key(name, "shared")
    client.create_shard_key(name, "big")
    rng = random.Random(11)
    points = [models.PointStruct(id=i, vector=[rng.random() for _ in range(DIM)],
                                 payload={"tenant": "big" if i % 3 == 0 else "small", "i": i})
              for i in range(POINTS)]
    client.upsert(name, points, shard_key_selector="shared", wait=True)
    return points


@pytest.mark.parametrize("prefer_grpc", [False, True])
def test_replicate_points_promotes_a_tenant_to_its_own_shard_key(cluster, prefer_grpc):
    """The call answers before the copy is done, with the transfer listed; once it is gone,
    the tenant's points are under the new key with vectors and payloads, and the other
    tenants' stay where they were; then the old copies are deleted as a user would."""
    name = f"tenants_{'grpc' if prefer_grpc else 'rest'}"
    client = cluster[0].client(prefer_grpc=prefer_grpc)
    points = _tenants(client, name)
    started = time.monotonic()
    assert client.cluster_collection_update(name, models.ReplicatePointsOperation(
        replicate_points=models.ReplicatePoints(from_shard_key="shared", to_shard_key="big",
                                                filter=BIG)))
    assert time.monotonic() - started < 1.5  # the copy takes 2 s at the rate limit
    listed = _transfers(cluster[0], name)
    assert client.count(name, shard_key_selector="big").count < 300  # not done yet
    assert len(listed) == 1, listed
    assert listed[0]["shard_id"] == _key_shard(cluster[0], name, "shared")
    assert listed[0]["to_shard_id"] == _key_shard(cluster[0], name, "big")
    assert (listed[0]["method"], listed[0]["sync"]) == ("stream_records", True)
    (seen,) = client.collection_cluster_info(name).shard_transfers  # REST, or gRPC's shape
    assert (seen.shard_id, seen.to_shard_id) == (listed[0]["shard_id"], listed[0]["to_shard_id"])
    comment = wait_until(lambda: _transfers(cluster[0], name)[0].get("comment"), 10,
                         "the copying peer's progress in the listing")
    assert comment.startswith("Transferring records (") and "/300)" in comment, comment
    wait_until(lambda: not _transfers(cluster[2], name), 60, "the copy finished")
    assert time.monotonic() - started > 300 / RATE * 0.8  # it kept to the rate limit
    assert client.count(name, shard_key_selector="big").count == 300
    assert client.count(name, shard_key_selector="shared").count == POINTS
    copied = client.retrieve(name, [0, 3], with_vectors=True, shard_key_selector="big")
    assert {p.id: p.payload["i"] for p in copied} == {0: 0, 3: 3}
    assert copied[0].vector == pytest.approx(points[copied[0].id].vector, rel=1e-5)
    client.delete(name, models.FilterSelector(filter=BIG), shard_key_selector="shared",
                  wait=True)
    for node in cluster:
        other = node.client(prefer_grpc=prefer_grpc)
        assert other.count(name, shard_key_selector="shared").count == POINTS - 300
        assert other.count(name, shard_key_selector="big").count == 300
        assert other.count(name, count_filter=BIG).count == 300


def test_an_aborted_replicate_points_stops_copying(cluster):
    """abort_transfer ends the copy: what was copied stays, nothing more is written, and a
    restart_transfer of it is refused (it is asked for again instead)."""
    name = "tenants_aborted"
    client = cluster[0].client()
    _tenants(client, name)
    body = {"replicate_points": {"from_shard_key": "shared", "to_shard_key": "big",
                                 "filter": {"must": [{"key": "tenant",
                                                      "match": {"value": "big"}}]}}}
    assert _operate(cluster[0], name, body).status_code == 200
    (running,) = _transfers(cluster[0], name)
    ends = {"shard_id": running["shard_id"], "from_peer_id": running["from"],
            "to_peer_id": running["to"]}
    resp = _operate(cluster[1], name, {"restart_transfer": {**ends, "method": "stream_records"}})
    assert resp.status_code == 400, resp.text
    assert "does not restart" in resp.json()["status"]["error"]
    assert _operate(cluster[1], name, {"abort_transfer": ends}).status_code == 200
    assert _transfers(cluster[2], name) == []
    time.sleep(0.5)  # a page being written when the abort landed
    copied = client.count(name, shard_key_selector="big", exact=True).count
    time.sleep(300 / RATE)
    assert client.count(name, shard_key_selector="big", exact=True).count == copied < 300
    assert client.count(name, shard_key_selector="shared", exact=True).count == POINTS


def test_replicate_points_refusals(cluster):
    name = "tenants_refused"
    resp = httpx.put(f"{cluster[0].url}/collections/{name}", timeout=60, json={
        "vectors": {"size": DIM, "distance": "Dot"}, "sharding_method": "custom"})
    assert resp.status_code == 200, resp.text
    for key, shards in (("a", 1), ("wide", 2)):
        assert httpx.put(f"{cluster[0].url}/collections/{name}/shards", timeout=60,
                         json={"shard_key": key, "shards_number": shards}).status_code == 200
    cases = [
        ({"from_shard_key": "a", "to_shard_key": "nope"}, 'Shard key "nope" not found'),
        ({"from_shard_key": "nope", "to_shard_key": "a"}, 'Shard key "nope" not found'),
        ({"from_shard_key": "a", "to_shard_key": "a"}, "must differ"),
        ({"from_shard_key": "a"}, "missing field `to_shard_key`"),
        ({"from_shard_key": "a", "to_shard_key": "b", "filter": {"must": 3}}, "must"),
        ({"from_shard_key": "wide", "to_shard_key": "a"},
         "needs one shard under `from_shard_key`; shard key \"wide\" has 2"),
    ]
    for body, message in cases:
        resp = _operate(cluster[0], name, {"replicate_points": body})
        assert resp.status_code == 400, (body, resp.text)
        assert message in resp.json()["status"]["error"], (body, resp.text)
    assert _transfers(cluster[0], name) == []
    plain = "tenants_plain"
    assert httpx.put(f"{cluster[0].url}/collections/{plain}", timeout=60, json={
        "vectors": {"size": DIM, "distance": "Dot"}}).status_code == 200
    resp = _operate(cluster[0], plain, {
        "replicate_points": {"from_shard_key": "a", "to_shard_key": "b"}})
    assert resp.status_code == 400 and "custom sharding" in resp.json()["status"]["error"]
