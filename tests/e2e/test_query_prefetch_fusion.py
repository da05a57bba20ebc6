"""Prefetch trees and fusion through qdrant-client (REST and gRPC), checked against numpy:
RRF (default k, k parameter, weights), DBSF, two-stage re-scoring, nested prefetches, the
propagation of the outer filter, offset and score_threshold, and the errors Qdrant gives."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from qdrant_client import models

from tests.e2e import query_reference as ref
from tests.support import api
from tests.support.api import create_collection, error, ok

N = 240
DIM = 8


@pytest.fixture(scope="module")
def data(node):
    http = node.http
    rng = np.random.default_rng(4242)
    raw = rng.normal(size=(N, DIM)).astype(np.float32)
    ids = list(range(1, N + 1))
    payloads = {pid: {"g": pid % 4, "price": float(pid % 17)} for pid in ids}
    out = ref.load_collections(http, "pf", ("Dot", "Euclid"), ids, raw, payloads)
    yield out
    for name, _ in out.values():
        http.delete(f"/collections/{name}")


def _q(seed: int) -> list[float]:
    return np.random.default_rng(seed).normal(size=DIM).astype(np.float32).tolist()


def test_rrf_default_k(client, data):
    name, d = data["Dot"]
    q1, q2 = _q(1), _q(2)
    got = client.query_points(
        name,
        prefetch=[models.Prefetch(query=q1, limit=20), models.Prefetch(query=q2, limit=30)],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=15,
    ).points
    lists = [[pid for pid, _ in ref.nearest(d, q1, 20)], [pid for pid, _ in ref.nearest(d, q2, 30)]]
    ref.assert_scored(got, ref.ranked(ref.rrf(lists, k=2), 15))
    assert got[0].score <= 1.0  # at most 1/2 + 1/2


@pytest.mark.parametrize("k,weights", [(7, None), (60, None), (3, [3.0, 1.0])])
def test_rrf_with_k_and_weights(client, data, k, weights):
    name, d = data["Dot"]
    q1, q2 = _q(3), _q(4)
    got = client.query_points(
        name,
        prefetch=[models.Prefetch(query=q1, limit=25), models.Prefetch(query=q2, limit=25)],
        query=models.RrfQuery(rrf=models.Rrf(k=k, weights=weights)),
        limit=12,
    ).points
    lists = [[pid for pid, _ in ref.nearest(d, q, 25)] for q in (q1, q2)]
    ref.assert_scored(got, ref.ranked(ref.rrf(lists, k=k, weights=weights), 12))


def test_plain_rrf_over_rest_json(http, data):
    name, d = data["Dot"]
    q1, q2 = _q(5), _q(6)
    body = {
        "prefetch": [{"query": q1, "limit": 10}, {"query": q2, "limit": 10}],
        "query": {"rrf": {}},
        "limit": 5,
    }
    got = api.query(http, name, body)
    lists = [[pid for pid, _ in ref.nearest(d, q, 10)] for q in (q1, q2)]
    ref.assert_scored(got, ref.ranked(ref.rrf(lists), 5))


@pytest.mark.parametrize("distance", ["Dot", "Euclid"])
def test_dbsf(client, data, distance):
    name, d = data[distance]
    q1, q2, q3 = _q(7), _q(8), _q(9)
    got = client.query_points(
        name,
        prefetch=[models.Prefetch(query=q, limit=lim) for q, lim in ((q1, 20), (q2, 15), (q3, 1))],
        query=models.FusionQuery(fusion=models.Fusion.DBSF),
        limit=10,
    ).points
    lists = [ref.nearest(d, q, lim) for q, lim in ((q1, 20), (q2, 15), (q3, 1))]
    ref.assert_scored(got, ref.ranked(ref.dbsf(lists), 10), rtol=1e-4)


@pytest.mark.parametrize("distance", ["Dot", "Euclid"])
def test_two_stage_rescore_and_outer_filter(client, data, distance):
    """The outer filter reaches the prefetch; the outer query re-scores what it found."""
    name, d = data[distance]
    q1, q2 = _q(10), _q(11)
    flt = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchValue(value=1))])
    got = client.query_points(
        name, prefetch=models.Prefetch(query=q1, limit=40), query=q2, query_filter=flt, limit=8
    ).points
    allowed = {pid for pid in d.ids if pid % 4 == 1}
    candidates = {pid for pid, _ in ref.nearest(d, q1, 40, allowed)}
    ref.assert_scored(got, ref.nearest(d, q2, 8, candidates))


def test_nested_prefetch_fusion_then_rescore(client, data):
    name, d = data["Dot"]
    q1, q2, q3 = _q(12), _q(13), _q(14)
    flt = models.Filter(must=[models.FieldCondition(key="price", range=models.Range(lt=12))])
    got = client.query_points(
        name,
        prefetch=models.Prefetch(
            prefetch=[
                models.Prefetch(query=q1, limit=30, filter=flt),
                models.Prefetch(query=q2, limit=30),
            ],
            query=models.FusionQuery(fusion=models.Fusion.RRF),
            limit=25,
        ),
        query=q3,
        limit=6,
        offset=2,
    ).points
    allowed = {pid for pid in d.ids if pid % 17 < 12}
    # Qdrant adds the request's offset (2) to the limit of every prefetch, at every level
    lists = [
        [p for p, _ in ref.nearest(d, q1, 32, allowed)],
        [p for p, _ in ref.nearest(d, q2, 32)],
    ]
    fused = [pid for pid, _ in ref.ranked(ref.rrf(lists), 27)]
    ref.assert_scored(got, ref.nearest(d, q3, 8, set(fused))[2:])


def test_prefetch_rescore_equals_plain_query(client, data):
    name, d = data["Dot"]
    q = _q(15)
    plain = client.query_points(name, query=q, limit=7, with_payload=True).points
    staged = client.query_points(
        name, prefetch=models.Prefetch(query=q, limit=50), query=q, limit=7, with_payload=True
    ).points
    assert [(p.id, p.score, p.payload, p.version) for p in plain] == [
        (p.id, p.score, p.payload, p.version) for p in staged
    ]


def test_fusion_score_threshold_and_payload(client, data):
    name, d = data["Dot"]
    q1, q2 = _q(16), _q(17)
    got = client.query_points(
        name,
        prefetch=[models.Prefetch(query=q1, limit=10), models.Prefetch(query=q2, limit=10)],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        score_threshold=0.3,
        with_payload=["g"],
        limit=50,
    ).points
    lists = [[p for p, _ in ref.nearest(d, q, 10)] for q in (q1, q2)]
    expected = [(pid, s) for pid, s in ref.ranked(ref.rrf(lists), 50) if s >= 0.3]
    ref.assert_scored(got, expected)
    assert all(p.payload == {"g": p.id % 4} for p in got)


def test_query_batch_with_prefetch(client, data):
    name, d = data["Dot"]
    q1, q2 = _q(18), _q(19)
    fused = models.QueryRequest(
        prefetch=[models.Prefetch(query=q1, limit=10), models.Prefetch(query=q2, limit=10)],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=5,
    )
    plain = models.QueryRequest(query=q1, limit=3)
    res = client.query_batch_points(name, requests=[fused, plain])
    lists = [[p for p, _ in ref.nearest(d, q, 10)] for q in (q1, q2)]
    ref.assert_scored(res[0].points, ref.ranked(ref.rrf(lists), 5))
    ref.assert_scored(res[1].points, ref.nearest(d, q1, 3))


def test_errors(http, data):
    name, _ = data["Dot"]
    path = f"/collections/{name}/points/query"
    q = _q(20)
    error(
        http.post(path, json={"query": {"fusion": "rrf"}}),
        400,
        contains="Fusion without prefetches",
    )
    error(
        http.post(path, json={"prefetch": [{"query": q}], "query": {"fusion": "max"}}),
        400,
        contains="max",
    )
    error(
        http.post(path, json={"prefetch": [{"query": q, "limit": 0}], "query": {"fusion": "rrf"}}),
        422,
        contains="limit",
    )
    error(
        http.post(path, json={"prefetch": [{"query": q}], "query": {"rrf": {"weights": [1, 2]}}}),
        422,
        contains="weights",
    )
    error(
        http.post(path, json={"prefetch": [{"query": q}], "query": {"rrf": {"k": 0}}}),
        422,
        contains="k",
    )
    error(
        http.post(path, json={"query": {"formula": "$score"}}),
        400,
        contains="Formula without prefetches",
    )
    ok(http.post(path, json={"prefetch": {"query": q}, "query": {"fusion": "dbsf"}}))


# -- hybrid: dense + sparse fused, multivector re-ranking -------------------------------------

HN = 60


@pytest.fixture(scope="module")
def hybrid(node):
    http = node.http
    rng = np.random.default_rng(2468)
    dense = rng.normal(size=(HN, 4)).astype(np.float32)
    multi = rng.normal(size=(HN, 3, 3)).astype(np.float32)
    sparse = []
    for _ in range(HN):
        idx = sorted(rng.choice(20, size=4, replace=False).tolist())
        sparse.append((idx, rng.uniform(0.1, 2.0, size=4).astype(np.float32).tolist()))
    name = f"hybrid_{uuid.uuid4().hex[:8]}"
    create_collection(
        http,
        name,
        {
            "vectors": {
                "d": {"size": 4, "distance": "Dot"},
                "m": {
                    "size": 3,
                    "distance": "Dot",
                    "multivector_config": {"comparator": "max_sim"},
                },
            },
            "sparse_vectors": {"s": {}},
        },
    )
    api.upsert(
        http,
        name,
        [
            {
                "id": i,
                "vector": {
                    "d": dense[i].tolist(),
                    "m": multi[i].tolist(),
                    "s": {"indices": sparse[i][0], "values": sparse[i][1]},
                },
            }
            for i in range(HN)
        ],
    )
    yield name, dense, multi, sparse
    http.delete(f"/collections/{name}")


def _sparse_ranking(sparse, q_idx, q_val, k):
    q = dict(zip(q_idx, q_val, strict=False))
    hits = []
    for i, (idx, val) in enumerate(sparse):
        common = [j for j in idx if j in q]
        if common:
            pairs = zip(idx, val, strict=True)
            score = sum(np.float32(v) * np.float32(q[j]) for j, v in pairs if j in q)
            hits.append((i, float(score)))
    hits.sort(key=lambda t: (-t[1], t[0]))
    return hits[:k]


def test_hybrid_rrf_and_multivector_rerank(client, hybrid):
    name, dense, multi, sparse = hybrid
    qd = [0.5, -0.3, 0.8, 0.1]
    q_idx, q_val = [1, 4, 7, 11, 15], [0.7, 1.2, 0.4, 0.9, 1.5]
    got = client.query_points(
        name,
        prefetch=[
            models.Prefetch(query=qd, using="d", limit=10),
            models.Prefetch(
                query=models.SparseVector(indices=q_idx, values=q_val), using="s", limit=10
            ),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=8,
    ).points
    dense_ids = [i for i, _ in ref.top(list(range(HN)), dense @ np.asarray(qd, np.float32), 10)]
    sparse_ids = [i for i, _ in _sparse_ranking(sparse, q_idx, q_val, 10)]
    ref.assert_scored(got, ref.ranked(ref.rrf([dense_ids, sparse_ids]), 8))

    qm = [[1.0, 0.0, 0.5], [-0.2, 0.9, 0.1]]
    reranked = client.query_points(
        name, prefetch=models.Prefetch(query=qd, using="d", limit=20), query=qm, using="m", limit=5
    ).points
    candidates = [i for i, _ in ref.top(list(range(HN)), dense @ np.asarray(qd, np.float32), 20)]
    maxsim = {
        i: float((multi[i] @ np.asarray(qm, np.float32).T).max(axis=0).sum()) for i in candidates
    }
    ref.assert_scored(reranked, ref.ranked(maxsim, 5), rtol=1e-5, atol=1e-5)
