"""The gRPC conversions of queries: every form of the query API, batches and the deprecated
search arrive as the REST body of the same request, and parse as it does."""

from __future__ import annotations

import uuid

import pytest
from qdrant_client import grpc as pb
from qdrant_client.conversions.conversion import RestToGrpc
from qdrant_client.http import models as m

from router.api.grpc.from_grpc import queries as from_queries
from tests.router.grpc_conversions_support import CONDITIONS, as_f32, rest_json, wire

# -- queries -----------------------------------------------------------------------------------
QUERIES = {
    "none": m.QueryRequest(limit=3, offset=1, with_payload=True, with_vector=["a"]),
    "nearest_dense": m.QueryRequest(query=[0.1, 0.2, 0.3], using="a", limit=5),
    "nearest_id": m.QueryRequest(query=42, filter=m.Filter(must=[CONDITIONS["match_int"]])),
    "nearest_uuid": m.QueryRequest(query=m.NearestQuery(nearest=str(uuid.UUID(int=9)))),
    "nearest_sparse": m.QueryRequest(
        query=m.SparseVector(indices=[1, 5], values=[0.5, 0.25]), using="s"
    ),
    "nearest_multi": m.QueryRequest(query=[[1.0, 0.0], [0.0, 1.0]]),
    "nearest_mmr": m.QueryRequest(
        query=m.NearestQuery(nearest=[1.0], mmr=m.Mmr(diversity=0.5, candidates_limit=20))
    ),
    "recommend": m.QueryRequest(
        query=m.RecommendQuery(
            recommend=m.RecommendInput(
                positive=[1, [0.5, 0.5]], negative=[2], strategy=m.RecommendStrategy.BEST_SCORE
            )
        )
    ),
    "discover": m.QueryRequest(
        query=m.DiscoverQuery(
            discover=m.DiscoverInput(target=1, context=[m.ContextPair(positive=2, negative=3)])
        )
    ),
    "context": m.QueryRequest(
        query=m.ContextQuery(context=[m.ContextPair(positive=[1.0], negative=[2.0])])
    ),
    "order_by": m.QueryRequest(
        query=m.OrderByQuery(order_by=m.OrderBy(key="price", direction=m.Direction.DESC))
    ),
    "fusion": m.QueryRequest(
        prefetch=[
            m.Prefetch(query=[1.0, 0.0], using="a", limit=20),
            m.Prefetch(
                query=m.SparseVector(indices=[1], values=[1.0]),
                using="s",
                prefetch=[m.Prefetch(query=[0.5], limit=100)],
            ),
        ],
        query=m.FusionQuery(fusion=m.Fusion.RRF),
    ),
    "dbsf": m.QueryRequest(query=m.FusionQuery(fusion=m.Fusion.DBSF)),
    "rrf": m.QueryRequest(query=m.RrfQuery(rrf=m.Rrf(k=60, weights=[1.0, 0.5]))),
    "sample": m.QueryRequest(query=m.SampleQuery(sample=m.Sample.RANDOM)),
    "formula": m.QueryRequest(
        query=m.FormulaQuery(
            formula=m.SumExpression(
                sum=[
                    "$score",
                    m.MultExpression(mult=[0.5, "price"]),
                    m.ExpDecayExpression(exp_decay=m.DecayParamsExpression(x="d", scale=2.0)),
                    m.FieldCondition(key="tag", match=m.MatchValue(value="a")),
                ]
            ),
            defaults={"price": 1},
        )
    ),
    "params": m.QueryRequest(
        query=[1.0],
        params=m.SearchParams(
            hnsw_ef=64,
            exact=True,
            quantization=m.QuantizationSearchParams(rescore=True, oversampling=2.0),
        ),
        score_threshold=0.25,
    ),
    "lookup": m.QueryRequest(query=5, lookup_from=m.LookupLocation(collection="other", vector="v")),
    "payload_include": m.QueryRequest(query=[1.0], with_payload=["a", "b"]),
    "payload_exclude": m.QueryRequest(
        query=[1.0], with_payload=m.PayloadSelectorExclude(exclude=["x"])
    ),
    "payload_false": m.QueryRequest(query=[1.0], with_payload=False, with_vector=True),
}


def _normalize_query(body: dict) -> dict:
    """REST allows bare vectors/ids where gRPC always says `nearest`; and a plain list of
    `with_payload` keys is an include selector."""
    body = dict(body)
    q = body.get("query")
    if q is not None and not (
        isinstance(q, dict)
        and set(q)
        & {
            "nearest",
            "recommend",
            "discover",
            "context",
            "order_by",
            "fusion",
            "rrf",
            "sample",
            "formula",
            "relevance_feedback",
            "text",
        }
    ):
        body["query"] = {"nearest": q}
    if isinstance(body.get("with_payload"), list):
        body["with_payload"] = {"include": body["with_payload"]}
    if "prefetch" in body:
        body["prefetch"] = [_normalize_query(p) for p in body["prefetch"]]
    return body


@pytest.mark.parametrize("name", list(QUERIES))
def test_every_query_form_arrives_as_rest_json(name):
    request = QUERIES[name]
    msg = wire(RestToGrpc.convert_query_request(request, "col"))
    got = from_queries.query_points(msg)
    assert as_f32(got) == as_f32(_normalize_query(rest_json(request)))


def test_query_batch_and_search():
    batch = pb.QueryBatchPoints(
        collection_name="c",
        query_points=[
            RestToGrpc.convert_query_request(QUERIES["nearest_dense"], "c"),
            RestToGrpc.convert_query_request(QUERIES["none"], "c"),
        ],
    )
    assert as_f32(from_queries.query_batch(wire(batch))) == as_f32(
        {
            "searches": [
                _normalize_query(rest_json(QUERIES["nearest_dense"])),
                _normalize_query(rest_json(QUERIES["none"])),
            ]
        }
    )
    search = pb.SearchPoints(
        collection_name="c",
        vector=[1.0, 0.5],
        limit=3,
        vector_name="a",
        with_payload=pb.WithPayloadSelector(enable=True),
        score_threshold=0.1,
    )
    assert as_f32(from_queries.search_points(wire(search))) == as_f32({
        "query": {"nearest": [1.0, 0.5]},
        "limit": 3,
        "using": "a",
        "with_payload": True,
        "score_threshold": 0.1,
    })


def test_parsed_query_matches_rest_parse():
    from router.query.requests import parse_query

    for name in ("none", "nearest_dense", "nearest_id", "params", "payload_include"):
        body = rest_json(QUERIES[name])
        via_grpc = parse_query(
            from_queries.query_points(RestToGrpc.convert_query_request(QUERIES[name], "c"))
        )
        via_rest = parse_query(body)
        via_grpc.vector, via_rest.vector = as_f32(via_grpc.vector), as_f32(via_rest.vector)
        assert via_grpc == via_rest, name
