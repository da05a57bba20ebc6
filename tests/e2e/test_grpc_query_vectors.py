"""A gRPC query's dense vector is decoded straight into a float32 array (from_grpc.query_floats)
rather than a list of floats. Whatever the collection's vectors are, the answers and the errors
must be those of the same query over REST.
"""

from __future__ import annotations

import json
import uuid

import grpc
import numpy as np
import pytest
from qdrant_client import grpc as pb
from qdrant_client import models

DENSE = models.VectorParams(size=4, distance=models.Distance.COSINE)


@pytest.fixture(scope="module")
def mixed(rclient):
    """Named dense (float32 and uint8 storage), multivector and sparse vectors."""
    name = f"qv_{uuid.uuid4().hex[:8]}"
    rclient.create_collection(
        name,
        vectors_config={
            "plain": DENSE,
            "bytes": models.VectorParams(size=4, distance=models.Distance.DOT,
                                         datatype=models.Datatype.UINT8),
            "multi": models.VectorParams(
                size=4, distance=models.Distance.DOT,
                multivector_config=models.MultiVectorConfig(
                    comparator=models.MultiVectorComparator.MAX_SIM),
            ),
        },
        sparse_vectors_config={"sparse": models.SparseVectorParams()},
    )
    rng = np.random.default_rng(7)
    points = []
    for i in range(1, 41):
        v = rng.random(4).round(3).tolist()
        points.append(models.PointStruct(id=i, vector={
            "plain": v,
            "bytes": [float(int(x * 100)) for x in v],
            "multi": [v, [x / 2 for x in v]],
            "sparse": models.SparseVector(indices=[i % 7, 10 + i % 3], values=[1.0, 0.5]),
        }))
    rclient.upsert(name, points, wait=True)
    yield name
    rclient.delete_collection(name)


def _ids(answer) -> list:
    return [(p.id, round(p.score, 4)) for p in answer.points]


@pytest.mark.parametrize("using", ["plain", "bytes", "multi"])
def test_dense_query_answers_match_rest(gclient, rclient, mixed, using):
    query = [0.2, 0.9, 0.1, 0.4]
    rest = rclient.query_points(mixed, query=query, using=using, limit=5)
    over_grpc = gclient.query_points(mixed, query=query, using=using, limit=5)
    assert _ids(over_grpc) == _ids(rest) and len(rest.points) == 5


def test_prefetch_and_batch_take_array_vectors(gclient, rclient, mixed):
    prefetch = models.Prefetch(query=[0.5, 0.1, 0.9, 0.2], using="plain", limit=10)
    kw = dict(prefetch=prefetch, query=[0.1, 0.2, 0.3, 0.4], using="plain", limit=3)
    assert _ids(gclient.query_points(mixed, **kw)) == _ids(rclient.query_points(mixed, **kw))
    requests = [models.QueryRequest(query=[0.3, 0.3, 0.1, 0.9], using="plain", limit=4),
                models.QueryRequest(query=[0.9, 0.1, 0.2, 0.1], using="multi", limit=4)]
    over_grpc = gclient.query_batch_points(mixed, requests)
    rest = rclient.query_batch_points(mixed, requests)
    assert [_ids(a) for a in over_grpc] == [_ids(a) for a in rest]
    # the deprecated Search RPC takes the same path
    hits = gclient.grpc_points.Search(pb.SearchPoints(
        collection_name=mixed, vector=[0.3, 0.3, 0.1, 0.9], vector_name="plain", limit=4,
    ), timeout=10).result
    assert [h.id.num for h in hits] == [p.id for p in rest[0].points]


@pytest.mark.parametrize(
    "query, using",
    [([1.0, 2.0], "plain"), ([0.1, 0.2, 0.3, 0.4], "sparse"), ([1.0, 2.0, 3.0], "multi"),
     ([1.0, 2.0], "bytes"), ([0.1, 0.2, 0.3, 0.4], "missing")],
)
def test_dense_query_errors_match_rest(gclient, rclient, mixed, query, using):
    from qdrant_client.http.exceptions import UnexpectedResponse

    with pytest.raises(UnexpectedResponse) as rest:
        rclient.query_points(mixed, query=query, using=using, limit=3)
    with pytest.raises(grpc.RpcError) as over_grpc:
        gclient.query_points(mixed, query=query, using=using, limit=3)
    assert over_grpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    rest_message = json.loads(rest.value.content)["status"]["error"]
    assert rest_message.startswith("Wrong input: ")
    assert over_grpc.value.details() == rest_message
