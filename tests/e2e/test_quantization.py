"""Quantization through the API: set at create time or by PATCH (echoed in the config), built by
the optimizer (status green once done), searched with rescoring by default: recall@10 ≥ 0.95
against exact search on 20,000 points (scalar int8). qdrant-client on both transports.

The params.quantization knobs (ignore / rescore / oversampling) reach the shard through the
query; binary recall is shown on the shard (tests/node/test_quantization.py).
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
from qdrant_client import models

from tests.support import api
from tests.support.api import create_collection, ok

N = 20_000
DIM = 64


def _clustered(rng, n):
    centres = np.random.default_rng(100).normal(size=(100, DIM)).astype(np.float32)
    return (centres[rng.integers(0, 100, size=n)] + rng.normal(size=(n, DIM))).astype(np.float32)


def _wait_green(http, name, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = api.collection_info(http, name)
        if info["status"] == "green" and info["indexed_vectors_count"] > 0:
            return info
        time.sleep(0.2)
    raise AssertionError(f"collection {name} not green after {timeout}s: {info}")


@pytest.fixture(scope="module")
def quantized(node):
    http = node.http
    name = f"quant_{uuid.uuid4().hex[:8]}"
    create_collection(http, name, {
        "vectors": {"size": DIM, "distance": "Cosine"},
        "hnsw_config": {"m": 8, "ef_construct": 32},
        "optimizers_config": {"indexing_threshold": 100},
        "quantization_config": {"scalar": {"type": "int8", "quantile": 0.999, "always_ram": True}},
    })
    data = _clustered(np.random.default_rng(1), N)
    batch = 2000
    for start in range(0, N, batch):
        ok(http.put(f"/collections/{name}/points", params={"wait": "true"}, json={"batch": {
            "ids": list(range(start, start + batch)),
            "vectors": data[start : start + batch].tolist()}}))
    _wait_green(http, name)
    try:
        yield name
    finally:
        http.delete(f"/collections/{name}")


@pytest.mark.slow
def test_scalar_recall_with_default_rescoring(client, quantized):
    queries = _clustered(np.random.default_rng(2), 30)
    total = 0.0
    for q in queries:
        got = client.query_points(quantized, query=q.tolist(), limit=10).points
        exact = client.query_points(quantized, query=q.tolist(), limit=10,
                                    search_params=models.SearchParams(exact=True)).points
        total += len({p.id for p in got} & {p.id for p in exact}) / 10
        # rescored: the scores are the original vectors' scores
        by_id = {p.id: p.score for p in exact}
        for p in got:
            if p.id in by_id:
                assert p.score == pytest.approx(by_id[p.id], rel=1e-5)
    assert total / len(queries) >= 0.95


@pytest.mark.slow
def test_search_params_quantization_reach_the_index(client, http, quantized):
    q = _clustered(np.random.default_rng(4), 1)[0].tolist()
    exact = {p.id: p.score for p in client.query_points(
        quantized, query=q, limit=50, search_params=models.SearchParams(exact=True)).points}
    raw = client.query_points(quantized, query=q, limit=10, search_params=models.SearchParams(
        quantization=models.QuantizationSearchParams(rescore=False))).points
    # without rescoring the scores are the int8 codes' estimates, not the vectors' own
    assert any(p.id in exact and abs(p.score - exact[p.id]) > 1e-5 for p in raw)
    ignored = client.query_points(quantized, query=q, limit=10, search_params=models.SearchParams(
        quantization=models.QuantizationSearchParams(ignore=True, oversampling=2.0))).points
    for p in ignored:
        assert p.score == pytest.approx(exact[p.id], rel=1e-5)
    bad = http.post(f"/collections/{quantized}/points/query", json={
        "query": q, "params": {"quantization": {"oversampling": 0.5}}})
    assert bad.status_code == 422


@pytest.mark.slow
def test_patch_quantization_rebuilds(http, quantized):
    ok(http.patch(f"/collections/{quantized}",
                  json={"quantization_config": {"binary": {"always_ram": True}}}))
    info = _wait_green(http, quantized)
    assert info["config"]["quantization_config"] == {"binary": {"always_ram": True}}
    q = _clustered(np.random.default_rng(3), 1)[0].tolist()
    points = api.query(http, quantized, {"query": q, "limit": 10})
    assert len(points) == 10
    # preselected by Hamming distance (this data does not suit binary: recall is low), then
    # rescored: the scores are the exact ones of those points, best first
    records = {r["id"]: r["vector"]
               for r in api.retrieve(http, quantized, [p["id"] for p in points])}
    qn = np.asarray(q, np.float32) / np.linalg.norm(q)
    for p in points:
        exact_score = float(np.asarray(records[p["id"]], np.float32) @ qn)
        assert p["score"] == pytest.approx(exact_score, rel=1e-4)
    assert [p["score"] for p in points] == sorted((p["score"] for p in points), reverse=True)
    exact = api.query(http, quantized, {"query": q, "limit": 10, "params": {"exact": True}})
    ok(http.patch(f"/collections/{quantized}", json={"quantization_config": "Disabled"}))
    info = _wait_green(http, quantized)
    assert info["config"]["quantization_config"] is None
    assert api.query(http, quantized, {"query": q, "limit": 10}) == exact


def test_create_with_quantization_echoed(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(
            size=4, distance=models.Distance.DOT,
            quantization_config=models.ProductQuantization(
                product=models.ProductQuantizationConfig(
                    compression=models.CompressionRatio.X4, always_ram=True)),
        ),
        quantization_config=models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=0.99, always_ram=True)),
    )
    info = client.get_collection(collection_name)
    assert info.config.quantization_config.scalar.quantile == pytest.approx(0.99)
    product = info.config.params.vectors.quantization_config.product
    assert product.compression == models.CompressionRatio.X4
    client.upsert(collection_name,
                  points=[models.PointStruct(id=i, vector=[float(i), 1.0, 0.0, 0.5])
                          for i in range(1, 50)])
    res = client.query_points(collection_name, query=[1.0, 0.0, 0.0, 0.0], limit=3)
    assert [p.id for p in res.points] == [49, 48, 47]
