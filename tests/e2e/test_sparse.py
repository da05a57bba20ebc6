"""Named sparse vectors: storage (sorted, duplicates refused), inverted-index search equal to a
brute-force sparse dot product in numpy (plain and with the idf modifier, over the whole
collection, also with several shards), filter, score_threshold, limit/offset, query by id.

Queries go through qdrant-client on both transports (the `client` fixture) and raw HTTP.
"""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from qdrant_client import models

from tests.support import api
from tests.support.api import create_collection, error, ok

N_POINTS = 300
DIMS = 120


def _random_sparse(rng, low=1, high=12):
    n = int(rng.integers(low, high))
    indices = rng.choice(DIMS, size=n, replace=False)
    values = rng.normal(size=n).astype(np.float32)
    return [int(i) for i in indices], [float(v) for v in values]


class SparseData:
    """What the collection holds, kept in the test for the brute-force reference."""

    def __init__(self, name: str):
        self.name = name
        self.vectors: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {"plain": {}, "idf": {}}
        self.payloads: dict[int, dict] = {}

    def put(self, vname: str, pid: int, indices, values) -> None:
        order = np.argsort(indices)
        self.vectors[vname][pid] = (
            np.asarray(indices, np.int64)[order],
            np.asarray(values, np.float32)[order],
        )

    def rank(self, vname, q_indices, q_values, allowed=None, exclude=(), idf=False):
        """[(id, score)] best first: points sharing a dimension with the query, by dot product
        in float32 (query weights times Qdrant's idf when asked)."""
        stored = self.vectors[vname]
        q_indices = np.asarray(q_indices, np.int64)
        q_values = np.asarray(q_values, np.float32)
        if idf:
            n = len(stored)
            df = np.array([sum(1 for ix, _ in stored.values() if d in ix) for d in q_indices],
                          dtype=np.float32)
            weights = np.log((np.float32(n) - df + np.float32(0.5)) / (df + np.float32(0.5))
                             + np.float32(1.0)).astype(np.float32)
            q_values = (q_values * weights).astype(np.float32)
        query = dict(zip(q_indices.tolist(), q_values.tolist(), strict=True))
        out = []
        for pid, (ix, vals) in stored.items():
            if pid in exclude or (allowed is not None and pid not in allowed):
                continue
            shared = [(i, v) for i, v in zip(ix.tolist(), vals.tolist(), strict=True)
                      if i in query]
            if not shared:
                continue
            score = np.float32(0)
            for i, v in shared:
                score += np.float32(query[i]) * np.float32(v)
            out.append((pid, float(score)))
        out.sort(key=lambda p: (-p[1], p[0]))
        return out


def _assert_same(got, expected, k):
    expected = expected[:k]
    assert len(got) == len(expected), (got, expected)
    for (gid, gscore), (eid, escore) in zip(got, expected, strict=True):
        assert math.isclose(gscore, escore, rel_tol=1e-5, abs_tol=1e-5), (got, expected)
        if gid != eid:  # only a tie may swap two points
            assert any(math.isclose(escore, s, rel_tol=1e-5, abs_tol=1e-5)
                       for p, s in expected if p == gid)


def _make(http, name, shard_number=1) -> SparseData:
    create_collection(http, name, {
        "vectors": {"d": {"size": 4, "distance": "Dot"}},
        "sparse_vectors": {
            "plain": {},
            "idf": {"modifier": "idf", "index": {"full_scan_threshold": 100, "on_disk": False}},
        },
        "shard_number": shard_number,
    })
    data = SparseData(name)
    rng = np.random.default_rng(7 + shard_number)
    points = []
    for pid in range(1, N_POINTS + 1):
        vector: dict = {"d": rng.normal(size=4).tolist()}
        for vname in ("plain", "idf"):
            if pid % 10 == 3 and vname == "plain":
                continue  # some points without that sparse vector
            indices, values = _random_sparse(rng)
            vector[vname] = {"indices": indices, "values": values}
            data.put(vname, pid, indices, values)
        payload = {"group": pid % 4}
        data.payloads[pid] = payload
        points.append({"id": pid, "vector": vector, "payload": payload})
    for start in range(0, len(points), 100):
        api.upsert(http, name, points[start : start + 100])
    return data


