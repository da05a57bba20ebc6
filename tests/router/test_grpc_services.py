"""The gRPC services without a server: RPCs that call the table of contents as the REST
handlers do, the error kinds mapped to status codes with the REST text, and the read
consistency a request names reaching the RPC body."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from qdrant_client import grpc as pb
from qdrant_client.http import models as m

from node.errors import (
    AlreadyExists,
    BadRequest,
    FormatError,
    NotFound,
    Timeout,
    ValidationFailed,
    WrongInput,
)
from node.shard_config import ShardConfig
from node.shard_search import PointRecord
from router.api.grpc.services import PointsService, rpc, status_of
from tests.router.grpc_conversions_support import INDEX_SCHEMAS, _create_index_request, rest_json


# -- services without a server -----------------------------------------------------------------
class _FakeCollection:
    shard_config = ShardConfig.from_collection(
        {"params": {"vectors": {"size": 1, "distance": "Dot"}, "shard_number": 1}}
    )
    strict = None  # strict mode off

    def __init__(self):
        self.calls = []

    def scoped(self, selector):
        assert selector is None  # these requests name no shard key
        return self

    def facet(self, key, filter_, limit):
        self.calls.append(("facet", key, filter_, limit))
        return [("x", 2), (5, 1)]

    def scroll_ordered(self, filter_, order_by, limit, wp, wv):
        self.calls.append(("scroll_ordered", filter_, order_by, limit))
        return [PointRecord(2, 0, payload={}, order_value=1)]

    def scroll(self, filter_, offset, limit, wp, wv):
        self.calls.append(("scroll", filter_, offset, limit))
        return [PointRecord(2, 0, payload={})], 3


class _FakeToc:
    def __init__(self):
        self.calls = []
        self.collection = _FakeCollection()

    def get(self, name):
        return self.collection

    def create_payload_index(self, name, field, schema):
        self.calls.append(("create", name, field, schema))
        return 7

    def delete_payload_index(self, name, field):
        self.calls.append(("delete", name, field))
        return 8


def test_index_rpcs_call_the_toc_like_rest():
    toc = _FakeToc()
    service = _Blocking(PointsService(toc))
    schema = INDEX_SCHEMAS["integer_params"]
    reply = service.CreateFieldIndex(_create_index_request(schema, wait=True), FakeContext())
    assert reply.result.operation_id == 7
    assert reply.result.status == pb.UpdateStatus.Completed
    reply = service.CreateFieldIndex(
        _create_index_request(m.PayloadSchemaType.KEYWORD), FakeContext()
    )
    assert reply.result.status == pb.UpdateStatus.Acknowledged
    reply = service.DeleteFieldIndex(
        pb.DeleteFieldIndexCollection(collection_name="c", field_name="f"), FakeContext()
    )
    assert reply.result.operation_id == 8
    assert toc.calls == [
        ("create", "c", "f", {**rest_json(schema), "_given_as_object": True}),
        ("create", "c", "f", {"type": "keyword"}),
        ("delete", "c", "f"),
    ]
    ctx = FakeContext()
    with pytest.raises(_Aborted):
        service.CreateFieldIndex(pb.CreateFieldIndexCollection(field_name="f"), ctx)
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        ctx.details == "Bad request: Can't auto-detect field type for `f`: field_schema is required"
    )


def test_facet_and_ordered_scroll_rpcs():
    toc = _FakeToc()
    service = _Blocking(PointsService(toc))
    reply = service.Facet(pb.FacetCounts(collection_name="c", key="k", limit=3), FakeContext())
    assert [(h.value.string_value or h.value.integer_value, h.count) for h in reply.hits] == [
        ("x", 2),
        (5, 1),
    ]
    ctx = FakeContext()
    with pytest.raises(_Aborted):
        service.Facet(pb.FacetCounts(collection_name="c", key="k", limit=0), ctx)
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT

    order = pb.OrderBy(key="n", direction=pb.Direction.Desc, start_from=pb.StartFrom(integer=4))
    reply = service.Scroll(pb.ScrollPoints(collection_name="c", order_by=order), FakeContext())
    assert [p.order_value.int for p in reply.result] == [1]
    assert not reply.HasField("next_page_offset")
    ctx = FakeContext()
    with pytest.raises(_Aborted):
        service.Scroll(
            pb.ScrollPoints(collection_name="c", order_by=order, offset=pb.PointId(num=1)), ctx
        )
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT
    assert ctx.details == (
        "Bad request: Can't use `offset` with `order_by`, use `start_from` instead"
    )
    reply = service.Scroll(pb.ScrollPoints(collection_name="c", limit=1), FakeContext())
    assert reply.next_page_offset.num == 3 and not reply.result[0].HasField("order_value")
    assert toc.collection.calls == [
        ("facet", "k", None, 3),
        ("scroll_ordered", None, {"key": "n", "direction": "desc", "start_from": 4}, 10),
        ("scroll", None, None, 1),
    ]


# -- errors ------------------------------------------------------------------------------------
class _Aborted(Exception):
    pass


class FakeContext:
    async def abort(self, code, details):
        self.code, self.details = code, details
        raise _Aborted()


class _Blocking:
    """A servicer's RPCs (coroutines on the server's loop) called as plain functions."""

    def __init__(self, service) -> None:
        self._service = service

    def __getattr__(self, name):
        method = getattr(self._service, name)
        return lambda request, context: asyncio.run(method(request, context))


@pytest.mark.parametrize(
    "exc, code",
    [
        (NotFound("Collection `x` doesn't exist!"), grpc.StatusCode.NOT_FOUND),
        (
            WrongInput("Vector dimension error: expected dim: 3, got 2"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (BadRequest("nope"), grpc.StatusCode.INVALID_ARGUMENT),
        (FormatError("bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (
            ValidationFailed("[limit: value 0 invalid, must be 1 or larger]"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (AlreadyExists("Collection `x` already exists!"), grpc.StatusCode.ALREADY_EXISTS),
        (Timeout("took too long"), grpc.StatusCode.DEADLINE_EXCEEDED),
    ],
)
def test_error_kinds_map_to_status_codes_with_the_rest_text(exc, code):
    class Service:
        @rpc
        def Method(self, request, context):  # a blocking body, run in the worker pool
            raise exc

        @rpc
        async def Coroutine(self, request, context):  # a body awaited on the loop
            raise exc

    for method in ("Method", "Coroutine"):
        ctx = FakeContext()
        with pytest.raises(_Aborted):
            getattr(_Blocking(Service()), method)(None, ctx)
        assert ctx.code == code == status_of(exc)
        assert ctx.details == exc.message


def test_unexpected_exception_is_internal():
    class Service:
        @rpc
        def Method(self, request, context):
            raise RuntimeError("boom")

    ctx = FakeContext()
    with pytest.raises(_Aborted):
        _Blocking(Service()).Method(None, ctx)
    assert ctx.code == grpc.StatusCode.INTERNAL and "boom" in ctx.details


def test_read_consistency_reaches_blocking_and_coroutine_bodies_and_is_reset():
    from router.collection import read_consistency

    class Service:
        @rpc
        def Blocking(self, request, context):  # runs in the loop's worker pool
            return read_consistency.current.get()

        @rpc
        async def Awaited(self, request, context):  # runs on the loop itself
            return read_consistency.current.get()

    majority = pb.QueryPoints(
        collection_name="c",
        read_consistency=pb.ReadConsistency(type=pb.ReadConsistencyType.Majority),
    )
    factor = pb.QueryPoints(collection_name="c", read_consistency=pb.ReadConsistency(factor=2))

    async def calls():
        service = Service()
        out = []
        for name in ("Blocking", "Awaited"):
            method = getattr(service, name)
            out.append((
                await method(majority, FakeContext()),
                await method(factor, FakeContext()),
                await method(pb.QueryPoints(collection_name="c"), FakeContext()),
            ))
        return out, read_consistency.current.get()

    (blocking, awaited), after = asyncio.run(calls())
    default = read_consistency.current.get()
    assert blocking == awaited == ("majority", 2, default)
    assert after == default  # nothing leaks into the loop's context
