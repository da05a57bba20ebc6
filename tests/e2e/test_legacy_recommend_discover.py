"""Qdrant 1.12's recommend, discover and groups endpoints (older clients and integrations still
call them) over plain HTTP, with 1.12's request and response shapes, checked against numpy and
against the universal query; the deprecated gRPC RPCs answer the same."""

from __future__ import annotations

import uuid

import grpc
import numpy as np
import pytest

from tests.e2e import query_reference as ref
from tests.support import api
from tests.support.api import create_collection, error, ok

N = 120
DIM = 4


@pytest.fixture(scope="module")
def data(node):
    http = node.http
    rng = np.random.default_rng(1212)
    raw = rng.normal(size=(N, DIM)).astype(np.float32)
    ids = list(range(N))
    payloads = {pid: {"g": pid % 3} for pid in ids}
    name = f"legacy_{uuid.uuid4().hex[:8]}"
    create_collection(http, name, {"vectors": {"img": {"size": DIM, "distance": "Cosine"}}})
    api.upsert(
        http,
        name,
        [
            {"id": pid, "vector": {"img": raw[i].tolist()}, "payload": payloads[pid]}
            for i, pid in enumerate(ids)
        ],
    )
    yield name, ref.Data(ids, raw, "Cosine", payloads)
    http.delete(f"/collections/{name}")


def _check_points(points: list) -> None:
    assert isinstance(points, list)
    for p in points:
        assert set(p) <= {"id", "version", "score", "payload", "vector", "shard_key", "order_value"}
        assert {"id", "version", "score"} <= set(p)


def test_recommend_average_and_best_score(http, data):
    name, d = data
    body = {"positive": [1, 2], "negative": [3], "using": "img", "limit": 5, "offset": 1}
    got = ok(http.post(f"/collections/{name}/points/recommend", json=body))
    _check_points(got)
    assert all("payload" not in p and "vector" not in p for p in got)
    query = ref.average_vector([d.vec(1), d.vec(2)], [d.vec(3)])
    ref.assert_scored(got, ref.nearest(d, query, 6, exclude={1, 2, 3})[1:], rtol=1e-4, atol=1e-5)

    body = {
        "positive": [5, [0.1, 0.2, 0.3, 0.4]],
        "negative": [6],
        "strategy": "best_score",
        "using": "img",
        "limit": 4,
        "with_payload": True,
        "filter": {"must": [{"key": "g", "match": {"value": 0}}]},
    }
    got = ok(http.post(f"/collections/{name}/points/recommend", json=body))
    scores = ref.best_score(d, [d.vec(5), [0.1, 0.2, 0.3, 0.4]], [d.vec(6)])
    keep = [i for i, pid in enumerate(d.ids) if pid % 3 == 0 and pid not in (5, 6)]
    ref.assert_scored(got, ref.top([d.ids[i] for i in keep], scores[keep], 4), atol=1e-5)
    assert all(p["payload"] == {"g": 0} for p in got)


def test_recommend_batch_equals_query(http, data):
    name, _ = data
    searches = [
        {"positive": [10], "using": "img", "limit": 3},
        {"positive": [11], "negative": [12], "strategy": "sum_scores", "using": "img", "limit": 2},
    ]
    got = ok(http.post(f"/collections/{name}/points/recommend/batch", json={"searches": searches}))
    assert len(got) == 2
    for legacy, s in zip(got, searches, strict=False):
        _check_points(legacy)
        modern = api.query(
            http,
            name,
            {
                "query": {
                    "recommend": {k: s[k] for k in ("positive", "negative", "strategy") if k in s}
                },
                "using": "img",
                "limit": s["limit"],
            },
        )
        assert legacy == modern


def test_discover_and_context(http, data):
    name, d = data
    body = {"target": 20, "context": [{"positive": 21, "negative": 22}], "using": "img", "limit": 5}
    got = ok(http.post(f"/collections/{name}/points/discover", json=body))
    _check_points(got)
    scores = ref.discover(d, d.vec(20), [(d.vec(21), d.vec(22))])
    keep = [i for i, pid in enumerate(d.ids) if pid not in (20, 21, 22)]
    ref.assert_scored(got, ref.top([d.ids[i] for i in keep], scores[keep], 5), atol=1e-5)

    ctx_body = {
        "context": [{"positive": 30, "negative": 31}, {"positive": 32, "negative": 33}],
        "using": "img",
        "limit": 6,
    }
    batch = ok(
        http.post(f"/collections/{name}/points/discover/batch", json={"searches": [body, ctx_body]})
    )
    assert batch[0] == got
    scores = ref.context(d, [(d.vec(30), d.vec(31)), (d.vec(32), d.vec(33))])
    keep = [i for i, pid in enumerate(d.ids) if pid not in (30, 31, 32, 33)]
    ref.assert_scored(batch[1], ref.top([d.ids[i] for i in keep], scores[keep], 6), atol=1e-5)