@pytest.fixture(scope="module")
def sparse_data(node):
    name = f"sparse_{uuid.uuid4().hex[:8]}"
    try:
        yield _make(node.http, name)
    finally:
        node.http.delete(f"/collections/{name}")


@pytest.fixture(scope="module")
def sharded_data(node):
    name = f"sparse3_{uuid.uuid4().hex[:8]}"
    try:
        yield _make(node.http, name, shard_number=3)
    finally:
        node.http.delete(f"/collections/{name}")


def _queries(seed=11, n=6):
    rng = np.random.default_rng(seed)
    return [_random_sparse(rng, 2, 10) for _ in range(n)]


# ------------------------------------------------------------------------------------ storage


def test_stored_sorted_and_returned(http, sparse_data):
    pid = 5
    record = api.retrieve(http, sparse_data.name, [pid], with_vector=True)[0]
    ix, vals = sparse_data.vectors["plain"][pid]
    assert record["vector"]["plain"]["indices"] == ix.tolist()
    assert np.allclose(record["vector"]["plain"]["values"], vals)
    assert "plain" not in api.retrieve(http, sparse_data.name, [3], with_vector=True)[0]["vector"]


def test_unsorted_input_is_sorted(http, collection_name):
    create_collection(http, collection_name, {"sparse_vectors": {"s": {}}})
    api.upsert(http, collection_name,
               [{"id": 1, "vector": {"s": {"indices": [9, 2, 5], "values": [0.9, 0.2, 0.5]}}}])
    record = api.retrieve(http, collection_name, [1], with_vector=True)[0]
    assert record["vector"]["s"] == {"indices": [2, 5, 9], "values": [0.2, 0.5, 0.9]}


def test_duplicate_indices_rejected(http, collection_name):
    create_collection(http, collection_name, {"sparse_vectors": {"s": {}}})
    resp = http.put(f"/collections/{collection_name}/points", params={"wait": "true"}, json={
        "points": [{"id": 1, "vector": {"s": {"indices": [1, 1], "values": [0.5, 0.5]}}}]})
    error(resp, 422, contains="must be unique")
    resp = http.put(f"/collections/{collection_name}/points", params={"wait": "true"}, json={
        "points": [{"id": 1, "vector": {"s": {"indices": [1, 2], "values": [0.5]}}}]})
    error(resp, 422, contains="must be the same length as indices")
    assert api.count(http, collection_name) == 0


# ------------------------------------------------------------------------------------- search


@pytest.mark.parametrize("vname", ["plain", "idf"])
def test_query_matches_brute_force(client, sparse_data, vname):
    for q_ix, q_vals in _queries():
        res = client.query_points(
            sparse_data.name, query=models.SparseVector(indices=q_ix, values=q_vals),
            using=vname, limit=15,
        )
        expected = sparse_data.rank(vname, q_ix, q_vals, idf=(vname == "idf"))
        _assert_same([(p.id, p.score) for p in res.points], expected, 15)


def test_query_over_http_nearest_form_and_all_hits(http, sparse_data):
    q_ix, q_vals = [3, 50, 7], [1.0, -0.5, 2.0]
    body = {"query": {"nearest": {"indices": q_ix, "values": q_vals}}, "using": "plain",
            "limit": 1000}
    points = api.query(http, sparse_data.name, body)
    expected = sparse_data.rank("plain", q_ix, q_vals)
    # only points sharing a dimension with the query are hits
    assert len(points) == len(expected) < N_POINTS
    _assert_same([(p["id"], p["score"]) for p in points], expected, 1000)


@pytest.mark.parametrize("vname", ["plain", "idf"])
def test_filter_threshold_limit_offset(client, sparse_data, vname):
    q_ix, q_vals = _queries(seed=5, n=1)[0]
    idf = vname == "idf"
    allowed = {pid for pid, p in sparse_data.payloads.items() if p["group"] == 1}
    flt = models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value=1))])
    query = models.SparseVector(indices=q_ix, values=q_vals)
    res = client.query_points(sparse_data.name, query=query,
                              using=vname, query_filter=flt, limit=8)
    expected = sparse_data.rank(vname, q_ix, q_vals, allowed=allowed, idf=idf)
    _assert_same([(p.id, p.score) for p in res.points], expected, 8)
    # limit / offset: a window of the same ranking
    full = sparse_data.rank(vname, q_ix, q_vals, idf=idf)
    res = client.query_points(sparse_data.name, query=query,
                              using=vname, limit=5, offset=4)
    _assert_same([(p.id, p.score) for p in res.points], full[4:9], 5)
    # score_threshold: scores below it are left out
    threshold = (full[6][1] + full[7][1]) / 2  # between two scores: no float32 rounding at the edge
    res = client.query_points(sparse_data.name, query=query,
                              using=vname, limit=50, score_threshold=threshold)
    assert [p.id for p in res.points] == [pid for pid, s in full if s >= threshold][:50]


