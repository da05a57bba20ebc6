"""Multivectors (multivector_config max_sim): matrices per point, queries by matrix, scores equal
a brute-force MaxSim in numpy for every distance and for float32 / float16 / uint8 storage;
filter, score_threshold, limit/offset, query by id, retrieve, and the errors for a vector of the
wrong kind. Through qdrant-client on both transports and raw HTTP."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from qdrant_client import models

from tests.support import api
from tests.support.api import create_collection, error

N_POINTS = 200
DIM = 8
DISTANCES = ["Cosine", "Dot", "Euclid", "Manhattan"]


def stored_form(matrix: np.ndarray, distance: str, datatype: str) -> np.ndarray:
    m = np.asarray(matrix, np.float32)
    if datatype == "uint8":
        return np.clip(m, 0, 255).astype(np.uint8).astype(np.float32)
    if distance == "Cosine":
        m = m / np.linalg.norm(m, axis=1, keepdims=True)
    if datatype == "float16":
        m = m.astype(np.float16).astype(np.float32)
    return m.astype(np.float32)


def maxsim(query: np.ndarray, doc: np.ndarray, distance: str) -> float:
    """Qdrant's MaxSim: sum over query rows of the best similarity over the document's rows."""
    total = np.float32(0)
    for q in query:
        if distance in ("Cosine", "Dot"):
            sims = doc @ q
        elif distance == "Euclid":
            sims = -((doc - q) ** 2).sum(axis=1)
        else:
            sims = -np.abs(doc - q).sum(axis=1)
        total += np.float32(sims.max())
    if distance == "Euclid":
        return float(np.sqrt(abs(total)))
    if distance == "Manhattan":
        return float(abs(total))
    return float(total)


class MultiData:
    def __init__(self, name, distance, datatype, matrices, payloads):
        self.name, self.distance, self.datatype = name, distance, datatype
        self.raw = matrices
        self.stored = {pid: stored_form(m, distance, datatype) for pid, m in matrices.items()}
        self.payloads = payloads

    def rank(self, query, allowed=None, exclude=()):
        q = np.asarray(query, np.float32)
        if self.datatype != "uint8" and self.distance == "Cosine":
            q = q / np.linalg.norm(q, axis=1, keepdims=True)
        if self.datatype == "uint8":
            q = np.clip(q, 0, 255).astype(np.uint8).astype(np.float32)
        if self.datatype == "float16":  # queries are converted to the storage type too
            q = q.astype(np.float16).astype(np.float32)
        higher = self.distance in ("Cosine", "Dot")
        out = [(pid, maxsim(q, m, self.distance)) for pid, m in self.stored.items()
               if pid not in exclude and (allowed is None or pid in allowed)]
        out.sort(key=lambda p: ((-p[1] if higher else p[1]), p[0]))
        return out


def assert_same(got, expected, k):
    expected = expected[:k]
    assert len(got) == len(expected), (got, expected)
    for (gid, gs), (eid, es) in zip(got, expected, strict=True):
        assert math.isclose(gs, es, rel_tol=1e-4, abs_tol=1e-4), (got, expected)
        if gid != eid:
            assert any(p == gid and math.isclose(s, es, rel_tol=1e-4, abs_tol=1e-4)
                       for p, s in expected)


def _make(http, distance: str, datatype: str = "float32") -> MultiData:
    name = f"multi_{distance.lower()}_{datatype}_{uuid.uuid4().hex[:6]}"
    params = {"size": DIM, "distance": distance, "multivector_config": {"comparator": "max_sim"}}
    if datatype != "float32":
        params["datatype"] = datatype
    create_collection(http, name,
                      {"vectors": {"colbert": params, "plain": {"size": 2, "distance": "Dot"}}})
    seed = DISTANCES.index(distance) * 10 + ["float32", "float16", "uint8"].index(datatype)
    rng = np.random.default_rng(seed)
    matrices, payloads, points = {}, {}, []
    for pid in range(1, N_POINTS + 1):
        rows = int(rng.integers(1, 7))
        if datatype == "uint8":
            m = rng.integers(0, 20, size=(rows, DIM)).astype(np.float32)
        else:
            m = rng.normal(size=(rows, DIM)).astype(np.float32)
        matrices[pid] = m
        payloads[pid] = {"group": pid % 3}
        points.append({"id": pid, "vector": {"colbert": m.tolist(), "plain": [1.0, 0.0]},
                       "payload": payloads[pid]})
    api.upsert(http, name, points)
    return MultiData(name, distance, datatype, matrices, payloads)


@pytest.fixture(scope="module")
def multi_sets(node):
    made = {}
    try:
        for distance in DISTANCES:
            made[(distance, "float32")] = _make(node.http, distance)
        made[("Dot", "float16")] = _make(node.http, "Dot", "float16")
        made[("Cosine", "float16")] = _make(node.http, "Cosine", "float16")
        made[("Dot", "uint8")] = _make(node.http, "Dot", "uint8")
        made[("Euclid", "uint8")] = _make(node.http, "Euclid", "uint8")
        yield made
    finally:
        for ds in made.values():
            node.http.delete(f"/collections/{ds.name}")


def _query(ds: MultiData, seed: int, rows: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if ds.datatype == "uint8":
        return rng.integers(0, 20, size=(rows, DIM)).astype(np.float32)
    return rng.normal(size=(rows, DIM)).astype(np.float32)


@pytest.mark.parametrize("key", [("Cosine", "float32"), ("Dot", "float32"),
                                 ("Euclid", "float32"), ("Manhattan", "float32"),
                                 ("Dot", "float16"), ("Cosine", "float16"),
                                 ("Dot", "uint8"), ("Euclid", "uint8")])
def test_query_by_matrix_matches_brute_force(client, multi_sets, key):
    ds = multi_sets[key]
    for seed in range(3):
        q = _query(ds, seed, rows=1 + seed)
        res = client.query_points(ds.name, query=q.tolist(), using="colbert", limit=10)
        assert_same([(p.id, p.score) for p in res.points], ds.rank(q), 10)


@pytest.mark.parametrize("distance", ["Dot", "Euclid"])
def test_filter_threshold_limit_offset(client, multi_sets, distance):
    ds = multi_sets[(distance, "float32")]
    q = _query(ds, 42)
    allowed = {pid for pid, p in ds.payloads.items() if p["group"] == 2}
    flt = models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value=2))])
    res = client.query_points(ds.name, query=q.tolist(), using="colbert", query_filter=flt, limit=7)
    assert_same([(p.id, p.score) for p in res.points], ds.rank(q, allowed=allowed), 7)
    full = ds.rank(q)
    res = client.query_points(ds.name, query=q.tolist(), using="colbert", limit=6, offset=5)
    assert_same([(p.id, p.score) for p in res.points], full[5:11], 6)
    threshold = (full[8][1] + full[9][1]) / 2  # between two scores: no float32 rounding at the edge
    res = client.query_points(ds.name, query=q.tolist(), using="colbert", limit=50,
                              score_threshold=threshold)
    higher = distance == "Dot"
    expected = [p for p in full if (p[1] >= threshold if higher else p[1] <= threshold)]
    assert_same([(p.id, p.score) for p in res.points], expected, 50)


def test_query_by_point_id_and_retrieve(client, http, multi_sets):
    ds = multi_sets[("Cosine", "float32")]
    pid = 33
    res = client.query_points(ds.name, query=pid, using="colbert", limit=8)
    assert_same([(p.id, p.score) for p in res.points], ds.rank(ds.stored[pid], exclude={pid}), 8)
    record = api.retrieve(http, ds.name, [pid], with_vector=["colbert"])[0]
    assert np.allclose(record["vector"]["colbert"], ds.stored[pid], atol=1e-6)
    got = client.retrieve(ds.name, [pid], with_vectors=["colbert"])[0].vector["colbert"]
    assert np.allclose(got, ds.stored[pid], atol=1e-6)


def test_raw_http_nearest_form(http, multi_sets):
    ds = multi_sets[("Manhattan", "float32")]
    q = _query(ds, 7, rows=2)
    points = api.query(http, ds.name, {"query": {"nearest": q.tolist()}, "using": "colbert",
                                       "limit": 5, "with_payload": True})
    assert_same([(p["id"], p["score"]) for p in points], ds.rank(q), 5)
    assert all(p["payload"] == ds.payloads[p["id"]] for p in points)


def test_wrong_kinds_refused(http, multi_sets):
    ds = multi_sets[("Dot", "float32")]
    def put(vector):
        return http.put(f"/collections/{ds.name}/points", params={"wait": "true"},
                        json={"points": [{"id": 9999, "vector": vector}]})

    error(put({"colbert": [[0.1] * (DIM - 1)]}), 400, contains="Vector dimension error")
    assert put({"plain": [[1.0, 0.0], [0.0, 1.0]]}).status_code == 400  # a matrix for a plain one
    assert put({"colbert": []}).status_code in (400, 422)
    resp = http.post(f"/collections/{ds.name}/points/query",
                     json={"query": [[0.1] * (DIM + 1)], "using": "colbert"})
    error(resp, 400, contains="Vector dimension error")
    resp = http.post(f"/collections/{ds.name}/points/query",
                     json={"query": [[1.0, 0.0]], "using": "plain"})
    assert resp.status_code == 400
    assert api.count(http, ds.name) == N_POINTS


def test_unknown_comparator_refused(http, collection_name):
    resp = http.put(f"/collections/{collection_name}", json={"vectors": {
        "size": 4, "distance": "Dot", "multivector_config": {"comparator": "min_sim"}}})
    error(resp, 400, contains="max_sim")


def test_unnamed_multivector_collection(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(
        size=3, distance=models.Distance.DOT,
        multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)))
    client.upsert(collection_name, points=[
        models.PointStruct(id=1, vector=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
        models.PointStruct(id=2, vector=[[0.5, 0.5, 0.0]]),
    ])
    res = client.query_points(collection_name, query=[[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], limit=2)
    assert [(p.id, p.score) for p in res.points] == [(1, 3.0), (2, 1.5)]
    got = client.retrieve(collection_name, [1], with_vectors=True)[0].vector
    assert got == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    # one plain vector for a multivector: Qdrant stores it as a multivector of one
    client.upsert(collection_name, points=[models.PointStruct(id=3, vector=[0.0, 0.0, 4.0])])
    assert client.retrieve(collection_name, [3], with_vectors=True)[0].vector == [[0.0, 0.0, 4.0]]
    res = client.query_points(collection_name, query=[0.0, 0.0, 1.0], limit=1)
    assert [(p.id, p.score) for p in res.points] == [(3, 4.0)]


def test_two_stage_query_rescores_prefetch_with_maxsim(http, client, collection_name):
    """The seed's "2-stage query": candidates from a dense and a BM25 prefetch, re-ranked by
    MaxSim on a multivector; equal to brute-force MaxSim over the union of the candidates."""
    create_collection(http, collection_name, {
        "vectors": {"d": {"size": 4, "distance": "Cosine"},
                    "colbert": {"size": 4, "distance": "Dot",
                                "multivector_config": {"comparator": "max_sim"}}},
        "sparse_vectors": {"bm25": {"modifier": "idf"}},
    })
    rng = np.random.default_rng(8)
    words = ["apple", "banana", "cherry", "grape", "lemon", "mango", "peach", "plum"]
    dense, colbert, points = {}, {}, []
    for pid in range(1, 81):
        dense[pid] = rng.normal(size=4).astype(np.float32)
        colbert[pid] = rng.normal(size=(1 + pid % 4, 4)).astype(np.float32)
        text = " ".join(rng.choice(words, size=4))
        points.append({"id": pid, "vector": {"d": dense[pid].tolist(),
                                             "colbert": colbert[pid].tolist(),
                                             "bm25": {"text": text, "model": "qdrant/bm25"}}})
    api.upsert(http, collection_name, points)
    qd = rng.normal(size=4).astype(np.float32)
    qm = rng.normal(size=(3, 4)).astype(np.float32)
    doc = {"text": "cherry lemon", "model": "qdrant/bm25"}
    body = {"prefetch": [{"query": qd.tolist(), "using": "d", "limit": 15},
                         {"query": doc, "using": "bm25", "limit": 5}],
            "query": qm.tolist(), "using": "colbert", "limit": 10}
    got = api.query(http, collection_name, body)
    # the union of the candidates: the dense top 15 (numpy) and the BM25 top 5 (the server's
    # sparse search, checked against its reference in test_bm25.py)
    dense_n = {pid: v / np.linalg.norm(v) for pid, v in dense.items()}
    q_n = qd / np.linalg.norm(qd)
    dense_top = sorted(dense_n, key=lambda p: (-float(dense_n[p] @ q_n), p))[:15]
    bm25_top = [p["id"] for p in api.query(http, collection_name,
                                           {"query": doc, "using": "bm25", "limit": 5})]
    assert len(bm25_top) == 5 and set(bm25_top) - set(dense_top)
    union = set(dense_top) | set(bm25_top)
    expected = sorted(((p, maxsim(qm, colbert[p], "Dot")) for p in union),
                      key=lambda x: (-x[1], x[0]))
    assert_same([(p["id"], p["score"]) for p in got], expected, 10)
    # the same through qdrant-client (dense prefetch only: the client embeds documents itself)
    res = client.query_points(
        collection_name, prefetch=[models.Prefetch(query=qd.tolist(), using="d", limit=15)],
        query=qm.tolist(), using="colbert", limit=10)
    expected = sorted(((p, maxsim(qm, colbert[p], "Dot")) for p in dense_top),
                      key=lambda x: (-x[1], x[0]))
    assert_same([(p.id, p.score) for p in res.points], expected, 10)
