"""POST …/points/query/groups through qdrant-client (REST and gRPC): groups dealt from the
numpy ranking (array values fan out, group_size, limit), with_lookup from another collection,
groups over a fusion, and the errors."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from qdrant_client import models

from tests.e2e import query_reference as ref
from tests.support import api
from tests.support.api import create_collection, error

N = 180
DIM = 5


def _payload(pid: int) -> dict:
    p: dict = {"kind": f"k{pid % 6}", "n": pid % 4}
    if pid % 10 == 0:
        p["multi"] = [pid % 3, "x", pid % 3]  # repeated value counts once
    elif pid % 10 != 5:
        p["multi"] = pid % 5
    return p  # points with pid % 10 == 5 have no `multi`


@pytest.fixture(scope="module")
def data(node):
    http = node.http
    rng = np.random.default_rng(555)
    raw = rng.normal(size=(N, DIM)).astype(np.float32)
    ids = list(range(1, N + 1))
    payloads = {pid: _payload(pid) for pid in ids}
    name = f"groups_{uuid.uuid4().hex[:8]}"
    create_collection(http, name, {"vectors": {"size": DIM, "distance": "Dot"}})
    api.upsert(
        http,
        name,
        [
            {"id": pid, "vector": raw[i].tolist(), "payload": payloads[pid]}
            for i, pid in enumerate(ids)
        ],
    )
    lookup = f"groups_lookup_{uuid.uuid4().hex[:8]}"
    create_collection(http, lookup, {"vectors": {"size": 2, "distance": "Dot"}})
    api.upsert(
        http,
        lookup,
        [
            {"id": i, "vector": [float(i), 1.0], "payload": {"title": f"group {i}"}}
            for i in range(4)
        ],
    )
    yield name, lookup, ref.Data(ids, raw, "Dot", payloads)
    http.delete(f"/collections/{name}")
    http.delete(f"/collections/{lookup}")


def expected_groups(d: ref.Data, ranking: list[tuple], key: str, size: int, limit: int) -> list:
    groups: dict = {}
    for pid, score in ranking:
        value = d.payloads[pid].get(key)
        values = value if isinstance(value, list) else ([] if value is None else [value])
        for v in dict.fromkeys(values):
            if v in groups:
                if len(groups[v]) < size:
                    groups[v].append((pid, score))
            elif len(groups) < limit:
                groups[v] = [(pid, score)]
    return list(groups.items())


Q = [0.2, 1.0, -0.4, 0.3, 0.5]


@pytest.mark.parametrize(
    "key,size,limit", [("kind", 3, 4), ("n", 5, 2), ("multi", 2, 5), ("kind", 1, 10)]
)
def test_groups_match_reference(client, data, key, size, limit):
    name, _, d = data
    res = client.query_points_groups(
        name, group_by=key, query=Q, group_size=size, limit=limit, with_payload=True
    )
    expected = expected_groups(d, ref.nearest(d, Q, N), key, size, limit)
    assert [g.id for g in res.groups] == [v for v, _ in expected]
    for g, (_, hits) in zip(res.groups, expected, strict=False):
        ref.assert_scored(g.hits, hits)
        assert all(h.payload == d.payloads[h.id] for h in g.hits)
        assert g.lookup is None


def test_groups_with_lookup(client, data):
    name, lookup, d = data
    res = client.query_points_groups(
        name,
        group_by="n",
        query=Q,
        group_size=2,
        limit=4,
        with_lookup=models.WithLookup(collection=lookup, with_payload=True, with_vectors=True),
    )
    assert sorted(g.id for g in res.groups) == [0, 1, 2, 3]
    for g in res.groups:
        assert g.lookup.id == g.id
        assert g.lookup.payload == {"title": f"group {g.id}"}
        assert g.lookup.vector == [float(g.id), 1.0]
    plain = client.query_points_groups(
        name, group_by="n", query=Q, group_size=2, limit=2, with_lookup=lookup
    )
    assert all(
        g.lookup.payload == {"title": f"group {g.id}"} and not g.lookup.vector for g in plain.groups
    )


def test_groups_over_fusion_and_filter(client, data):
    name, _, d = data
    q2 = [-1.0, 0.1, 0.3, 0.3, -0.2]
    flt = models.Filter(must_not=[models.FieldCondition(key="n", match=models.MatchValue(value=0))])
    res = client.query_points_groups(
        name,
        group_by="kind",
        prefetch=[models.Prefetch(query=Q, limit=30), models.Prefetch(query=q2, limit=30)],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        query_filter=flt,
        group_size=2,
        limit=3,
    )
    allowed = {pid for pid in d.ids if pid % 4 != 0}
    lists = [[p for p, _ in ref.nearest(d, q, 30, allowed)] for q in (Q, q2)]
    expected = expected_groups(d, ref.ranked(ref.rrf(lists), N), "kind", 2, 3)
    assert [g.id for g in res.groups] == [v for v, _ in expected]
    for g, (_, hits) in zip(res.groups, expected, strict=False):
        ref.assert_scored(g.hits, hits)


def test_groups_rest_shape_and_errors(http, data):
    name, lookup, _ = data
    path = f"/collections/{name}/points/query/groups"
    result = api.ok(
        http.post(path, json={"query": Q, "group_by": "kind", "limit": 2, "with_lookup": lookup})
    )
    assert set(result) == {"groups"} and len(result["groups"]) == 2
    for g in result["groups"]:
        assert (
            set(g) <= {"id", "hits", "lookup"} and len(g["hits"]) == 3
        )  # group_size defaults to 3
    error(http.post(path, json={"query": Q}), 400, contains="group_by")
    error(
        http.post(path, json={"query": Q, "group_by": "kind", "group_size": 0}),
        422,
        contains="group_size",
    )
    error(
        http.post(path, json={"query": Q, "group_by": "kind", "with_lookup": "missing_collection"}),
        404,
    )
