"""Hostile input: every request that once answered 500 or took a node down, and every size a
client chooses, on REST and gRPC.

Each one must be answered within a second with a 4xx in Qdrant's error shape (or, for sizes
that only cap work the data already bounds, a normal answer), the node's resident memory must
not grow, and the points already stored must be exactly as they were.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import httpx
import pytest
from qdrant_client import models

from tests.e2e.conftest import unique_name
from tests.support.fuzz import rss_mb

U64_MAX = 2**64 - 1
#: what a request may add to the node's resident memory (allocator noise, not an allocation)
RSS_SLACK_MB = 25
POINTS = 40


def _points() -> list[dict]:
    return [
        {"id": i, "vector": [1.0, float(i % 5), 0.5, -1.0], "payload": {"city": "Paris", "n": i}}
        for i in range(1, POINTS + 1)
    ]


@pytest.fixture(scope="module")
def victim(node) -> str:
    """A collection with points that no hostile request may change."""
    name = unique_name("victim")
    body = {"vectors": {"size": 4, "distance": "Dot"}}
    assert node.http.put(f"/collections/{name}", json=body).status_code == 200
    index = {"field_name": "city", "field_schema": "keyword"}
    resp = node.http.put(f"/collections/{name}/index", params={"wait": "true"}, json=index)
    assert resp.status_code == 200
    resp = node.http.put(
        f"/collections/{name}/points", params={"wait": "true"}, json={"points": _points()}
    )
    assert resp.status_code == 200
    yield name
    node.http.delete(f"/collections/{name}")


def _stored(http: httpx.Client, name: str) -> list:
    resp = http.post(
        f"/collections/{name}/points/scroll",
        json={"limit": 1000, "with_payload": True, "with_vector": True},
    )
    assert resp.status_code == 200
    return resp.json()["result"]["points"]


def _unharmed(node, victim: str, send: Callable[[], object]) -> object:
    """Send one request; it must be answered within a second, grow the node's memory by no more
    than allocator noise, and leave the stored points as they were."""
    before = _stored(node.http, victim)
    rss_before = rss_mb(node.proc.pid)
    started = time.monotonic()
    answer = send()
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"answered after {elapsed:.2f} s"
    assert rss_mb(node.proc.pid) - rss_before < RSS_SLACK_MB
    assert node.http.get("/healthz").status_code == 200
    assert _stored(node.http, victim) == before
    return answer


def _refused(resp: httpx.Response, status: int, *parts: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == {"status", "time"} and set(body["status"]) == {"error"}
    for part in parts:
        assert part in body["status"]["error"], body["status"]["error"]


VECTORS = {"size": 4, "distance": "Cosine"}

# (body of PUT /collections/{new}, status, words of the error)
BAD_CREATES = [
    ({"vectors": VECTORS, "shard_number": 18057082182}, 400,
     ["Format error in JSON body: ", "expected u32 at `shard_number`"]),
    ({"vectors": VECTORS, "shard_number": 100000}, 422,
     ["shard_number: value 100000 invalid, must be 1000 or smaller"]),
    ({"vectors": VECTORS, "replication_factor": 2**32}, 400, ["expected u32"]),
    ({"vectors": VECTORS, "write_consistency_factor": 2**40}, 400, ["expected u32"]),
    ({"vectors": {"size": 70000, "distance": "Cosine"}}, 422,
     ["vectors.size: value 70000 invalid, must be from 1 to 65536"]),
    ({"vectors": {"big": {"size": 2**40, "distance": "Dot"}}}, 422, ["vectors.big.size"]),
    ({"vectors": VECTORS, "hnsw_config": {"m": 10**9}}, 422,
     ["hnsw_config.m: value 1000000000 invalid, must be 1024 or smaller"]),
    ({"vectors": VECTORS, "hnsw_config": {"payload_m": 10**9}}, 422, ["hnsw_config.payload_m"]),
    ({"vectors": VECTORS, "hnsw_config": {"ef_construct": 10**9}}, 422,
     ["hnsw_config.ef_construct"]),
    ({"vectors": {"size": 4, "distance": "Dot", "hnsw_config": {"m": 10**9}}}, 422,
     ["vectors.hnsw_config.m"]),
    ({"vectors": VECTORS, "strict_mode_config": [None, None]}, 400, ["strict_mode_config"]),
    ({"vectors": VECTORS, "quantization_config": [1]}, 400, ["quantization_config"]),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD_CREATES)
def test_a_bad_collection_is_refused_at_once_and_not_created(node, victim, body, status, words):
    name = unique_name("bad")
    resp = _unharmed(node, victim, lambda: node.http.put(f"/collections/{name}", json=body))
    _refused(resp, status, *words)
    assert node.http.get(f"/collections/{name}/exists").json()["result"] == {"exists": False}


# (method, path after /collections/{victim}, JSON body, status, words of the error)
BAD_REQUESTS = [
    ("PATCH", "", {"strict_mode_config": [None, None]}, 400, ["`strict_mode_config`"]),
    ("PATCH", "", {"vectors": [1]}, 400, ["`vectors`"]),
    ("PATCH", "", {"quantization_config": [1]}, 400, ["quantization_config"]),
    ("PATCH", "", {"params": []}, 400, ["`params`"]),
    ("PATCH", "", {"hnsw_config": {"m": 10**9}}, 422, ["hnsw_config.m"]),
    ("POST", "/points/vectors/delete", {"points": [1], "vector": [{}]}, 400, ["`vector`"]),
    ("POST", "/points/batch",
     {"operations": [{"delete_vectors": {"points": [1], "vector": [{}]}}]}, 400, ["`vector`"]),
    ("POST", "/points/payload/delete", {"points": [1], "keys": [{}]}, 400, ["`keys`"]),
    ("POST", "/points/payload", {"points": [1], "payload": {"a": 1}, "key": {}}, 400, ["`key`"]),
    ("POST", "/points/scroll", {"with_payload": [{}]}, 400, ["with_payload"]),
    ("POST", "/shards/delete", [1, 2], 400, ["DropShardingKey"]),
    ("PUT", "/shards", [1, 2], 400, ["CreateShardingKey"]),
    ("PUT", "/shards", {"shard_key": 15716, "shards_number": 18057082182}, 400,
     ["expected u32 at `shards_number`"]),
    ("PUT", "/shards", {"shard_key": "k", "shards_number": 100000}, 422,
     ["shards_number: value 100000 invalid, must be 1000 or smaller"]),
    ("PUT", "/shards", {"shard_key": "k", "placement": [{}]}, 400, ["placement"]),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), BAD_REQUESTS)
def test_a_body_of_the_wrong_shape_is_a_4xx_naming_the_field(
    node, victim, method, path, body, status, words
):
    url = f"/collections/{victim}{path}"
    resp = _unharmed(node, victim, lambda: node.http.request(method, url, json=body))
    _refused(resp, status, *words)


@pytest.mark.parametrize("content_type", ["text/plain", None])
def test_an_upsert_that_is_not_sent_as_json_is_refused(node, victim, content_type):
    """Qdrant's JSON endpoints need a JSON content type; the points are not written."""
    raw = b'{"points": [{"id": 1, "vector": [9, 9, 9, 9]}]}'
    headers = {"content-type": content_type} if content_type else {}

    def send():
        request = node.http.build_request(
            "PUT", f"/collections/{victim}/points", params={"wait": "true"}, content=raw,
            headers=headers,
        )
        assert request.headers.get("content-type") == content_type
        return node.http.send(request)

    _refused(_unharmed(node, victim, send), 400, "Format error in JSON body: Content type error")


