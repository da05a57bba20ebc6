"""service.api_key (QDRANT__SERVICE__API_KEY): with a key set, every REST request and gRPC call
must carry it (``api-key`` header / metadata, or ``Authorization: Bearer``); the health probes
stay open; the nodes of a cluster pass it to each other."""

from __future__ import annotations

import grpc
import httpx
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.support.cluster import cluster_node, wait_until

KEY = "s3cret-key"

# qdrant-client warns about a key sent over plain HTTP; on loopback that is what we test
pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


@pytest.fixture()
def secured(fresh_node):
    return fresh_node(QDRANT__SERVICE__API_KEY=KEY)


def _query(node, headers: dict) -> httpx.Response:
    return httpx.post(f"{node.url}/collections/c/points/query", json={"query": [1.0, 0.0]},
                      headers=headers, timeout=10)


def test_rest_needs_the_key_except_for_the_probes(secured):
    url = secured.url
    missing = httpx.get(f"{url}/collections", timeout=10)
    assert missing.status_code == 401
    assert missing.text == "Must provide an API key or an Authorization bearer token"
    wrong = httpx.get(f"{url}/collections", headers={"api-key": "nope"}, timeout=10)
    assert (wrong.status_code, wrong.text) == (401, "Invalid API key or JWT")
    for headers in ({"api-key": KEY}, {"Authorization": f"Bearer {KEY}"}):
        assert httpx.get(f"{url}/collections", headers=headers, timeout=10).status_code == 200
    for path in ("/", "/healthz", "/readyz", "/livez"):
        assert httpx.get(url + path, timeout=10).status_code == 200, path

    # the hot paths (answered without ASGI when the key is right) check it too
    created = httpx.put(f"{url}/collections/c", headers={"api-key": KEY}, timeout=30,
                        json={"vectors": {"size": 2, "distance": "Dot"}})
    assert created.status_code == 200
    upsert = {"points": [{"id": 1, "vector": [1.0, 0.0]}]}
    refused = httpx.put(f"{url}/collections/c/points?wait=true", json=upsert, timeout=10)
    assert refused.status_code == 401
    assert _query(secured, {}).status_code == 401
    assert _query(secured, {"api-key": "nope"}).text == "Invalid API key or JWT"
    stored = httpx.put(f"{url}/collections/c/points?wait=true", json=upsert,
                       headers={"api-key": KEY}, timeout=10)
    assert stored.status_code == 200
    answer = _query(secured, {"api-key": KEY})
    assert answer.status_code == 200
    assert [p["id"] for p in answer.json()["result"]["points"]] == [1]


@pytest.mark.parametrize("prefer_grpc", [False, True], ids=["rest", "grpc"])
def test_qdrant_client_with_and_without_the_key(secured, prefer_grpc):
    client = secured.client(prefer_grpc=prefer_grpc, api_key=KEY)
    client.create_collection("k", vectors_config=models.VectorParams(size=2,
                                                                     distance=models.Distance.DOT))
    client.upsert("k", [models.PointStruct(id=7, vector=[0.0, 1.0])], wait=True)
    hits = client.query_points("k", query=[0.0, 1.0], limit=1).points
    assert [h.id for h in hits] == [7]

    # (no version check: its background GET / could outlive this test's node and warn)
    anonymous = secured.client(prefer_grpc=prefer_grpc, check_compatibility=False)
    if prefer_grpc:
        with pytest.raises(grpc.RpcError) as info:
            anonymous.query_points("k", query=[0.0, 1.0], limit=1)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert info.value.details() == "Must provide an API key or an Authorization bearer token"
    else:
        with pytest.raises(UnexpectedResponse) as info:
            anonymous.query_points("k", query=[0.0, 1.0], limit=1)
        assert info.value.status_code == 401


def test_grpc_health_check_is_open_and_a_wrong_key_is_refused(secured):
    from qdrant_client import grpc as pb

    with grpc.insecure_channel(f"{secured.host}:{secured.grpc_port}") as channel:
        reply = pb.QdrantStub(channel).HealthCheck(pb.HealthCheckRequest(), timeout=10)
        assert reply.title
        collections = pb.CollectionsStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            collections.List(pb.ListCollectionsRequest(), timeout=10,
                             metadata=(("api-key", "nope"),))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert info.value.details() == "Invalid API key or JWT"
        listed = collections.List(pb.ListCollectionsRequest(), timeout=10,
                                  metadata=(("authorization", f"Bearer {KEY}"),))
        assert listed.collections == []


def test_a_secured_cluster_replicates_writes(tmp_path):
    """Peers call each other on their public gRPC port: the key must travel with those calls."""
    first = cluster_node(tmp_path / "peer-0")
    second = cluster_node(tmp_path / "peer-1", bootstrap=first)
    nodes = [first, second]
    for node in nodes:
        node.extra_env["QDRANT__SERVICE__API_KEY"] = KEY
    headers = {"api-key": KEY}
    try:
        first.start().wait_ready(60)
        second.start().wait_ready(90)

        def peers_agree():
            return all(
                len(httpx.get(f"{n.url}/cluster", headers=headers, timeout=5)
                    .json()["result"]["peers"]) == 2
                for n in nodes
            )

        wait_until(peers_agree, 60, "two peers")
        made = httpx.put(f"{first.url}/collections/r", headers=headers, timeout=60, json={
            "vectors": {"size": 2, "distance": "Dot"}, "shard_number": 1,
            "replication_factor": 2,
        })
        assert made.status_code == 200, made.text
        wait_until(lambda: httpx.get(f"{second.url}/collections/r", headers=headers,
                                     timeout=5).status_code == 200, 30, "the collection on peer 1")
        stored = httpx.put(f"{second.url}/collections/r/points?wait=true", headers=headers,
                           timeout=30, json={"points": [{"id": 3, "vector": [1.0, 1.0]}]})
        assert stored.status_code == 200, stored.text
        for node in nodes:  # both replicas hold it: each node's own copy counts the point
            info = httpx.get(f"{node.url}/collections/r/cluster", headers=headers, timeout=10)
            (local,) = info.json()["result"]["local_shards"]
            assert local["points_count"] == 1 and local["state"] == "Active"
    finally:
        for node in nodes:
            node.stop()
