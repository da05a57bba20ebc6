"""POST /points/query and /points/query/batch compared with numpy brute force, for every
distance: ids, order, scores (rtol 1e-5), float32 score text, by-id queries, using, filter,
score_threshold, limit/offset, with_payload/with_vector, params."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from qdrant_client import models

from tests.support import api, oracle
from tests.support.api import (
    create_collection,
    error,
    is_float32_shortest,
    loads_keep_number_text,
    ok,
)
from tests.support.filters import select

N_POINTS = 500
DIM = 8
K = 10
DISTANCES = oracle.DISTANCES


class Dataset:
    def __init__(self, name: str, distance: str, ids: list[int], raw: np.ndarray,
                 payloads: dict[int, dict]):
        self.name = name
        self.distance = distance
        self.ids = ids
        self.raw = raw
        self.stored = oracle.stored_form(raw, distance)
        self.payloads = payloads
        self.index = {pid: i for i, pid in enumerate(ids)}

    def rank(self, query, **kw):
        return oracle.rank(self.ids, self.stored, query, self.distance, **kw)


@pytest.fixture(scope="module")
def datasets(node):
    http = node.http
    rng = np.random.default_rng(20240519)
    raw = rng.normal(size=(N_POINTS, DIM)).astype(np.float32)
    ids = list(range(1, N_POINTS + 1))
    payloads = {pid: {"group": pid % 3, "tag": f"t{pid % 5}", "pid": pid} for pid in ids}
    made = {}
    try:
        for distance in DISTANCES:
            name = f"q_{distance.lower()}_{uuid.uuid4().hex[:8]}"
            create_collection(http, name, {"vectors": {"size": DIM, "distance": distance}})
            points = [{"id": pid, "vector": raw[i].tolist(), "payload": payloads[pid]}
                      for i, pid in enumerate(ids)]
            api.upsert(http, name, points)
            made[distance] = Dataset(name, distance, ids, raw, payloads)
        yield made
    finally:
        for ds in made.values():
            node.http.delete(f"/collections/{ds.name}")


@pytest.fixture(scope="module")
def queries():
    rng = np.random.default_rng(99)
    return rng.normal(size=(5, DIM)).astype(np.float32)


def got_pairs(points):
    return [(p["id"], p["score"]) for p in points]


# ---------------------------------------------------------------------------- nearest by vector


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("exact", [True, False])
def test_nearest_by_vector_matches_brute_force(http, datasets, queries, distance, exact):
    ds = datasets[distance]
    for q in queries:
        points = api.query(http, ds.name,
                           {"query": q.tolist(), "limit": K, "params": {"exact": exact}})
        oracle.assert_ranking(got_pairs(points), ds.rank(q), K, distance)


@pytest.mark.parametrize("distance", DISTANCES)
def test_nearest_via_client(http, client, datasets, queries, distance):
    ds = datasets[distance]
    q = queries[0]
    res = client.query_points(ds.name, query=q.tolist(), limit=K)
    oracle.assert_ranking([(p.id, p.score) for p in res.points], ds.rank(q), K, distance)
    # qdrant-client asks for payloads by default (with_payload=True), never for vectors
    assert all(p.payload == ds.payloads[p.id] for p in res.points)
    assert all(p.vector is None for p in res.points)
    # the raw API's own default is no payload
    for p in api.query(http, ds.name, {"query": q.tolist(), "limit": 3}):
        assert p.get("payload") is None


@pytest.mark.parametrize("distance", DISTANCES)
def test_scores_are_float32_shortest_text(http, datasets, queries, distance):
    ds = datasets[distance]
    resp = http.post(f"/collections/{ds.name}/points/query",
                     json={"query": queries[1].tolist(), "limit": 50})
    ok(resp)
    body = loads_keep_number_text(resp.content)
    texts = [p["score"] for p in body["result"]["points"]]
    assert len(texts) == 50
    for text in texts:
        assert isinstance(text, api.RawNumber), f"score {text!r} is not written as a JSON float"
        assert is_float32_shortest(text), f"score {text} is not float32 shortest round-trip text"
    # and the value is the brute-force one
    ranking = ds.rank(queries[1])
    for text, hit in zip(texts, ranking, strict=False):  # the ranking has every point
        assert oracle.close(float(text), hit.score)


@pytest.mark.parametrize("distance", DISTANCES)
def test_nearest_query_forms_are_equivalent(http, datasets, queries, distance):
    ds = datasets[distance]
    q = queries[2].tolist()
    plain = api.query(http, ds.name, {"query": q, "limit": K})
    nearest = api.query(http, ds.name, {"query": {"nearest": q}, "limit": K})
    assert plain == nearest
    # limit defaults to 10
    default_limit = api.query(http, ds.name, {"query": q})
    assert default_limit == plain


# ---------------------------------------------------------------------------- by point id


@pytest.mark.parametrize("distance", DISTANCES)
def test_nearest_by_point_id_excludes_that_point(http, client, datasets, distance):
    ds = datasets[distance]
    for pid in (1, 250, 500):
        stored = ds.stored[ds.index[pid]]
        points = api.query(http, ds.name, {"query": pid, "limit": K})
        assert pid not in [p["id"] for p in points]
        oracle.assert_ranking(got_pairs(points), ds.rank(stored, exclude=[pid]), K, distance)
    res = client.query_points(ds.name, query=42, limit=K)
    oracle.assert_ranking([(p.id, p.score) for p in res.points],
                          ds.rank(ds.stored[ds.index[42]], exclude=[42]), K, distance)
    # {"nearest": id} is the same
    assert api.query(http, ds.name, {"query": {"nearest": 42}, "limit": K}) == api.query(
        http, ds.name, {"query": 42, "limit": K})


def test_query_by_missing_point_id_is_404(http, datasets):
    ds = datasets["Dot"]
    error(http.post(f"/collections/{ds.name}/points/query", json={"query": 999_999}), 404,
          prefix="Not found: ")


# ------------------------------------------------------------- limit, offset, threshold, filter


@pytest.mark.parametrize("distance", DISTANCES)
def test_limit_and_offset(http, datasets, queries, distance):
    ds = datasets[distance]
    q = queries[3]
    ranking = ds.rank(q)
    for limit, offset in ((1, 0), (5, 5), (7, 20), (30, 0)):
        points = api.query(http, ds.name, {"query": q.tolist(), "limit": limit, "offset": offset,
                                           "params": {"exact": True}})
        oracle.assert_ranking(got_pairs(points), ranking, limit, distance, offset=offset)
    # offset past the end: nothing
    assert api.query(http, ds.name, {"query": q.tolist(), "limit": 10, "offset": N_POINTS}) == []
    # limit larger than the collection: everything, ordered
    points = api.query(http, ds.name, {"query": q.tolist(), "limit": N_POINTS + 100,
                                       "params": {"exact": True}})
    assert len(points) == N_POINTS
    oracle.assert_ranking(got_pairs(points), ranking, N_POINTS, distance)


@pytest.mark.parametrize("distance", DISTANCES)
def test_score_threshold(http, client, datasets, queries, distance):
    ds = datasets[distance]
    q = queries[4]
    ranking = ds.rank(q)
    cut = 20
    # a threshold halfway between the 20th and 21st scores: exactly 20 results survive.
    # For Cosine/Dot it is a minimum score; for Euclid/Manhattan a maximum distance.
    threshold = (ranking[cut - 1].score + ranking[cut].score) / 2
    points = api.query(http, ds.name, {"query": q.tolist(), "limit": 100,
                                       "score_threshold": threshold, "params": {"exact": True}})
    oracle.assert_ranking(got_pairs(points), ranking, cut, distance)
    for p in points:
        if oracle.higher_is_better(distance):
            assert p["score"] >= threshold
        else:
            assert p["score"] <= threshold
    res = client.query_points(ds.name, query=q.tolist(), limit=100, score_threshold=threshold)
    assert [p.id for p in res.points] == [p["id"] for p in points]


@pytest.mark.parametrize("distance", DISTANCES)
def test_filter(http, client, datasets, queries, distance):
    ds = datasets[distance]
    q = queries[0]
    for flt in (
        {"must": [{"key": "group", "match": {"value": 1}}]},
        {"must_not": [{"key": "tag", "match": {"value": "t0"}}],
         "should": [{"key": "group", "match": {"value": 2}}]},
        {"must": [{"has_id": list(range(1, 60, 2))}]},
    ):
        keep = select(ds.payloads, flt)
        points = api.query(http, ds.name, {"query": q.tolist(), "limit": K, "filter": flt,
                                           "with_payload": True})
        oracle.assert_ranking(got_pairs(points), ds.rank(q, keep=keep), K, distance)
        for p in points:
            assert p["payload"] == ds.payloads[p["id"]]
    res = client.query_points(
        ds.name, query=q.tolist(), limit=K,
        query_filter=models.Filter(
            must=[models.FieldCondition(key="group", match=models.MatchValue(value=0))]),
    )
    keep = select(ds.payloads, {"must": [{"key": "group", "match": {"value": 0}}]})
    oracle.assert_ranking([(p.id, p.score) for p in res.points], ds.rank(q, keep=keep), K, distance)


# -------------------------------------------------------------------- payload / vector / params


@pytest.mark.parametrize("distance", DISTANCES)
def test_with_payload_and_with_vector(http, datasets, queries, distance):
    ds = datasets[distance]
    q = queries[1].tolist()
    points = api.query(http, ds.name, {"query": q, "limit": 5, "with_payload": ["group"],
                                       "with_vector": True})
    for p in points:
        assert p["payload"] == {"group": ds.payloads[p["id"]]["group"]}
        np.testing.assert_allclose(p["vector"], ds.stored[ds.index[p["id"]]], rtol=1e-6, atol=1e-7)
    if distance == "Cosine":
        for p in points:  # stored (and returned) normalised
            norm = np.linalg.norm(np.asarray(p["vector"], dtype=np.float64))
            assert norm == pytest.approx(1.0, abs=1e-5)
    points = api.query(http, ds.name, {"query": q, "limit": 5,
                                       "with_payload": {"exclude": ["tag", "pid"]},
                                       "with_vector": False})
    for p in points:
        assert p["payload"] == {"group": ds.payloads[p["id"]]["group"]}
        assert p.get("vector") is None
    points = api.query(http, ds.name, {"query": q, "limit": 5, "with_payload": False})
    for p in points:
        assert p.get("payload") is None


def test_cosine_retrieve_returns_normalised_vectors(http, datasets):
    ds = datasets["Cosine"]
    recs = api.retrieve(http, ds.name, [1, 2, 3], with_payload=False, with_vector=True)
    for r in recs:
        np.testing.assert_allclose(r["vector"], ds.stored[ds.index[r["id"]]], rtol=1e-6, atol=1e-7)
        assert not np.allclose(r["vector"], ds.raw[ds.index[r["id"]]])


@pytest.mark.parametrize("distance", DISTANCES)
def test_search_params_accepted(http, client, datasets, queries, distance):
    ds = datasets[distance]
    q = queries[2]
    for params in ({"exact": True}, {"hnsw_ef": 128}, {"hnsw_ef": 16, "exact": False},
                   {"exact": True, "hnsw_ef": 64}):
        points = api.query(http, ds.name, {"query": q.tolist(), "limit": K, "params": params})
        oracle.assert_ranking(got_pairs(points), ds.rank(q), K, distance)
    res = client.query_points(ds.name, query=q.tolist(), limit=K,
                              search_params=models.SearchParams(hnsw_ef=32, exact=True))
    oracle.assert_ranking([(p.id, p.score) for p in res.points], ds.rank(q), K, distance)


# ---------------------------------------------------------------------------- batch


@pytest.mark.parametrize("distance", DISTANCES)
def test_query_batch_equals_single_queries(http, client, datasets, queries, distance):
    ds = datasets[distance]
    searches = [
        {"query": queries[0].tolist(), "limit": 3},
        {"query": queries[1].tolist(), "limit": 5, "with_payload": True,
         "filter": {"must": [{"key": "group", "match": {"value": 2}}]}},
        {"query": 17, "limit": 4, "offset": 2},
    ]
    result = ok(http.post(f"/collections/{ds.name}/points/query/batch",
                          json={"searches": searches}))
    assert isinstance(result, list) and len(result) == len(searches)
    for single, batched in zip(searches, result, strict=True):
        assert set(batched) >= {"points"}
        for p in batched["points"]:
            api.check_scored_point(p)
        assert batched["points"] == api.query(http, ds.name, single)
    oracle.assert_ranking(got_pairs(result[0]["points"]), ds.rank(queries[0]), 3, distance)

    responses = client.query_batch_points(
        ds.name,
        requests=[models.QueryRequest(query=queries[0].tolist(), limit=3),
                  models.QueryRequest(query=queries[3].tolist(), limit=6)],
    )
    assert [p.id for p in responses[0].points] == [p["id"] for p in result[0]["points"]]
    oracle.assert_ranking([(p.id, p.score) for p in responses[1].points], ds.rank(queries[3]),
                          6, distance)


# ------------------------------------------------------------------------- named vectors: using


@pytest.fixture(scope="module")
def named_dataset(node):
    http = node.http
    rng = np.random.default_rng(5)
    n = 200
    img = rng.normal(size=(n, 6)).astype(np.float32)
    txt = rng.normal(size=(n, 3)).astype(np.float32)
    name = f"q_named_{uuid.uuid4().hex[:8]}"
    create_collection(http, name, {"vectors": {"image": {"size": 6, "distance": "Cosine"},
                                               "text": {"size": 3, "distance": "Manhattan"}}})
    ids = list(range(n))
    api.upsert(http, name, [{"id": i, "vector": {"image": img[i].tolist(), "text": txt[i].tolist()}}
                            for i in ids])
    yield name, ids, img, txt
    node.http.delete(f"/collections/{name}")


def test_using_named_vector(http, client, named_dataset):
    name, ids, img, txt = named_dataset
    rng = np.random.default_rng(11)
    qi = rng.normal(size=6).astype(np.float32)
    qt = rng.normal(size=3).astype(np.float32)
    points = api.query(http, name, {"query": qi.tolist(), "using": "image", "limit": K,
                                    "with_vector": ["text"]})
    oracle.assert_ranking(got_pairs(points),
                          oracle.rank(ids, oracle.stored_form(img, "Cosine"), qi, "Cosine"),
                          K, "Cosine")
    for p in points:
        assert set(p["vector"]) == {"text"}
    points = api.query(http, name, {"query": qt.tolist(), "using": "text", "limit": K})
    oracle.assert_ranking(got_pairs(points), oracle.rank(ids, txt, qt, "Manhattan"), K, "Manhattan")
    assert [p["score"] for p in points] == sorted(p["score"] for p in points)  # ascending distance
    res = client.query_points(name, query=qt.tolist(), using="text", limit=K)
    assert [p.id for p in res.points] == [p["id"] for p in points]
    # by id with `using`: that point's own named vector is the query
    points = api.query(http, name, {"query": 7, "using": "text", "limit": 5})
    oracle.assert_ranking(got_pairs(points),
                          oracle.rank(ids, txt, txt[7], "Manhattan", exclude=[7]), 5, "Manhattan")


def test_using_missing_name_is_400(http, named_dataset):
    name = named_dataset[0]
    error(http.post(f"/collections/{name}/points/query",
                    json={"query": [1, 2, 3], "using": "audio"}), 400,
          message="Wrong input: Not existing vector name error: audio")


def test_named_collection_query_without_using_is_400(http, named_dataset):
    # the unnamed vector "" does not exist in a collection with only named vectors
    name = named_dataset[0]
    error(http.post(f"/collections/{name}/points/query", json={"query": [1, 2, 3]}), 400,
          prefix="Wrong input: ")


def test_empty_collection_query_returns_nothing(http, collection_name):
    create_collection(http, collection_name, {"vectors": {"size": 2, "distance": "Euclid"}})
    assert api.query(http, collection_name, {"query": [1, 2], "limit": 5}) == []


# ---------------------------------------------------------------------------- request leniency


def test_null_optional_fields_mean_defaults(http, datasets, queries):
    ds = datasets["Euclid"]
    q = queries[0].tolist()
    baseline = api.query(http, ds.name, {"query": q})
    nulls = {"query": q, "limit": None, "offset": None, "filter": None, "using": None,
             "with_payload": None, "with_vector": None, "params": None, "score_threshold": None,
             "prefetch": None, "lookup_from": None}
    assert api.query(http, ds.name, nulls) == baseline
    assert len(baseline) == 10


def test_unknown_keys_are_ignored(http, datasets, queries):
    ds = datasets["Dot"]
    q = queries[0].tolist()
    assert api.query(http, ds.name, {"query": q, "limit": 3, "no_such_option": {"x": 1}}) == \
        api.query(http, ds.name, {"query": q, "limit": 3})


def test_huge_limit_is_accepted(http, datasets, queries):
    ds = datasets["Manhattan"]
    q = queries[1]
    points = api.query(http, ds.name, {"query": q.tolist(), "limit": 2**64 - 1,
                                       "params": {"exact": True}})
    assert len(points) == N_POINTS
    oracle.assert_ranking(got_pairs(points), ds.rank(q), N_POINTS, "Manhattan")


def test_unnamed_vector_is_addressable_as_empty_name(http, datasets, queries):
    ds = datasets["Cosine"]
    q = queries[2].tolist()
    assert api.query(http, ds.name, {"query": q, "using": "", "limit": 5}) == api.query(
        http, ds.name, {"query": q, "limit": 5})