@pytest.mark.parametrize("vname", ["plain", "idf"])
def test_query_by_point_id(client, sparse_data, vname):
    pid = 17
    ix, vals = sparse_data.vectors[vname][pid]
    res = client.query_points(sparse_data.name, query=pid, using=vname, limit=10)
    expected = sparse_data.rank(vname, ix, vals, exclude={pid}, idf=(vname == "idf"))
    _assert_same([(p.id, p.score) for p in res.points], expected, 10)


def test_idf_over_all_shards(client, sharded_data):
    for q_ix, q_vals in _queries(seed=3, n=4):
        res = client.query_points(sharded_data.name,
                                  query=models.SparseVector(indices=q_ix, values=q_vals),
                                  using="idf", limit=12)
        _assert_same([(p.id, p.score) for p in res.points],
                     sharded_data.rank("idf", q_ix, q_vals, idf=True), 12)


def test_idf_follows_deletes_and_overwrites(http, collection_name):
    create_collection(http, collection_name, {"sparse_vectors": {"s": {"modifier": "idf"}}})
    data = SparseData(collection_name)
    data.vectors = {"s": {}}
    rng = np.random.default_rng(3)
    points = []
    for pid in range(1, 61):
        ix, vals = _random_sparse(rng)
        data.put("s", pid, ix, vals)
        points.append({"id": pid, "vector": {"s": {"indices": ix, "values": vals}}})
    api.upsert(http, collection_name, points)
    ok(http.post(f"/collections/{collection_name}/points/delete", params={"wait": "true"},
                 json={"points": list(range(1, 11))}))
    for pid in range(1, 11):
        del data.vectors["s"][pid]
    ix, vals = [1, 2, 3], [1.0, 1.0, 1.0]
    api.upsert(http, collection_name,
               [{"id": 20, "vector": {"s": {"indices": ix, "values": vals}}}])
    data.put("s", 20, ix, vals)
    q_ix, q_vals = [1, 2, 3, 40], [0.5, 1.0, 1.5, 2.0]
    points = api.query(http, collection_name, {"query": {"indices": q_ix, "values": q_vals},
                                               "using": "s", "limit": 100})
    _assert_same([(p["id"], p["score"]) for p in points],
                 data.rank("s", q_ix, q_vals, idf=True), 100)


# ------------------------------------------------------------------------------------ errors


def test_wrong_kinds_are_refused(http, sparse_data):
    name = sparse_data.name
    resp = http.post(f"/collections/{name}/points/query",
                     json={"query": [0.1, 0.2, 0.3, 0.4], "using": "plain"})
    assert resp.status_code == 400
    resp = http.post(f"/collections/{name}/points/query",
                     json={"query": {"indices": [1], "values": [1.0]}, "using": "d"})
    assert resp.status_code == 400
    resp = http.post(f"/collections/{name}/points/query",
                     json={"query": {"indices": [1], "values": [1.0]}, "using": "nope"})
    error(resp, 400, contains="Not existing vector name error: nope")


