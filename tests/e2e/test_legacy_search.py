"""The legacy search endpoints (Qdrant 1.12's POST …/points/search and …/search/batch), which
older qdrant-client versions and many integrations still call: same answers as `query`."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support import api
from tests.support.api import create_collection, error, ok


def _seed(http, name, named: bool):
    rng = np.random.default_rng(12)
    vectors = rng.normal(size=(60, 4)).astype(np.float32)
    vector_cfg = {"size": 4, "distance": "Dot"}
    create_collection(http, name, {"vectors": {"img": vector_cfg} if named else vector_cfg})
    points = [
        {"id": i, "vector": {"img": v.tolist()} if named else v.tolist(), "payload": {"g": i % 3}}
        for i, v in enumerate(vectors)
    ]
    api.upsert(http, name, points)
    return vectors


def test_search_matches_query(http, collection_name):
    vectors = _seed(http, collection_name, named=False)
    q = [0.5, -1.0, 0.25, 2.0]
    flt = {"must": [{"key": "g", "match": {"value": 1}}]}
    legacy = ok(http.post(f"/collections/{collection_name}/points/search", json={
        "vector": q, "limit": 5, "offset": 1, "filter": flt, "with_payload": True,
    }))
    modern = api.query(http, collection_name, {
        "query": q, "limit": 5, "offset": 1, "filter": flt, "with_payload": True,
    })
    assert legacy == modern
    # brute force: dot product among g == 1, skipping the best one
    allowed = [i for i in range(len(vectors)) if i % 3 == 1]
    scores = vectors[allowed] @ np.asarray(q, np.float32)
    expected = [allowed[i] for i in np.argsort(-scores, kind="stable")[1:6]]
    assert [p["id"] for p in legacy] == expected
    assert all("vector" not in p for p in legacy)


def test_search_named_vector_and_batch(http, collection_name):
    _seed(http, collection_name, named=True)
    q = [1.0, 0.0, 0.0, 0.0]
    one = ok(http.post(f"/collections/{collection_name}/points/search", json={
        "vector": {"name": "img", "vector": q}, "limit": 3, "with_vector": True,
    }))
    assert len(one) == 3 and set(one[0]["vector"]) == {"img"}
    batch = ok(http.post(f"/collections/{collection_name}/points/search/batch", json={
        "searches": [
            {"vector": {"name": "img", "vector": q}, "limit": 3, "with_vector": True},
            {"vector": {"name": "img", "vector": [0, 1, 0, 0]}, "limit": 2},
        ],
    }))
    assert batch[0] == one and len(batch[1]) == 2


def test_search_errors(http, collection_name):
    _seed(http, collection_name, named=True)
    url = f"/collections/{collection_name}/points/search"
    error(http.post(url, json={"vector": {"name": "img", "vector": [1, 2, 3, 4]}}), 400,
          contains="limit")
    error(http.post(url, json={"vector": {"name": "nope", "vector": [1, 2, 3, 4]}, "limit": 1}),
          400, message="Wrong input: Not existing vector name error: nope")
    error(http.post(url, json={"vector": {"name": "img", "vector": [1, 2]}, "limit": 1}), 400,
          message="Wrong input: Vector dimension error: expected dim: 4, got 2")


def test_top_is_an_alias_of_limit_and_with_vectors_of_with_vector(http, collection_name):
    """Qdrant's serde aliases in the legacy search, recommend and discover requests."""
    vectors = _seed(http, collection_name, named=False)
    q = [0.5, -1.0, 0.25, 2.0]
    by_top = ok(http.post(f"/collections/{collection_name}/points/search", json={
        "vector": q, "top": 3, "with_vectors": True}))
    by_limit = ok(http.post(f"/collections/{collection_name}/points/search", json={
        "vector": q, "limit": 3, "with_vector": True}))
    assert by_top == by_limit and len(by_top) == 3
    assert by_top[0]["vector"] == pytest.approx(vectors[by_top[0]["id"]].tolist(), rel=1e-6)
    recommended = ok(http.post(f"/collections/{collection_name}/points/recommend", json={
        "positive": [1], "top": 2}))
    assert len(recommended) == 2
    discovered = ok(http.post(f"/collections/{collection_name}/points/discover", json={
        "target": 1, "context": [{"positive": 2, "negative": 3}], "top": 4}))
    assert len(discovered) == 4
    both = http.post(f"/collections/{collection_name}/points/search", json={
        "vector": q, "top": 3, "limit": 3})
    assert error(both, 400).startswith("Format error in JSON body: duplicate field `limit`")
