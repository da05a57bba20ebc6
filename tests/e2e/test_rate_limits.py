"""Strict mode's read and write rate limits: token buckets of N a minute per collection. Once
a bucket is drained, requests pass at the configured rate (± 20 % over a few seconds) and the
rest get 429 (gRPC: RESOURCE_EXHAUSTED) with Qdrant's message."""

from __future__ import annotations

import re
import time

import grpc
import httpx
import pytest

from tests.support import api

PER_MINUTE = 1200  # 20 a second
WINDOW = 2.5  # seconds measured after draining
RETRY = re.compile(r"Rate limiting exceeded: (Read|Write) rate limit exceeded: Operation requires "
                   r"1 tokens but only \d+\.\d were available\. Retry after \d+s")


def _create(http: httpx.Client, name: str, strict: dict) -> None:
    api.ok(http.put(f"/collections/{name}", json={"vectors": {"size": 2, "distance": "Dot"}}))
    api.ok(http.put(f"/collections/{name}/points?wait=true", json={
        "points": [{"id": 1, "vector": [1.0, 0.0]}]}))
    api.ok(http.patch(f"/collections/{name}",
                      json={"strict_mode_config": {"enabled": True, **strict}}))


def _rate(drain, send) -> tuple[float, httpx.Response]:
    """Drain the bucket (one request that costs all of it, then single ones until one is
    refused), then count what passes in WINDOW seconds: passes per second, and one refusal.
    Draining by one costly request keeps this independent of how fast a loaded machine lets
    the client send."""
    assert drain().status_code == 200
    refused = None
    for _ in range(200):
        resp = send()
        if resp.status_code == 429:
            refused = resp
            break
        assert resp.status_code == 200, resp.text
    assert refused is not None, "the bucket never ran dry"
    passed = 0
    started = time.monotonic()
    while time.monotonic() - started < WINDOW:
        resp = send()
        assert resp.status_code in (200, 429), resp.text
        passed += resp.status_code == 200
    return passed / (time.monotonic() - started), refused


def test_read_rate_limit(http, node, collection_name):
    _create(http, collection_name, {"read_rate_limit": PER_MINUTE})
    query = {"query": [1.0, 0.0]}
    with httpx.Client(base_url=node.url, timeout=60) as client:
        rate, refused = _rate(
            lambda: client.post(f"/collections/{collection_name}/points/query/batch",
                                json={"searches": [query] * PER_MINUTE}),
            lambda: client.post(f"/collections/{collection_name}/points/query", json=query))
    assert PER_MINUTE / 60 * 0.8 <= rate <= PER_MINUTE / 60 * 1.2, rate
    message = refused.json()["status"]["error"]
    assert RETRY.fullmatch(message) and message.startswith(
        "Rate limiting exceeded: Read"), message


def test_reads_of_every_kind_share_the_read_bucket(http, make_name):
    name = make_name()
    _create(http, name, {"read_rate_limit": 3})  # one token every 20 s: none comes back here
    assert http.post(f"/collections/{name}/points/query", json={"query": [1, 0]}).status_code \
        == 200
    assert http.post(f"/collections/{name}/points/count", json={}).status_code == 200
    assert http.post(f"/collections/{name}/points/scroll", json={}).status_code == 200
    refused = http.post(f"/collections/{name}/points/count", json={})
    assert refused.status_code == 429
    assert refused.json()["status"]["error"].startswith(
        "Rate limiting exceeded: Read rate limit exceeded: Operation requires 1 tokens")


def test_write_rate_limit(http, node, collection_name):
    _create(http, collection_name, {"write_rate_limit": PER_MINUTE})
    with httpx.Client(base_url=node.url, timeout=60) as client:
        rate, refused = _rate(
            lambda: client.put(f"/collections/{collection_name}/points", json={"points": [
                {"id": i, "vector": [0.0, 1.0]} for i in range(PER_MINUTE)]}),
            lambda: client.put(f"/collections/{collection_name}/points", json={
                "points": [{"id": 2, "vector": [0.0, 1.0]}]}))
    assert PER_MINUTE / 60 * 0.8 <= rate <= PER_MINUTE / 60 * 1.2, rate
    message = refused.json()["status"]["error"]
    assert RETRY.fullmatch(message) and "Write rate limit" in message, message
    # reads are not limited by the write bucket
    assert http.post(f"/collections/{collection_name}/points/count", json={}).status_code == 200
    big = http.put(f"/collections/{collection_name}/points", json={"points": [
        {"id": i, "vector": [0.0, 1.0]} for i in range(PER_MINUTE + 1)]})
    assert big.status_code == 429
    assert big.json()["status"]["error"] == (
        f"Rate limiting exceeded: Write rate limit exceeded, operation cost {PER_MINUTE + 1} is "
        f"larger than the rate limit capacity {PER_MINUTE}")


def test_rate_limit_over_grpc(http, gclient, collection_name):
    _create(http, collection_name, {"read_rate_limit": 5})
    for _ in range(5):
        gclient.query_points(collection_name, query=[1.0, 0.0])
    with pytest.raises(grpc.RpcError) as info:
        gclient.query_points(collection_name, query=[1.0, 0.0])
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert info.value.details().startswith("Rate limiting exceeded: Read rate limit exceeded")