# sizes Qdrant accepts: past the number of points they change nothing, and cost nothing
HUGE_READS = [
    ("/points/query", {"query": [1, 0, 0, 0], "limit": U64_MAX}),
    ("/points/query", {"query": [1, 0, 0, 0], "limit": 3, "offset": U64_MAX - 10}),
    ("/points/query", {"query": [1, 0, 0, 0], "limit": 3, "params": {"hnsw_ef": U64_MAX}}),
    ("/points/query", {"prefetch": {"query": [1, 0, 0, 0], "limit": 10**12},
                       "query": {"fusion": "rrf"}, "limit": 10**12}),
    ("/points/query", {"query": {"sample": "random"}, "limit": U64_MAX}),
    ("/points/query/groups", {"query": [1, 0, 0, 0], "group_by": "city", "limit": 10**12,
                              "group_size": 10**12}),
    ("/points/search/matrix/pairs", {"sample": 10**12, "limit": 10**12}),
    ("/points/search/matrix/offsets", {"sample": 10**12, "limit": 10**12}),
    ("/points/scroll", {"limit": U64_MAX}),
    ("/facet", {"key": "city", "limit": U64_MAX}),
]


@pytest.mark.parametrize(("path", "body"), HUGE_READS)
def test_a_huge_size_on_a_read_costs_no_more_than_the_data(node, victim, path, body):
    url = f"/collections/{victim}{path}"
    resp = _unharmed(node, victim, lambda: node.http.post(url, json=body))
    assert resp.status_code == 200, resp.text


