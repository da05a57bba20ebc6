"""Strict mode, enforced key by key over REST and gRPC: the request within the limit passes,
the one over it gets 403 (PERMISSION_DENIED) with Qdrant's message naming the limit and the
value, and nothing stored changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.support import api

LIMIT_HELP = 'Limit exceeded {v} > {l} for "{n}". Help: Reduce the "{n}" parameter to or below {l}.'


def over(value: Any, limit: Any, name: str) -> str:
    return LIMIT_HELP.format(v=value, l=limit, n=name)


def unindexed(key: str, schema: str) -> str:
    return (f'Index required but not found for "{key}" of one of the following types: '
            f"[{schema}]. Help: Create an index for this key or use a different filter.")


PAYLOADS = [{"colour": "red", "n": 0}, {"colour": "blue", "n": 1}, {"colour": "red", "n": 2}]


def create(http, name: str, strict: dict) -> None:
    api.ok(http.put(f"/collections/{name}", json={
        "vectors": {"d": {"size": 2, "distance": "Dot"},
                    "m": {"size": 2, "distance": "Dot",
                          "multivector_config": {"comparator": "max_sim"}}},
        "sparse_vectors": {"s": {}},
    }))
    api.ok(http.put(f"/collections/{name}/points?wait=true", json={"points": [
        {"id": i, "vector": {"d": [1.0, float(i)]}, "payload": p} for i, p in enumerate(PAYLOADS)
    ]}))
    api.ok(http.put(f"/collections/{name}/index?wait=true",
                    json={"field_name": "n", "field_schema": "integer"}))
    api.ok(http.patch(f"/collections/{name}", json={"strict_mode_config": {
        "enabled": True, **strict}}))


def stored(http, name: str) -> tuple:
    points = api.ok(http.post(f"/collections/{name}/points", json={
        "ids": list(range(40)), "with_payload": True, "with_vector": True}))
    schema = api.ok(http.get(f"/collections/{name}"))["payload_schema"]
    return json.dumps(points, sort_keys=True), sorted(schema)


def point(i: int, **vectors) -> models.PointStruct:
    return models.PointStruct(id=i, vector={"d": [1.0, 0.5], **vectors}, payload={"n": i})


def n_is(value: int) -> models.FieldCondition:
    return models.FieldCondition(key="n", match=models.MatchValue(value=value))


def red() -> models.Filter:
    return models.Filter(must=[models.FieldCondition(
        key="colour", match=models.MatchValue(value="red"))])


def query(c, name: str, **kw):
    return c.query_points(name, query=[1.0, 0.0], using="d", **kw)


def req(limit: int) -> models.QueryRequest:
    return models.QueryRequest(query=[1.0, 0.0], using="d", limit=limit)


@dataclass
class Case:
    strict: dict
    allowed: Callable
    refused: Callable
    message: str


PAYLOAD_BYTES = sum(len(json.dumps(p, separators=(",", ":"))) for p in PAYLOADS)

CASES = {
    "max_query_limit": Case(
        {"max_query_limit": 2},
        lambda c, n: query(c, n, limit=2),
        lambda c, n: query(c, n, limit=3), over(3, 2, "limit")),
    "max_query_limit_scroll": Case(
        {"max_query_limit": 2},
        lambda c, n: c.scroll(n, limit=2),
        lambda c, n: c.scroll(n, limit=3), over(3, 2, "limit")),
    "max_timeout": Case(
        {"max_timeout": 5},
        lambda c, n: query(c, n, timeout=5),
        lambda c, n: query(c, n, timeout=6), over(6, 5, "timeout")),
    "max_timeout_count": Case(
        {"max_timeout": 5},
        lambda c, n: c.count(n, timeout=5),
        lambda c, n: c.count(n, timeout=6), over(6, 5, "timeout")),
    "max_timeout_scroll": Case(
        {"max_timeout": 5},
        lambda c, n: c.scroll(n, timeout=5),
        lambda c, n: c.scroll(n, timeout=6), over(6, 5, "timeout")),
    "unindexed_filtering_retrieve": Case(
        {"unindexed_filtering_retrieve": False},
        lambda c, n: query(c, n, query_filter=models.Filter(must=[n_is(1)])),
        lambda c, n: query(c, n, query_filter=red()), unindexed("colour", "keyword")),
    "unindexed_filtering_retrieve_count": Case(
        {"unindexed_filtering_retrieve": False},
        lambda c, n: c.count(n, count_filter=models.Filter(must=[n_is(1)])),
        lambda c, n: c.count(n, count_filter=red()), unindexed("colour", "keyword")),
    "unindexed_filtering_update": Case(
        {"unindexed_filtering_update": False},
        lambda c, n: c.delete(n, models.FilterSelector(filter=models.Filter(must=[n_is(9)]))),
        lambda c, n: c.delete(n, models.FilterSelector(filter=red())),
        unindexed("colour", "keyword")),
    "unindexed_filtering_update_payload": Case(
        {"unindexed_filtering_update": False},
        lambda c, n: c.set_payload(n, {"x": 1}, points=models.Filter(must=[n_is(9)])),
        lambda c, n: c.set_payload(n, {"x": 1}, points=red()), unindexed("colour", "keyword")),
    "search_max_hnsw_ef": Case(
        {"search_max_hnsw_ef": 10},
        lambda c, n: query(c, n, search_params=models.SearchParams(hnsw_ef=10)),
        lambda c, n: query(c, n, search_params=models.SearchParams(hnsw_ef=11)),
        over(11, 10, "hnsw_ef")),
    "search_allow_exact": Case(
        {"search_allow_exact": False},
        lambda c, n: query(c, n, search_params=models.SearchParams(exact=False)),
        lambda c, n: query(c, n, search_params=models.SearchParams(exact=True)),
        "Exact search disabled!. Help: Set exact=false."),
    "search_max_oversampling": Case(
        {"search_max_oversampling": 2.0},
        lambda c, n: query(c, n, search_params=models.SearchParams(
            quantization=models.QuantizationSearchParams(oversampling=2.0))),
        lambda c, n: query(c, n, search_params=models.SearchParams(
            quantization=models.QuantizationSearchParams(oversampling=3.0))),
        over(3, 2, "oversampling")),
    "search_max_batchsize": Case(
        {"search_max_batchsize": 2},
        lambda c, n: c.query_batch_points(n, [req(1), req(1)]),
        lambda c, n: c.query_batch_points(n, [req(1), req(1), req(1)]),
        over(3, 2, "search_max_batchsize")),
    "upsert_max_batchsize": Case(
        {"upsert_max_batchsize": 2},
        lambda c, n: c.upsert(n, [point(10), point(11)]),
        lambda c, n: c.upsert(n, [point(12), point(13), point(14)]), over(3, 2, "upsert limit")),
    "max_collection_vector_size_bytes": Case(  # 16 bytes a point (d and m, 2 float32 each)
        {"max_collection_vector_size_bytes": 64},
        lambda c, n: c.upsert(n, [point(10)]),
        lambda c, n: c.upsert(n, [point(11)]),
        "Max vector storage size limit of 64 bytes reached!. Help: Delete points or increase "
        "max_collection_vector_size_bytes."),
    "max_collection_payload_size_bytes": Case(
        {"max_collection_payload_size_bytes": PAYLOAD_BYTES + 1},
        lambda c, n: c.upsert(n, [point(10)]),
        lambda c, n: c.set_payload(n, {"more": "x"}, points=[0]),
        f"Max payload storage size limit of {PAYLOAD_BYTES + 1} bytes reached!. Help: Delete "
        "payloads or increase max_collection_payload_size_bytes."),
    "max_points_count": Case(
        {"max_points_count": 4},
        lambda c, n: c.upsert(n, [point(10)]),
        lambda c, n: c.upsert(n, [point(11)]),
        "Max points count limit of 4 reached!. Help: Delete points or increase "
        "max_points_count."),
    "filter_max_conditions": Case(
        {"filter_max_conditions": 2},
        lambda c, n: query(c, n, query_filter=models.Filter(should=[n_is(1), n_is(2)])),
        lambda c, n: query(c, n, query_filter=models.Filter(should=[n_is(1), n_is(2), n_is(3)])),
        over(3, 2, "filter_max_conditions")),
    "condition_max_size": Case(
        {"condition_max_size": 2},
        lambda c, n: c.count(n, count_filter=models.Filter(must=[models.FieldCondition(
            key="n", match=models.MatchAny(any=[1, 2]))])),
        lambda c, n: c.count(n, count_filter=models.Filter(must=[models.FieldCondition(
            key="n", match=models.MatchAny(any=[1, 2, 3]))])),
        over(3, 2, "condition_max_size")),
    "multivector_config": Case(
        {"multivector_config": {"m": {"max_vectors": 2}}},
        lambda c, n: c.upsert(n, [point(10, m=[[1.0, 0.0], [0.0, 1.0]])]),
        lambda c, n: c.upsert(n, [point(11, m=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])]),
        over(3, 2, "max_vectors")),
    "sparse_config": Case(
        {"sparse_config": {"s": {"max_length": 2}}},
        lambda c, n: c.upsert(n, [point(10, s=models.SparseVector(indices=[1, 2],
                                                                  values=[0.5, 0.5]))]),
        lambda c, n: c.upsert(n, [point(11, s=models.SparseVector(indices=[1, 2, 3],
                                                                  values=[0.5, 0.5, 0.5]))]),
        over(3, 2, "max_length")),
    "max_payload_index_count": Case(
        {"max_payload_index_count": 2},
        lambda c, n: c.create_payload_index(n, "colour", models.PayloadSchemaType.KEYWORD,
                                            wait=True),
        lambda c, n: c.create_payload_index(n, "other", models.PayloadSchemaType.KEYWORD,
                                            wait=True),
        over(3, 2, "max_payload_index_count")),
}


def refusal(call: Callable, transport: str) -> str:
    """The error a refused call got, after checking its status: 403 / PERMISSION_DENIED."""
    if transport == "grpc":
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, info.value
        return info.value.details()
    with pytest.raises(UnexpectedResponse) as failed:
        call()
    assert failed.value.status_code == 403, failed.value
    return json.loads(failed.value.content)["status"]["error"]


@pytest.mark.parametrize("key", list(CASES))
def test_strict_mode_key(key, http, client, transport, collection_name):
    case = CASES[key]
    create(http, collection_name, case.strict)
    case.allowed(client, collection_name)
    before = stored(http, collection_name)
    message = refusal(lambda: case.refused(client, collection_name), transport)
    assert message == "Forbidden: " + case.message
    assert stored(http, collection_name) == before


def test_read_rate_limit_covers_get_point(http, collection_name):
    create(http, collection_name, {"read_rate_limit": 2})
    assert http.get(f"/collections/{collection_name}/points/1").status_code == 200
    assert http.get(f"/collections/{collection_name}/points/1").status_code == 200
    assert http.get(f"/collections/{collection_name}/points/1").status_code == 429


def test_strict_mode_off_enforces_nothing(http, rclient, collection_name):
    create(http, collection_name, {"max_query_limit": 1})
    api.ok(http.patch(f"/collections/{collection_name}",
                      json={"strict_mode_config": {"enabled": False}}))
    assert len(query(rclient, collection_name, limit=3).points) == 3


def test_update_batch_writes_nothing_when_one_operation_is_refused(http, collection_name):
    create(http, collection_name, {"upsert_max_batchsize": 1})
    resp = http.post(f"/collections/{collection_name}/points/batch?wait=true", json={
        "operations": [
            {"upsert": {"points": [{"id": 20, "vector": {"d": [1, 0]}}]}},
            {"upsert": {"points": [{"id": 21, "vector": {"d": [1, 0]}},
                                   {"id": 22, "vector": {"d": [1, 0]}}]}},
        ]})
    assert resp.status_code == 403
    assert resp.json()["status"]["error"] == "Forbidden: " + over(2, 1, "upsert limit")
    assert api.ok(http.post(f"/collections/{collection_name}/points/count", json={}))["count"] \
        == 3
