"""The distance matrix API through qdrant-client (REST and gRPC): for the sampled points, each
one's `limit` nearest other sampled points, scored as numpy scores them, in pairs and offsets
form; filter, using, sample > points, and the errors."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from qdrant_client import models

from tests.e2e import query_reference as ref
from tests.support import api
from tests.support.api import create_collection, error

N = 120
DIM = 6


@pytest.fixture(scope="module")
def data(node):
    http = node.http
    rng = np.random.default_rng(31337)
    raw = rng.normal(size=(N, DIM)).astype(np.float32)
    ids = list(range(1, N + 1))
    payloads = {pid: {"g": pid % 2} for pid in ids}
    out = {}
    for distance in ("Cosine", "Euclid"):
        name = f"matrix_{distance.lower()}_{uuid.uuid4().hex[:8]}"
        create_collection(http, name, {"vectors": {"v": {"size": DIM, "distance": distance}}})
        api.upsert(
            http,
            name,
            [
                {"id": pid, "vector": {"v": raw[i].tolist()}, "payload": payloads[pid]}
                for i, pid in enumerate(ids)
            ],
        )
        out[distance] = (name, ref.Data(ids, raw, distance, payloads))
    yield out
    for name, _ in out.values():
        http.delete(f"/collections/{name}")


def expected_neighbours(d: ref.Data, sample: list, limit: int) -> dict:
    rows = np.asarray([d.row[p] for p in sample])
    out = {}
    for a in sample:
        s = ref.oracle.scores(d.stored[rows], d.vec(a), d.distance)
        others = [(b, float(s[j])) for j, b in enumerate(sample) if b != a]
        others.sort(key=lambda t: -t[1] if d.higher else t[1])
        out[a] = others[:limit]
    return out


@pytest.mark.parametrize("distance", ["Cosine", "Euclid"])
def test_pairs(client, data, distance):
    name, d = data[distance]
    flt = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchValue(value=1))])
    res = client.search_matrix_pairs(name, query_filter=flt, sample=12, limit=3, using="v")
    sampled = list(dict.fromkeys([p.a for p in res.pairs]))
    assert len(sampled) == 12 and all(pid % 2 == 1 for pid in sampled)
    expected = expected_neighbours(
        d, sorted({p.a for p in res.pairs} | {p.b for p in res.pairs}), 3
    )
    assert len(res.pairs) == 12 * 3
    for a in sampled:
        got = [(p.b, p.score) for p in res.pairs if p.a == a]
        ref.assert_scored([{"id": b, "score": s} for b, s in got], expected[a])


@pytest.mark.parametrize("distance", ["Cosine", "Euclid"])
def test_offsets(client, data, distance):
    name, d = data[distance]
    res = client.search_matrix_offsets(name, sample=9, limit=4, using="v")
    assert len(res.ids) == 9 and len(set(res.ids)) == 9
    assert len(res.offsets_row) == len(res.offsets_col) == len(res.scores) == 9 * 4
    expected = expected_neighbours(d, list(res.ids), 4)
    for i, a in enumerate(res.ids):
        got = [
            (res.ids[c], s)
            for r, c, s in zip(res.offsets_row, res.offsets_col, res.scores, strict=False)
            if r == i
        ]
        ref.assert_scored([{"id": b, "score": s} for b, s in got], expected[a])


def test_sample_larger_than_collection_and_errors(http, data):
    name, d = data["Cosine"]
    result = api.ok(
        http.post(
            f"/collections/{name}/points/search/matrix/pairs",
            json={
                "sample": 500,
                "limit": 1,
                "using": "v",
                "filter": {"must": [{"has_id": [1, 2, 3]}]},
            },
        )
    )
    assert sorted(p["a"] for p in result["pairs"]) == [1, 2, 3]
    error(
        http.post(
            f"/collections/{name}/points/search/matrix/pairs", json={"sample": 1, "using": "v"}
        ),
        422,
        contains="sample",
    )
    error(
        http.post(
            f"/collections/{name}/points/search/matrix/offsets", json={"limit": 0, "using": "v"}
        ),
        422,
        contains="limit",
    )
    error(
        http.post(f"/collections/{name}/points/search/matrix/offsets", json={"using": "nope"}),
        400,
        contains="nope",
    )
