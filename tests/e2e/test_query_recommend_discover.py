"""Recommend (average_vector, best_score, sum_scores), discover, context, MMR, lookup_from,
order_by and random sampling through qdrant-client (REST and gRPC), against numpy computed from
Qdrant's definitions over the whole collection (or the prefetched candidates)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from qdrant_client import models

from tests.e2e import query_reference as ref
from tests.support import api
from tests.support.api import create_collection, error, ok

N = 200
DIM = 6


@pytest.fixture(scope="module")
def data(node):
    http = node.http
    rng = np.random.default_rng(9090)
    raw = rng.normal(size=(N, DIM)).astype(np.float32)
    ids = list(range(1, N + 1))
    payloads = {pid: {"g": pid % 3, "price": (pid * 37) % 101} for pid in ids}
    out = ref.load_collections(http, "rec", ("Cosine", "Euclid"), ids, raw, payloads)
    # a second collection whose point 7000.. vectors serve as lookup_from examples
    other_raw = rng.normal(size=(5, DIM)).astype(np.float32)
    other = f"rec_other_{uuid.uuid4().hex[:8]}"
    create_collection(http, other, {"vectors": {"emb": {"size": DIM, "distance": "Cosine"}}})
    api.upsert(
        http, other, [{"id": 7000 + i, "vector": {"emb": other_raw[i].tolist()}} for i in range(5)]
    )
    ok(
        http.put(
            f"/collections/{out['Cosine'][0]}/index",
            params={"wait": "true"},
            json={"field_name": "price", "field_schema": "integer"},
        )
    )
    out["other"] = (other, other_raw)
    yield out
    for name, _ in out.values():
        http.delete(f"/collections/{name}")


def _all_except(d: ref.Data, scores: np.ndarray, k: int, exclude=(), allowed=None, threshold=None):
    keep = [
        i
        for i, pid in enumerate(d.ids)
        if pid not in exclude and (allowed is None or pid in allowed)
    ]
    if threshold is not None:
        keep = [i for i in keep if scores[i] >= threshold]
    return ref.top([d.ids[i] for i in keep], scores[keep], k)


RAW = [0.4, -1.0, 0.3, 0.0, 0.9, -0.2]


@pytest.mark.parametrize("distance", ["Cosine", "Euclid"])
def test_average_vector(client, data, distance):
    name, d = data[distance]
    got = client.query_points(
        name,
        query=models.RecommendQuery(
            recommend=models.RecommendInput(positive=[3, 17, RAW], negative=[40])
        ),
        limit=10,
        with_vectors=True,
        with_payload=["price"],
    ).points
    for p in got:  # payload and vectors are those of the point
        assert p.payload == {"price": d.payloads[p.id]["price"]}
        assert np.allclose(p.vector, d.vec(p.id), rtol=1e-5)
    query = ref.average_vector([d.vec(3), d.vec(17), RAW], [d.vec(40)])
    ref.assert_scored(got, ref.nearest(d, query, 10, exclude={3, 17, 40}), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("distance", ["Cosine", "Euclid"])
@pytest.mark.parametrize("examples", [([5, 9, RAW], [60, 61]), ([], [12, 13]), ([8], [])])
def test_best_score(client, data, distance, examples):
    name, d = data[distance]
    pos, neg = examples
    got = client.query_points(
        name,
        query=models.RecommendQuery(
            recommend=models.RecommendInput(
                positive=pos, negative=neg, strategy=models.RecommendStrategy.BEST_SCORE
            )
        ),
        limit=10,
    ).points
    vec = lambda e: d.vec(e) if isinstance(e, int) else e  # noqa: E731
    scores = ref.best_score(d, [vec(e) for e in pos], [vec(e) for e in neg])
    exclude = {e for e in pos + neg if isinstance(e, int)}
    ref.assert_scored(got, _all_except(d, scores, 10, exclude), atol=1e-5)


@pytest.mark.parametrize("distance", ["Cosine", "Euclid"])
def test_sum_scores_with_filter_and_threshold(client, data, distance):
    name, d = data[distance]
    flt = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchValue(value=2))])
    scores = ref.sum_scores(d, [d.vec(2), d.vec(30)], [d.vec(99)])
    allowed = {pid for pid in d.ids if pid % 3 == 2}
    full = _all_except(d, scores, 50, {2, 30, 99}, allowed)
    threshold = (full[19][1] + full[20][1]) / 2  # between the 20th and 21st
    got = client.query_points(
        name,
        query=models.RecommendQuery(
            recommend=models.RecommendInput(
                positive=[2, 30], negative=[99], strategy=models.RecommendStrategy.SUM_SCORES
            )
        ),
        query_filter=flt,
        score_threshold=threshold,
        limit=50,
    ).points
    ref.assert_scored(got, _all_except(d, scores, 50, {2, 30, 99}, allowed, threshold), atol=1e-4)


@pytest.mark.parametrize("distance", ["Cosine", "Euclid"])
def test_discover(client, data, distance):
    name, d = data[distance]
    pairs = [(10, 20), (RAW, 33)]
    got = client.query_points(
        name,
        query=models.DiscoverQuery(
            discover=models.DiscoverInput(
                target=77, context=[models.ContextPair(positive=p, negative=n) for p, n in pairs]
            )
        ),
        limit=10,
    ).points
    vec = lambda e: d.vec(e) if isinstance(e, int) else e  # noqa: E731
    scores = ref.discover(d, d.vec(77), [(vec(p), vec(n)) for p, n in pairs])
    ref.assert_scored(got, _all_except(d, scores, 10, {77, 10, 20, 33}), atol=1e-5)


@pytest.mark.parametrize("distance", ["Cosine", "Euclid"])
def test_context(client, data, distance):
    name, d = data[distance]
    pairs = [(11, 21), (31, 41), (51, 61)]
    got = client.query_points(
        name,
        query=models.ContextQuery(
            context=[models.ContextPair(positive=p, negative=n) for p, n in pairs]
        ),
        limit=15,
    ).points
    scores = ref.context(d, [(d.vec(p), d.vec(n)) for p, n in pairs])
    ref.assert_scored(got, _all_except(d, scores, 15, {11, 21, 31, 41, 51, 61}), atol=1e-5)


#: five rated examples (the middle one is left out of the pairs), ids and a raw vector mixed
FEEDBACK = [(14, 0.9), (RAW, 0.75), (150, 0.5), (62, 0.2), (88, 0.05)]


@pytest.mark.parametrize("distance", ["Cosine", "Euclid"])
def test_relevance_feedback(client, data, distance):
    name, d = data[distance]
    got = client.query_points(
        name,
        query=models.RelevanceFeedbackQuery(
            relevance_feedback=models.RelevanceFeedbackInput(
                target=RAW[::-1],
                feedback=[models.FeedbackItem(example=e, score=s) for e, s in FEEDBACK],
                strategy=models.NaiveFeedbackStrategy(
                    naive=models.NaiveFeedbackStrategyParams(a=0.8, b=1.5, c=0.6)
                ),
            )
        ),
        limit=12,
    ).points
    vec = lambda e: d.vec(e) if isinstance(e, int) else e  # noqa: E731
    scores = ref.relevance_feedback(
        d, RAW[::-1], [(vec(e), s) for e, s in FEEDBACK], 0.8, 1.5, 0.6
    )
    ref.assert_scored(got, _all_except(d, scores, 12, {14, 150, 62, 88}), atol=1e-5)


def test_relevance_feedback_rescoring_prefetch(client, data):
    name, d = data["Cosine"]
    feedback = [(21, 1.0), (22, 0.0)]
    got = client.query_points(
        name,
        prefetch=models.Prefetch(query=RAW, limit=40),
        query=models.RelevanceFeedbackQuery(
            relevance_feedback=models.RelevanceFeedbackInput(
                target=5,
                feedback=[models.FeedbackItem(example=e, score=s) for e, s in feedback],
                strategy=models.NaiveFeedbackStrategy(
                    naive=models.NaiveFeedbackStrategyParams(a=1.0, b=1.0, c=2.0)
                ),
            )
        ),
        limit=10,
    ).points
    candidates = {pid for pid, _ in ref.nearest(d, RAW, 40)}
    scores = ref.relevance_feedback(d, d.vec(5), [(d.vec(e), s) for e, s in feedback], 1, 1, 2)
    ref.assert_scored(got, _all_except(d, scores, 10, {5, 21, 22}, candidates), atol=1e-5)


def test_recommend_rescoring_prefetch(client, data):
    name, d = data["Cosine"]
    got = client.query_points(
        name,
        prefetch=models.Prefetch(query=RAW, limit=40),
        query=models.RecommendQuery(
            recommend=models.RecommendInput(
                positive=[4], negative=[5], strategy=models.RecommendStrategy.BEST_SCORE
            )
        ),
        limit=10,
    ).points
    candidates = {pid for pid, _ in ref.nearest(d, RAW, 40)} - {4, 5}
    scores = ref.best_score(d, [d.vec(4)], [d.vec(5)])
    ref.assert_scored(got, _all_except(d, scores, 10, allowed=candidates), atol=1e-5)


@pytest.mark.parametrize("distance", ["Cosine", "Euclid"])
@pytest.mark.parametrize("diversity", [0.0, 0.5, 0.9])
def test_mmr(client, data, distance, diversity):
    name, d = data[distance]
    got = client.query_points(
        name,
        query=models.NearestQuery(
            nearest=RAW, mmr=models.Mmr(diversity=diversity, candidates_limit=30)
        ),
        limit=8,
    ).points
    candidates = [pid for pid, _ in ref.nearest(d, RAW, 30)]
    expected_ids = ref.mmr(d, RAW, candidates, diversity, 8)
    scores = dict(ref.nearest(d, RAW, 30))
    assert [p.id for p in got] == expected_ids
    for p in got:
        assert p.score == pytest.approx(scores[p.id], rel=1e-5, abs=1e-6)
    if diversity == 0.0:
        assert expected_ids == candidates[:8]


def test_lookup_from(client, data):
    name, d = data["Cosine"]
    other, other_raw = data["other"]
    got = client.query_points(
        name,
        query=models.RecommendQuery(
            recommend=models.RecommendInput(positive=[7000, 7001], negative=[7002])
        ),
        lookup_from=models.LookupLocation(collection=other, vector="emb"),
        limit=6,
    ).points
    stored = ref.oracle.normalize(other_raw)
    query = ref.average_vector([stored[0], stored[1]], [stored[2]])
    ref.assert_scored(got, ref.nearest(d, query, 6), rtol=1e-4, atol=1e-5)
    by_id = client.query_points(
        name, query=7003, lookup_from=models.LookupLocation(collection=other, vector="emb"), limit=4
    ).points
    ref.assert_scored(by_id, ref.nearest(d, stored[3], 4))


def test_order_by_and_sample(client, data):
    name, d = data["Cosine"]
    got = client.query_points(
        name,
        query=models.OrderByQuery(
            order_by=models.OrderBy(key="price", direction=models.Direction.DESC)
        ),
        limit=7,
    ).points
    prices = sorted((d.payloads[pid]["price"] for pid in d.ids), reverse=True)[:7]
    assert [d.payloads[p.id]["price"] for p in got] == prices
    assert all(p.score == 0 for p in got)
    flt = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchValue(value=0))])
    sampled = client.query_points(
        name, query=models.SampleQuery(sample=models.Sample.RANDOM), query_filter=flt, limit=12
    ).points
    assert len(sampled) == 12 and len({p.id for p in sampled}) == 12
    assert all(p.id % 3 == 0 for p in sampled)


def test_order_by_over_prefetch(client, data):
    name, d = data["Cosine"]
    got = client.query_points(
        name,
        prefetch=models.Prefetch(query=RAW, limit=25),
        query=models.OrderByQuery(order_by=models.OrderBy(key="price")),
        limit=5,
    ).points
    candidates = [pid for pid, _ in ref.nearest(d, RAW, 25)]
    assert (
        sorted(d.payloads[p.id]["price"] for p in got)
        == sorted(d.payloads[c]["price"] for c in candidates)[:5]
    )
    assert [d.payloads[p.id]["price"] for p in got] == sorted(
        d.payloads[p.id]["price"] for p in got
    )


def test_errors(http, data):
    name, _ = data["Cosine"]
    path = f"/collections/{name}/points/query"
    error(http.post(path, json={"query": {"recommend": {}}}), 422)
    error(
        http.post(path, json={"query": {"recommend": {"positive": [1], "strategy": "median"}}}),
        400,
        contains="median",
    )
    error(
        http.post(path, json={"query": {"recommend": {"positive": [123456]}}}),
        404,
        contains="123456",
    )
    error(http.post(path, json={"query": {"discover": {"context": []}}}), 400, contains="target")
    feedback = {"target": RAW, "feedback": [{"example": 1, "score": 1}],
                "strategy": {"naive": {"a": 1, "b": -1, "c": 1}}}
    error(http.post(path, json={"query": {"relevance_feedback": feedback}}), 422,
          contains="relevance_feedback.strategy.naive.b: value -1.0 invalid")
    del feedback["strategy"]
    error(http.post(path, json={"query": {"relevance_feedback": feedback}}), 400,
          contains="missing field `strategy`")
    error(
        http.post(path, json={"query": {"nearest": RAW, "mmr": {"diversity": 2}}}),
        422,
        contains="diversity",
    )
    error(
        http.post(
            path, json={"query": {"context": [{"positive": 1, "negative": 2}]}, "using": "nope"}
        ),
        400,
        contains="nope",
    )