def test_search_and_recommend_groups(http, data):
    name, d = data
    q = [0.5, 0.5, -0.1, 0.2]
    got = ok(
        http.post(
            f"/collections/{name}/points/search/groups",
            json={
                "vector": {"name": "img", "vector": q},
                "group_by": "g",
                "group_size": 2,
                "limit": 2,
                "with_payload": True,
            },
        )
    )
    assert set(got) == {"groups"} and len(got["groups"]) == 2
    ranking = ref.nearest(d, q, N)
    groups: dict = {}
    for pid, s in ranking:
        g = d.payloads[pid]["g"]
        if g in groups and len(groups[g]) < 2:
            groups[g].append((pid, s))
        elif g not in groups and len(groups) < 2:
            groups[g] = [(pid, s)]
    assert [g["id"] for g in got["groups"]] == list(groups)
    for g in got["groups"]:
        ref.assert_scored(g["hits"], groups[g["id"]])
        assert all(h["payload"] == {"g": g["id"]} for h in g["hits"])

    rec = ok(
        http.post(
            f"/collections/{name}/points/recommend/groups",
            json={"positive": [40], "using": "img", "group_by": "g", "group_size": 1, "limit": 3},
        )
    )
    modern = ok(
        http.post(
            f"/collections/{name}/points/query/groups",
            json={
                "query": {"recommend": {"positive": [40]}},
                "using": "img",
                "group_by": "g",
                "group_size": 1,
                "limit": 3,
            },
        )
    )
    assert rec == modern and len(rec["groups"]) == 3


def test_errors(http, data):
    name, _ = data
    error(
        http.post(f"/collections/{name}/points/recommend", json={"positive": [1], "using": "img"}),
        400,
        contains="limit",
    )
    error(
        http.post(
            f"/collections/{name}/points/recommend",
            json={"negative": [1], "using": "img", "limit": 3},
        ),
        422,
    )
    error(http.post(f"/collections/{name}/points/discover", json={"using": "img", "limit": 3}), 422)
    error(
        http.post(
            f"/collections/{name}/points/search/groups",
            json={"vector": {"name": "img", "vector": [1, 0, 0, 0]}, "group_by": "g", "limit": 2},
        ),
        400,
        contains="group_size",
    )
    error(
        http.post(f"/collections/{name}/points/recommend/batch", json={}), 400, contains="searches"
    )


def test_deprecated_grpc_rpcs(node, http, data):
    from qdrant_client import grpc as pb

    name, _ = data
    with grpc.insecure_channel(f"{node.host}:{node.grpc_port}") as channel:
        stub = pb.PointsStub(channel)
        rec = stub.Recommend(
            pb.RecommendPoints(
                collection_name=name,
                positive=[pb.PointId(num=1)],
                negative=[pb.PointId(num=2)],
                using="img",
                limit=4,
                strategy=pb.RecommendStrategy.BestScore,
            )
        )
        disc = stub.DiscoverBatch(
            pb.DiscoverBatchPoints(
                collection_name=name,
                discover_points=[
                    pb.DiscoverPoints(
                        collection_name=name,
                        using="img",
                        limit=3,
                        target=pb.TargetVector(single=pb.VectorExample(id=pb.PointId(num=20))),
                        context=[
                            pb.ContextExamplePair(
                                positive=pb.VectorExample(id=pb.PointId(num=21)),
                                negative=pb.VectorExample(id=pb.PointId(num=22)),
                            )
                        ],
                    )
                ],
            )
        )
        groups = stub.SearchGroups(
            pb.SearchPointGroups(
                collection_name=name,
                vector=[0.5, 0.5, -0.1, 0.2],
                vector_name="img",
                group_by="g",
                group_size=2,
                limit=2,
            )
        )
    rest_rec = ok(
        http.post(
            f"/collections/{name}/points/recommend",
            json={
                "positive": [1],
                "negative": [2],
                "using": "img",
                "limit": 4,
                "strategy": "best_score",
            },
        )
    )
    assert [(p.id.num, pytest.approx(p.score, rel=1e-6)) for p in rec.result] == [
        (p["id"], p["score"]) for p in rest_rec
    ]
    rest_disc = ok(
        http.post(
            f"/collections/{name}/points/discover",
            json={
                "target": 20,
                "context": [{"positive": 21, "negative": 22}],
                "using": "img",
                "limit": 3,
            },
        )
    )
    assert [p.id.num for p in disc.result[0].result] == [p["id"] for p in rest_disc]
    rest_groups = ok(
        http.post(
            f"/collections/{name}/points/search/groups",
            json={
                "vector": {"name": "img", "vector": [0.5, 0.5, -0.1, 0.2]},
                "group_by": "g",
                "group_size": 2,
                "limit": 2,
            },
        )
    )
    assert [(g.id.unsigned_value, [h.id.num for h in g.hits]) for g in groups.result.groups] == [
        (g["id"], [h["id"] for h in g["hits"]]) for g in rest_groups["groups"]
    ]
