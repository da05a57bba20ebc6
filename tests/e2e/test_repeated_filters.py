"""A selective filter asked over and over (a tenant), by concurrent clients on every transport:
the node answers such searches from rows it keeps gathered, on its event loop, in one call per
loop turn (router.loop_searches). The answers must be the exact ones, and a write must be
seen by the very next search."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from qdrant_client import models

from tests.support import api

DIM = 16
N = 2000
TENANTS = 50  # 40 points each: exact scoring of a few gathered rows


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def _tenant(t: int) -> models.Filter:
    condition = models.FieldCondition(key="tenant", match=models.MatchValue(value=t))
    return models.Filter(must=[condition])


def test_repeated_tenant_filters_from_concurrent_clients_are_exact_and_see_writes(
    http, client, collection_name
):
    rng = np.random.default_rng(21)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    tenants = np.arange(N) % TENANTS
    api.create_collection(http, collection_name, {"vectors": {"size": DIM, "distance": "Cosine"}})
    api.update_ok(http.put(f"/collections/{collection_name}/index", params={"wait": "true"},
                           json={"field_name": "tenant", "field_schema": "integer"}))
    for start in range(0, N, 500):
        api.upsert(http, collection_name, [
            {"id": i, "vector": vectors[i].tolist(), "payload": {"tenant": int(tenants[i])}}
            for i in range(start, start + 500)
        ])
    stored = _unit(vectors)
    queries = rng.normal(size=(64, DIM)).astype(np.float32)

    def expected(query: np.ndarray, tenant: int, k: int = 5) -> list[int]:
        ids = np.flatnonzero(tenants == tenant)
        scores = stored[ids] @ _unit(query)
        return ids[np.argsort(-scores, kind="stable")[:k]].tolist()

    def ask(i: int) -> tuple[list[int], list[int]]:
        tenant = (3, 17)[i % 2]  # two filters, each asked 32 times
        found = client.query_points(collection_name, query=queries[i].tolist(),
                                    query_filter=_tenant(tenant), limit=5).points
        return [p.id for p in found], expected(queries[i], tenant)

    for _ in range(2):  # the first round gathers the rows, the second is answered from them
        with ThreadPoolExecutor(8) as pool:
            for got, want in pool.map(ask, range(len(queries))):
                assert got == want

    # a write is seen at once: a new point of tenant 3 that is the query itself, and the
    # deletion of that tenant's best point for another query
    best_other = expected(queries[2], 3)[0]
    api.upsert(http, collection_name, [
        {"id": N, "vector": queries[0].tolist(), "payload": {"tenant": 3}}
    ])
    api.post_update(http, f"/collections/{collection_name}/points/delete",
                    {"points": [best_other]})
    found = client.query_points(collection_name, query=queries[0].tolist(),
                                query_filter=_tenant(3), limit=5).points
    assert found[0].id == N
    assert abs(found[0].score - 1.0) < 1e-5
    found = client.query_points(collection_name, query=queries[2].tolist(),
                                query_filter=_tenant(3), limit=5).points
    assert best_other not in [p.id for p in found]
