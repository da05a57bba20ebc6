"""The gRPC conversions of point writes and reads (upserts, batches of operations, payload and
vector updates; get, scroll, count, facet and order_by) and of the values an answer is ordered
by."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from qdrant_client import grpc as pb
from qdrant_client.conversions.conversion import GrpcToRest, RestToGrpc
from qdrant_client.http import models as m

from node.datetimes import parse_datetime
from node.shard_search import PointRecord
from router.api.grpc.from_grpc import point_ops as from_point_ops
from router.api.grpc.to_grpc import records as to_records
from router.api.grpc.to_grpc import responses as to_responses
from router.api.grpc.to_grpc import values as to_values
from router.api.rest.serialize import record_json
from router.operations import fields as request_fields
from tests.router.grpc_conversions_support import CONDITIONS, _config, rest_json, same_typed, wire


# -- point writes ------------------------------------------------------------------------------
def test_upsert_points_body():
    points = [
        m.PointStruct(id=1, vector=[1.0, 2.0], payload={"a": 1, "b": [1.5, None]}),
        m.PointStruct(id=str(uuid.UUID(int=2)), vector={"x": [0.5]}, payload=None),
    ]
    flt = m.Filter(must=[CONDITIONS["match_keyword"]])
    req = pb.UpsertPoints(
        collection_name="c",
        wait=True,
        points=[RestToGrpc.convert_point_struct(p) for p in points],
        update_filter=RestToGrpc.convert_filter(flt),
    )
    body = from_point_ops.upsert_points(wire(req))
    assert body == {
        "points": [
            {"id": 1, "vector": [1.0, 2.0], "payload": {"a": 1, "b": [1.5, None]}},
            {"id": str(uuid.UUID(int=2)), "vector": {"x": [0.5]}, "payload": {}},
        ],
        "update_filter": rest_json(flt),
    }
    assert from_point_ops.wait(req) is True
    assert from_point_ops.wait(pb.UpsertPoints()) is False


BATCH_OPS = [
    m.UpsertOperation(
        upsert=m.PointsList(points=[m.PointStruct(id=1, vector=[1.0], payload={"k": "v"})])
    ),
    m.DeleteOperation(delete=m.PointIdsList(points=[1, 2])),
    m.DeleteOperation(delete=m.FilterSelector(filter=m.Filter(must=[CONDITIONS["has_id"]]))),
    m.SetPayloadOperation(set_payload=m.SetPayload(payload={"x": {"y": 1}}, points=[3], key="a.b")),
    m.OverwritePayloadOperation(
        overwrite_payload=m.SetPayload(
            payload={"x": 2}, filter=m.Filter(must=[CONDITIONS["is_empty"]])
        )
    ),
    m.DeletePayloadOperation(delete_payload=m.DeletePayload(keys=["x", "y"], points=[4])),
    m.ClearPayloadOperation(clear_payload=m.PointIdsList(points=[5])),
    m.UpdateVectorsOperation(
        update_vectors=m.UpdateVectors(points=[m.PointVectors(id=6, vector={"a": [1.0]})])
    ),
    m.DeleteVectorsOperation(delete_vectors=m.DeleteVectors(points=[7], vector=["a", "b"])),
]


def _rest_op(op) -> dict:
    out = rest_json(op)
    kind, body = next(iter(out.items()))
    if (
        kind in ("delete", "clear_payload")
        and "points" in body
        and isinstance(body["points"], list)
    ):
        pass
    if kind == "upsert":
        for p in body["points"]:
            p.setdefault("payload", {})
    return out


@pytest.mark.parametrize("op", BATCH_OPS, ids=[type(o).__name__ for o in BATCH_OPS])
def test_update_batch_operations_arrive_as_rest_json(op):
    msg = wire(RestToGrpc.convert_update_operation(op))
    assert from_point_ops.update_operation(msg) == _rest_op(op)


def test_single_write_bodies():
    sel = pb.PointsSelector(points=pb.PointsIdsList(ids=[pb.PointId(num=1)]))
    assert from_point_ops.delete_points(pb.DeletePoints(points=sel)) == {"points": [1]}
    assert from_point_ops.clear_payload(pb.ClearPayloadPoints(points=sel)) == {"points": [1]}
    flt_sel = pb.PointsSelector(filter=pb.Filter())
    assert from_point_ops.delete_points(pb.DeletePoints(points=flt_sel)) == {"filter": {}}
    assert from_point_ops.set_payload(
        pb.SetPayloadPoints(payload=to_values.payload({"a": 1}), points_selector=sel, key="k")
    ) == {"payload": {"a": 1}, "points": [1], "key": "k"}
    assert from_point_ops.set_payload(pb.SetPayloadPoints(payload=to_values.payload({"a": 1}))) == {
        "payload": {"a": 1}
    }
    assert from_point_ops.delete_payload(
        pb.DeletePayloadPoints(keys=["a"], points_selector=sel)
    ) == {"keys": ["a"], "points": [1]}
    assert from_point_ops.delete_vectors(
        pb.DeletePointVectors(points_selector=sel, vectors=pb.VectorsSelector(names=["v"]))
    ) == {"points": [1], "vector": ["v"]}
    upd = pb.UpdatePointVectors(
        points=[
            pb.PointVectors(
                id=pb.PointId(num=2), vectors=RestToGrpc.convert_vector_struct({"v": [1.0]})
            )
        ]
    )
    assert from_point_ops.update_vectors(upd) == {"points": [{"id": 2, "vector": {"v": [1.0]}}]}


def test_read_bodies():
    get = pb.GetPoints(
        ids=[pb.PointId(num=1)],
        with_payload=pb.WithPayloadSelector(include=pb.PayloadIncludeSelector(fields=["a"])),
        with_vectors=pb.WithVectorsSelector(enable=True),
    )
    assert from_point_ops.get_points(get) == {
        "ids": [1],
        "with_payload": {"include": ["a"]},
        "with_vector": True,
    }
    assert from_point_ops.get_points(pb.GetPoints(ids=[pb.PointId(num=1)])) == {"ids": [1]}
    scroll = pb.ScrollPoints(
        filter=pb.Filter(),
        offset=pb.PointId(num=10),
        limit=5,
        order_by=pb.OrderBy(
            key="p", direction=pb.Direction.Desc, start_from=pb.StartFrom(integer=3)
        ),
    )
    assert from_point_ops.scroll_points(scroll) == {
        "filter": {},
        "offset": 10,
        "limit": 5,
        "order_by": {"key": "p", "direction": "desc", "start_from": 3},
    }
    assert from_point_ops.scroll_points(pb.ScrollPoints()) == {}
    assert from_point_ops.count_points(pb.CountPoints(exact=True)) == {"exact": True}


# -- facet -------------------------------------------------------------------------------------
def test_facet_request_body():
    flt = m.Filter(must=[m.FieldCondition(key="a", match=m.MatchValue(value=1))])
    req = pb.FacetCounts(
        collection_name="c", key="city", filter=RestToGrpc.convert_filter(flt), limit=5, exact=True
    )
    assert from_point_ops.facet_counts(wire(req)) == {
        "key": "city",
        "filter": rest_json(flt),
        "limit": 5,
        "exact": True,
    }
    assert from_point_ops.facet_counts(pb.FacetCounts(key="k")) == {"key": "k"}


def test_facet_response_keeps_value_kinds():
    hits = [("Berlin", 3), (7, 2), (True, 2), (False, 1), (-(2**63), 1), ("", 1)]
    msg = wire(to_responses.facet_response(hits, 0.5))
    assert [h.value.WhichOneof("variant") for h in msg.hits] == [
        "string_value",
        "integer_value",
        "bool_value",
        "bool_value",
        "integer_value",
        "string_value",
    ]
    over_grpc = [rest_json(GrpcToRest.convert_facet_value_hit(h)) for h in msg.hits]
    expected = [{"value": v, "count": n} for v, n in hits]
    assert all(same_typed(a, b) for a, b in zip(over_grpc, expected, strict=True))


# -- order_by ----------------------------------------------------------------------------------
ORDER_BYS = {
    "key_only": m.OrderBy(key="n"),
    "desc": m.OrderBy(key="n", direction=m.Direction.DESC),
    "asc_int": m.OrderBy(key="n", direction=m.Direction.ASC, start_from=3),
    "float": m.OrderBy(key="n", start_from=2.5),
    "datetime_text": m.OrderBy(key="d", start_from="2024-01-02T03:04:05Z"),
    "datetime": m.OrderBy(
        key="d", start_from=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    ),
}


@pytest.mark.parametrize("name", list(ORDER_BYS))
def test_order_by_parses_as_over_rest(name):
    order = ORDER_BYS[name]
    req = wire(pb.ScrollPoints(order_by=RestToGrpc.convert_order_by(order)))
    body = from_point_ops.scroll_points(req)
    assert request_fields.order_by(body["order_by"]) == request_fields.order_by(rest_json(order))


def test_order_by_start_from_kinds():
    def start(**kw):
        req = pb.ScrollPoints(order_by=pb.OrderBy(key="k", start_from=pb.StartFrom(**kw)))
        return from_point_ops.scroll_points(wire(req))["order_by"]["start_from"]

    assert same_typed(start(integer=-4), -4)
    assert same_typed(start(float=1.5), 1.5)
    assert start(datetime="2024-01-02") == "2024-01-02"
    ts = pb.StartFrom().timestamp
    ts.FromJsonString("2024-01-02T03:04:05.250Z")
    stamp = start(timestamp=ts)
    assert parse_datetime(stamp) == parse_datetime("2024-01-02T03:04:05.250Z")
    # no direction: left for the shared parser's default
    req = pb.ScrollPoints(order_by=pb.OrderBy(key="k"))
    assert from_point_ops.scroll_points(req) == {"order_by": {"key": "k"}}


@pytest.mark.parametrize("value", [3.0, -2.0, 0.0, 2.5, 1.7e18, -1e-9, 3, -2, 0, 2**62])
def test_order_value_reads_back_as_over_rest(value):
    config = _config({"size": 1, "distance": "Dot"})
    record = PointRecord(1, 0, payload={"n": value}, order_value=value)
    msg = wire(to_records.retrieved_point(config, record))
    assert msg.HasField("order_value")
    over_grpc = rest_json(GrpcToRest.convert_retrieved_point(msg))
    over_rest = rest_json(m.Record.model_validate(record_json(config, record)))
    assert same_typed(over_grpc["order_value"], over_rest["order_value"])
    # records that were not ordered have none
    plain = wire(to_records.retrieved_point(config, PointRecord(1, 0)))
    assert not plain.HasField("order_value")


def test_order_value_beyond_int64_stays_a_float():
    assert to_records.order_value(1e300) == pb.OrderValue(float=1e300)
    assert to_records.order_value(-(2**63)) == pb.OrderValue(int=-(2**63))
    assert to_records.order_value(2**63) == pb.OrderValue(float=2.0**63)  # beyond int64
    # integer and datetime keys order by ints, float keys by floats, even whole ones
    assert to_records.order_value(5) == pb.OrderValue(int=5)
    assert to_records.order_value(1.0) == pb.OrderValue(float=1.0)
