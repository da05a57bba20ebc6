"""gRPC smoke test: qdrant-client with ``prefer_grpc=True`` against a real node.

Every call goes over Qdrant's gRPC API (the node's QDRANT__SERVICE__GRPC_PORT); where it matters
the same question is asked over REST too, and both answers must be the same.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.conversions.conversion import value_to_json

from tests.support.node import REPO_ROOT

SERVER_PY = REPO_ROOT / "tessera" / "server.py"

pytestmark = pytest.mark.skipif(
    "start_grpc_server" not in SERVER_PY.read_text(),
    reason="tessera/server.py does not start the gRPC server (router.grpc) yet",
)

UUID_A = str(uuid.UUID(int=0xA))
UUID_B = "7b1c2a5e-0000-4000-8000-00000000000b"


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def test_health_check(gclient, rclient):
    info = gclient.info()
    assert info.title == "qdrant - vector search engine"
    assert info.version == "1.19.0"
    assert info.commit == rclient.info().commit and len(info.commit) == 40  # as GET / says


def test_collection_lifecycle(gclient, rclient, collection_name):
    assert gclient.collection_exists(collection_name) is False
    assert gclient.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        hnsw_config=models.HnswConfigDiff(m=8),
        metadata={"team": "search", "n": 3},
    )
    assert gclient.collection_exists(collection_name) is True
    assert collection_name in {c.name for c in gclient.get_collections().collections}
    over_grpc = gclient.get_collection(collection_name)
    over_rest = rclient.get_collection(collection_name)
    assert over_grpc.config == over_rest.config
    assert over_grpc.config.params.vectors.size == 4
    assert over_grpc.config.hnsw_config.m == 8
    assert over_grpc.config.metadata == {"team": "search", "n": 3}
    assert over_grpc.points_count == 0

    assert gclient.update_collection(
        collection_name, hnsw_config=models.HnswConfigDiff(ef_construct=64)
    )
    assert gclient.get_collection(collection_name).config.hnsw_config.ef_construct == 64

    assert gclient.delete_collection(collection_name) is True
    assert gclient.collection_exists(collection_name) is False


PAYLOAD = {
    "city": "Berlin",
    "n": 2**60 + 1,
    "neg": -7,
    "f": 2.5,
    "whole": 3.0,
    "ok": True,
    "none": None,
    "tags": ["a", "b"],
    "nested": {"x": [1, {"y": "z"}]},
}


def _points():
    return [
        models.PointStruct(id=1, vector=[1.0, 0.0, 0.0, 0.0], payload=PAYLOAD),
        models.PointStruct(id=2, vector=[0.0, 1.0, 0.0, 0.0], payload={"city": "Paris"}),
        models.PointStruct(id=3, vector=[0.0, 0.0, 1.0, 0.0], payload={"city": "Berlin"}),
        models.PointStruct(id=UUID_A, vector=[0.5, 0.5, 0.0, 0.0], payload={"city": "Rome"}),
        models.PointStruct(id=UUID_B, vector=[0.0, 0.0, 0.0, 1.0]),
    ]


@pytest.fixture
def filled(gclient, collection_name):
    gclient.create_collection(
        collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT)
    )
    result = gclient.upsert(collection_name, _points(), wait=True)
    assert result.status == models.UpdateStatus.COMPLETED
    assert result.operation_id is not None
    return collection_name


def test_upsert_retrieve_keeps_ids_payload_and_vectors(gclient, rclient, filled):
    records = gclient.retrieve(filled, [1, UUID_A, 999], with_vectors=True)
    assert [r.id for r in records] == [1, UUID_A]
    first = records[0]
    assert first.payload == PAYLOAD
    assert type(first.payload["n"]) is int and type(first.payload["whole"]) is float
    assert first.vector == [1.0, 0.0, 0.0, 0.0]
    assert records[1].vector == [0.5, 0.5, 0.0, 0.0]
    rest = rclient.retrieve(filled, [1, UUID_A, 999], with_vectors=True)
    assert [(r.id, r.payload, r.vector) for r in rest] == [
        (r.id, r.payload, r.vector) for r in records
    ]
    # payload selectors and no vectors
    (only,) = gclient.retrieve(filled, [1], with_payload=["city"], with_vectors=False)
    assert only.payload == {"city": "Berlin"} and only.vector is None


def test_scroll_pages_in_id_order(gclient, filled):
    page, offset = gclient.scroll(filled, limit=2)
    assert [p.id for p in page] == [1, 2] and offset == 3
    page, offset = gclient.scroll(filled, limit=10, offset=offset)
    assert [p.id for p in page] == [3, UUID_A, UUID_B] and offset is None
    berlin, _ = gclient.scroll(
        filled,
        scroll_filter=models.Filter(
            must=[models.FieldCondition(key="city", match=models.MatchValue(value="Berlin"))]
        ),
    )
    assert [p.id for p in berlin] == [1, 3]


def test_count(gclient, filled):
    assert gclient.count(filled).count == 5
    flt = models.Filter(must_not=[models.HasIdCondition(has_id=[1, UUID_B])])
    assert gclient.count(filled, count_filter=flt, exact=True).count == 3


def test_query(gclient, rclient, filled):
    res = gclient.query_points(filled, query=[1.0, 0.2, 0.0, 0.0], limit=3, with_payload=True)
    assert [p.id for p in res.points] == [1, UUID_A, 2]
    assert res.points[0].payload == PAYLOAD
    assert res.points[0].score == pytest.approx(1.0)
    assert res.points[0].version >= 0
    rest = rclient.query_points(filled, query=[1.0, 0.2, 0.0, 0.0], limit=3, with_payload=True)
    # scores are float32 on the gRPC wire, the shortest decimal of the float32 on REST
    assert [(p.id, np.float32(p.score), p.payload) for p in rest.points] == [
        (p.id, np.float32(p.score), p.payload) for p in res.points
    ]
    # by id (the point itself is left out), with a filter, limit and offset
    by_id = gclient.query_points(filled, query=UUID_A, limit=2)
    assert [p.id for p in by_id.points] == [1, 2]
    flt = models.Filter(
        must=[models.FieldCondition(key="city", match=models.MatchAny(any=["Berlin", "Paris"]))]
    )
    filtered = gclient.query_points(
        filled, query=[0.0, 0.0, 1.0, 0.0], query_filter=flt, limit=1, offset=1
    )
    assert len(filtered.points) == 1 and filtered.points[0].id in (1, 2)
    # no query: id order
    plain = gclient.query_points(filled, limit=2)
    assert [p.id for p in plain.points] == [1, 2]
    batch = gclient.query_batch_points(
        filled,
        [
            models.QueryRequest(query=[0.0, 1.0, 0.0, 0.0], limit=1),
            models.QueryRequest(query=[0.0, 0.0, 0.0, 1.0], limit=1),
        ],
    )
    assert [[p.id for p in r.points] for r in batch] == [[2], [UUID_B]]


def test_payload_and_delete_operations(gclient, filled):
    sel = models.PointIdsList(points=[2])
    gclient.set_payload(filled, {"extra": {"k": 1}}, points=sel, wait=True)
    assert gclient.retrieve(filled, [2])[0].payload == {"city": "Paris", "extra": {"k": 1}}
    gclient.overwrite_payload(filled, {"only": 1}, points=sel, wait=True)
    assert gclient.retrieve(filled, [2])[0].payload == {"only": 1}
    gclient.delete_payload(filled, ["only"], points=sel, wait=True)
    assert gclient.retrieve(filled, [2])[0].payload == {}
    gclient.set_payload(filled, {"a": 1, "b": 2}, points=sel, wait=True)
    gclient.clear_payload(filled, points_selector=sel, wait=True)
    assert gclient.retrieve(filled, [2])[0].payload == {}

    result = gclient.delete(filled, points_selector=models.PointIdsList(points=[1]), wait=True)
    assert result.status == models.UpdateStatus.COMPLETED
    by_filter = models.FilterSelector(
        filter=models.Filter(
            must=[models.FieldCondition(key="city", match=models.MatchValue(value="Rome"))]
        )
    )
    gclient.delete(filled, points_selector=by_filter, wait=True)
    assert {p.id for p in gclient.scroll(filled, limit=10)[0]} == {2, 3, UUID_B}


def test_named_vectors_update_and_batch(gclient, make_name):
    name = make_name("named")
    gclient.create_collection(
        name,
        vectors_config={
            "a": models.VectorParams(size=2, distance=models.Distance.EUCLID),
            "b": models.VectorParams(size=3, distance=models.Distance.COSINE),
        },
    )
    gclient.upsert(name, [models.PointStruct(id=1, vector={"a": [1.0, 2.0], "b": [0.0, 0.0, 1.0]})])
    gclient.update_vectors(name, [models.PointVectors(id=1, vector={"a": [3.0, 4.0]})], wait=True)
    (rec,) = gclient.retrieve(name, [1], with_vectors=True)
    assert rec.vector == {"a": [3.0, 4.0], "b": [0.0, 0.0, 1.0]}
    (rec,) = gclient.retrieve(name, [1], with_vectors=["b"])  # a vector selector
    assert rec.vector == {"b": [0.0, 0.0, 1.0]}
    gclient.delete_vectors(name, ["b"], points=models.PointIdsList(points=[1]), wait=True)
    (rec,) = gclient.retrieve(name, [1], with_vectors=True)
    assert rec.vector == {"a": [3.0, 4.0]}

    results = gclient.batch_update_points(
        name,
        [
            models.UpsertOperation(
                upsert=models.PointsList(
                    points=[models.PointStruct(id=2, vector={"a": [0.0, 0.0]})]
                )
            ),
            models.SetPayloadOperation(
                set_payload=models.SetPayload(payload={"k": "v"}, points=[2])
            ),
            models.DeleteOperation(delete=models.PointIdsList(points=[1])),
        ],
        wait=True,
    )
    assert [r.status for r in results] == [models.UpdateStatus.COMPLETED] * 3
    ids = [r.operation_id for r in results]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [(r.id, r.payload) for r in gclient.scroll(name)[0]] == [(2, {"k": "v"})]
    res = gclient.query_points(name, query=[0.1, 0.1], using="a", with_vectors=["a"])
    assert res.points[0].id == 2 and res.points[0].vector == {"a": [0.0, 0.0]}


def test_aliases(gclient, filled, make_name):
    alias, renamed = make_name("al"), make_name("al")
    assert gclient.update_collection_aliases(
        [
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=filled, alias_name=alias)
            )
        ]
    )
    assert (alias, filled) in {
        (a.alias_name, a.collection_name) for a in gclient.get_aliases().aliases
    }
    assert [a.alias_name for a in gclient.get_collection_aliases(filled).aliases] == [alias]
    assert gclient.count(alias).count == 5  # an alias stands for its collection
    gclient.update_collection_aliases(
        [
            models.RenameAliasOperation(
                rename_alias=models.RenameAlias(old_alias_name=alias, new_alias_name=renamed)
            )
        ]
    )
    assert [a.alias_name for a in gclient.get_collection_aliases(filled).aliases] == [renamed]
    gclient.update_collection_aliases(
        [models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=renamed))]
    )
    assert gclient.get_collection_aliases(filled).aliases == []


def test_errors_map_like_qdrant(gclient, rclient, filled, make_name):
    missing = make_name("missing")
    err = rpc_error(lambda: gclient.get_collection(missing))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == f"Not found: Collection `{missing}` doesn't exist!"
    err = rpc_error(lambda: gclient.upsert(missing, _points()))
    assert err.code() == grpc.StatusCode.NOT_FOUND

    err = rpc_error(lambda: gclient.upsert(filled, [models.PointStruct(id=9, vector=[1.0, 2.0])]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Vector dimension error" in err.details()
    # the same text as the REST error
    with pytest.raises(Exception) as rest_err:
        rclient.upsert(filled, [models.PointStruct(id=9, vector=[1.0, 2.0])])
    assert err.details() in str(rest_err.value)
    assert gclient.count(filled).count == 5  # nothing was written

    err = rpc_error(
        lambda: gclient.create_collection(
            filled, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT)
        )
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS

    err = rpc_error(lambda: gclient.query_points(filled, query=[1.0, 0.0, 0.0, 0.0], limit=0))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT

    # the query RPCs run on the server's event loop: their errors map the same way
    err = rpc_error(lambda: gclient.query_points(missing, query=[1.0, 0.0, 0.0, 0.0]))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == f"Not found: Collection `{missing}` doesn't exist!"
    err = rpc_error(lambda: gclient.query_points(filled, query=[1.0, 0.0]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Vector dimension error" in err.details()
    with pytest.raises(Exception) as rest_err:
        rclient.query_points(filled, query=[1.0, 0.0])
    assert err.details() in str(rest_err.value)


def _random_collection(gclient, name: str, rng, n: int, dim: int, distance) -> np.ndarray:
    """A collection of n random points (ids 0..n-1), created and filled over gRPC."""
    gclient.create_collection(name, vectors_config=models.VectorParams(size=dim, distance=distance))
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    gclient.upsert(
        name, [models.PointStruct(id=i, vector=v.tolist()) for i, v in enumerate(vectors)],
        wait=True,
    )
    return vectors


def test_concurrent_queries_answer_each_their_own(gclient, rclient, make_name):
    """Many clients at once: queries coalesce into batched searches on the server's loop, and
    each call still gets its own answer, the one REST gives."""
    name = make_name("many")
    rng = np.random.default_rng(5)
    _random_collection(gclient, name, rng, 300, 8, models.Distance.COSINE)
    queries = rng.standard_normal((64, 8)).astype(np.float32).tolist()
    expected = [rclient.query_points(name, query=q, limit=5).points for q in queries]

    def ask(i: int) -> list:
        return gclient.query_points(name, query=queries[i], limit=5).points

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(ask, range(len(queries))))
    for got, want in zip(answers, expected, strict=True):
        assert [p.id for p in got] == [p.id for p in want]
        assert [p.score for p in got] == pytest.approx([p.score for p in want], abs=1e-5)
    assert len({tuple(p.id for p in a) for a in answers}) > 1  # the queries really differ


def test_deprecated_search_rpcs_answer_as_query(node, gclient, rclient, filled):
    from qdrant_client import grpc as pb

    enable = pb.WithPayloadSelector(enable=True)
    with grpc.insecure_channel(f"{node.host}:{node.grpc_port}") as channel:
        stub = pb.PointsStub(channel)
        search = pb.SearchPoints(
            collection_name=filled, vector=[1.0, 0.2, 0.0, 0.0], limit=3, with_payload=enable
        )
        reply = stub.Search(search)
        batch = stub.SearchBatch(
            pb.SearchBatchPoints(
                collection_name=filled,
                search_points=[
                    search,
                    pb.SearchPoints(collection_name=filled, vector=[0.0, 0.0, 0.0, 1.0], limit=1),
                ],
            )
        )
    rest = rclient.query_points(filled, query=[1.0, 0.2, 0.0, 0.0], limit=3, with_payload=True)
    expected = [(p.id, p.payload) for p in rest.points]
    got = [
        (p.id.num or p.id.uuid, {k: value_to_json(v) for k, v in p.payload.items()})
        for p in reply.result
    ]
    assert got == expected
    assert [[p.id.num or p.id.uuid for p in r.result] for r in batch.result] == [
        [1, UUID_A, 2],
        [UUID_B],
    ]


def test_every_points_rpc_is_served(node, gclient):
    """Every method of qdrant.Points in qdrant-client's protos answers: NOT_FOUND for a
    collection that does not exist (or INVALID_ARGUMENT for a request that says too little to
    get that far), never UNIMPLEMENTED or an internal error."""
    from qdrant_client import grpc as pb

    service = pb.points_service_pb2.DESCRIPTOR.services_by_name["Points"]
    codes = {}
    with grpc.insecure_channel(f"{node.host}:{node.grpc_port}") as channel:
        stub = pb.PointsStub(channel)
        for method in service.methods:
            request = getattr(pb, method.input_type.name)(collection_name="absent_collection")
            try:
                getattr(stub, method.name)(request)
                codes[method.name] = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                codes[method.name] = exc.code()
    assert len(codes) >= 25
    assert [m for m, c in codes.items() if c == grpc.StatusCode.UNIMPLEMENTED] == []
    answered = {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT}
    assert {m for m, c in codes.items() if c not in answered} == set(), codes


def test_standard_health_and_reflection_services(node, gclient):
    health_pb2 = pytest.importorskip("grpc_health.v1.health_pb2")
    health_pb2_grpc = pytest.importorskip("grpc_health.v1.health_pb2_grpc")
    reflection_pb2 = pytest.importorskip("grpc_reflection.v1alpha.reflection_pb2")
    reflection_pb2_grpc = pytest.importorskip("grpc_reflection.v1alpha.reflection_pb2_grpc")
    with grpc.insecure_channel(f"{node.host}:{node.grpc_port}") as channel:
        for service in ("", "qdrant.Points", "qdrant.Collections", "qdrant.Qdrant"):
            status = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service)
            )
            assert status.status == health_pb2.HealthCheckResponse.SERVING, service
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (reply,) = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([request])
        )
        names = {s.name for s in reply.list_services_response.service}
    assert {"qdrant.Collections", "qdrant.Points", "qdrant.Qdrant"} <= names


def test_a_call_cancelled_by_its_deadline_leaves_searches_working(node, gclient, make_name):
    """A client that gives up (deadline exceeded) cancels the server's handler while its
    search is queued or running; the shard's search worker must skip or finish it and go on
    serving everyone else (it once died on the cancelled future, and every later search on
    the collection hung)."""
    from qdrant_client import grpc as pb

    name = make_name("deadline")
    rng = np.random.default_rng(11)
    vectors = _random_collection(gclient, name, rng, 4000, 64, models.Distance.DOT)
    queries = rng.standard_normal((200, 64)).astype(np.float32)
    slow = pb.QueryBatchPoints(
        collection_name=name,
        query_points=[
            pb.QueryPoints(
                collection_name=name,
                query=pb.Query(nearest=pb.VectorInput(dense=pb.DenseVector(data=q.tolist()))),
                limit=10,
                params=pb.SearchParams(exact=True),
            )
            for q in queries
        ],
    )
    with grpc.insecure_channel(f"{node.host}:{node.grpc_port}") as channel:
        stub = pb.PointsStub(channel)
        gave_up = 0
        for _ in range(10):  # 200 exact searches take milliseconds: the deadline cuts in
            try:
                stub.QueryBatch(slow, timeout=0.002)
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                gave_up += 1
        assert gave_up
        answer = stub.Query(slow.query_points[0], timeout=10).result
    expected = np.argsort(-(vectors @ queries[0]), kind="stable")[:10]
    assert [p.id.num for p in answer] == expected.tolist()