# -- gRPC: the same bounds, through qdrant-client's gRPC transport -----------------------------


def _grpc_refused(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    return caught.value


GRPC_BAD_CREATES = [
    ({"shard_number": 100000}, "shard_number: value 100000 invalid"),
    ({"vectors_config": models.VectorParams(size=70000, distance=models.Distance.COSINE)},
     "vectors.size: value 70000 invalid, must be from 1 to 65536"),
    ({"hnsw_config": models.HnswConfigDiff(m=10**9)}, "hnsw_config.m"),
    ({"hnsw_config": models.HnswConfigDiff(ef_construct=10**9)}, "hnsw_config.ef_construct"),
]


@pytest.mark.parametrize(("fields", "words"), GRPC_BAD_CREATES)
def test_grpc_a_bad_collection_is_refused_at_once(node, victim, gclient, fields, words):
    name = unique_name("bad")
    args = {"vectors_config": models.VectorParams(size=4, distance=models.Distance.DOT), **fields}
    error = _unharmed(
        node, victim, lambda: _grpc_refused(lambda: gclient.create_collection(name, **args))
    )
    assert words in error.details()
    assert not gclient.collection_exists(name)


def test_grpc_a_shard_key_with_too_many_shards_is_refused(node, gclient, victim):
    name = unique_name("keyed")
    gclient.create_collection(
        name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        sharding_method=models.ShardingMethod.CUSTOM,
    )
    try:
        error = _unharmed(node, victim, lambda: _grpc_refused(
            lambda: gclient.create_shard_key(name, "k", shards_number=100000)
        ))
        assert "shards_number: value 100000 invalid, must be 1000 or smaller" in error.details()
        assert node.http.get(f"/collections/{name}/shards").json()["result"]["shard_keys"] == []
    finally:
        gclient.delete_collection(name)


def test_grpc_a_huge_limit_and_ef_cost_no_more_than_the_data(node, victim, gclient):
    def query():
        return gclient.query_points(
            victim, query=[1.0, 0.0, 0.0, 0.0], limit=2**63,
            search_params=models.SearchParams(hnsw_ef=2**63),
        )

    answer = _unharmed(node, victim, query)
    assert len(answer.points) == POINTS


def test_an_operator_sets_the_limits(fresh_node):
    """The ``limits`` section (here through the environment) moves Tessera's own bounds."""
    node = fresh_node(QDRANT__LIMITS__MAX_SHARDS_PER_COLLECTION="4", QDRANT__LIMITS__MAX_HNSW_M="8")
    body = {"vectors": VECTORS, "shard_number": 5}
    _refused(node.http.put("/collections/five", json=body), 422,
             "shard_number: value 5 invalid, must be 4 or smaller")
    body = {"vectors": VECTORS, "hnsw_config": {"m": 9}}
    _refused(node.http.put("/collections/m9", json=body), 422,
             "hnsw_config.m: value 9 invalid, must be 8 or smaller")
    body = {"vectors": VECTORS, "shard_number": 4, "hnsw_config": {"m": 8}}
    assert node.http.put("/collections/four", json=body).status_code == 200
    info = node.http.get("/collections/four").json()["result"]["config"]
    assert info["params"]["shard_number"] == 4 and info["hnsw_config"]["m"] == 8