def test_update_and_delete_vectors_reach_the_index(http, collection_name):
    create_collection(http, collection_name, {"sparse_vectors": {"s": {}}})
    api.upsert(http, collection_name, [
        {"id": 1, "vector": {"s": {"indices": [1, 2], "values": [1.0, 1.0]}}},
        {"id": 2, "vector": {"s": {"indices": [2, 3], "values": [2.0, 1.0]}}},
    ])
    body = {"query": {"indices": [1], "values": [1.0]}, "using": "s"}
    assert [p["id"] for p in api.query(http, collection_name, body)] == [1]
    ok(http.put(f"/collections/{collection_name}/points/vectors", params={"wait": "true"}, json={
        "points": [{"id": 2, "vector": {"s": {"indices": [1], "values": [5.0]}}}]}))
    scored = [(p["id"], p["score"]) for p in api.query(http, collection_name, body)]
    assert scored == [(2, 5.0), (1, 1.0)]
    ok(http.post(f"/collections/{collection_name}/points/vectors/delete", params={"wait": "true"},
                 json={"points": [1], "vector": ["s"]}))
    assert [p["id"] for p in api.query(http, collection_name, body)] == [2]
    # a document through update_vectors is embedded as a document
    ok(http.put(f"/collections/{collection_name}/points/vectors", params={"wait": "true"}, json={
        "points": [{"id": 1, "vector": {"s": {"text": "cookies", "model": "qdrant/bm25"}}}]}))
    stored = api.retrieve(http, collection_name, [1], with_vector=True)[0]["vector"]["s"]
    assert len(stored["indices"]) == 1
    assert stored["values"][0] == pytest.approx(2.2 / (1 + 1.2 * (0.25 + 0.75 / 256)))


def test_sparse_config_round_trip(client, collection_name):
    client.create_collection(collection_name, vectors_config={}, sparse_vectors_config={
        "s": models.SparseVectorParams(
            index=models.SparseIndexParams(full_scan_threshold=500, on_disk=False,
                                           datatype=models.Datatype.FLOAT16),
            modifier=models.Modifier.IDF),
    })
    info = client.get_collection(collection_name)
    params = info.config.params.sparse_vectors["s"]
    assert params.modifier == models.Modifier.IDF
    assert params.index.full_scan_threshold == 500
    assert params.index.datatype == models.Datatype.FLOAT16
    client.upsert(collection_name, points=[
        models.PointStruct(id=1, vector={"s": models.SparseVector(indices=[3, 1],
                                                                  values=[0.1, 0.3])}),
        models.PointStruct(id=2, vector={"s": models.SparseVector(indices=[1], values=[1.0])}),
    ])
    res = client.query_points(collection_name,
                              query=models.SparseVector(indices=[1], values=[1.0]), using="s")
    # float16 index weights; idf of dim 1 (in both points): ln((2 - 2 + 0.5) / 2.5 + 1)
    idf = math.log(0.5 / 2.5 + 1)
    assert [p.id for p in res.points] == [2, 1]
    assert res.points[1].score == pytest.approx(idf * float(np.float16(0.3)), rel=1e-5)


def test_legacy_search_with_named_sparse_vector(http, sparse_data):
    q_ix, q_vals = _queries(seed=9, n=1)[0]
    resp = http.post(f"/collections/{sparse_data.name}/points/search", json={
        "vector": {"name": "idf", "vector": {"indices": q_ix, "values": q_vals}}, "limit": 7})
    points = ok(resp)
    _assert_same([(p["id"], p["score"]) for p in points],
                 sparse_data.rank("idf", q_ix, q_vals, idf=True), 7)


def test_the_unnamed_vector_alone_is_shown_plain_beside_sparse_ones(http, client,
                                                                      collection_name):
    """Qdrant shows a point's vectors plain when the unnamed dense one is all there is (or
    all that was asked for), by name otherwise; REST and gRPC alike."""
    from qdrant_client import models

    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
        sparse_vectors_config={"sp": models.SparseVectorParams()})
    client.upsert(collection_name, points=[
        models.PointStruct(id=1, vector=[1.0, 2.0]),
        models.PointStruct(id=2, vector={"": [3.0, 4.0], "sp": models.SparseVector(
            indices=[7], values=[0.5])}),
    ])
    got = {p.id: p.vector for p in client.retrieve(collection_name, [1, 2], with_vectors=True)}
    assert got[1] == [1.0, 2.0]
    assert got[2] == {"": [3.0, 4.0], "sp": models.SparseVector(indices=[7], values=[0.5])}
    only = client.retrieve(collection_name, [2], with_vectors=[""])[0].vector
    assert only == [3.0, 4.0]
    raw = http.post(f"/collections/{collection_name}/points", json={
        "ids": [1], "with_vector": True}).json()["result"]
    assert raw[0]["vector"] == [1.0, 2.0]
