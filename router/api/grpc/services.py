"""Qdrant's gRPC services (qdrant.Collections, qdrant.Points, qdrant.Qdrant; qdrant.Snapshots is
``router.api.grpc.snapshots``) as a thin face over the table of contents and the collections.

Each RPC does what the matching REST handler does, with the same shared functions: convert the
request into the REST body (``from_grpc``), turn that body into the internal operation or query
(``router.operations``, ``router.query``, ``TableOfContent``), run it on the collection, and convert
the result back (``to_grpc``). Errors are the shared error kinds, mapped to status codes the way
Qdrant maps them, with the REST error text as details. The query and search RPCs are coroutines on
the gRPC server's event loop (no blocking calls there); every other RPC body runs in its worker
pool, so blocking calls are fine in those.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

import grpc

from node.errors import (
    AlreadyExists,
    BadRequest,
    Forbidden,
    FormatError,
    NotFound,
    RateLimited,
    ServiceError,
    TesseraError,
    Timeout,
    ValidationFailed,
    WrongInput,
)
from router.api import deadlines
from router.api.access import FULL
from router.api.grpc import from_grpc, to_grpc
from router.api.grpc.messages import pb
from router.api.internal_errors import internal_error_message
from router.cluster import shard_ops, vector_name_ops
from router.collection import read_consistency
from router.collection.collection import UpdateResult
from router.operations import reads, updates
from router.query import engine as query_engine
from router.query import groups as grouping
from router.query import legacy, matrix, stages
from router.query import requests as query_requests
from router.version import TITLE, VERSION, commit

STATUS_OF: dict[type, grpc.StatusCode] = {
    NotFound: grpc.StatusCode.NOT_FOUND,
    WrongInput: grpc.StatusCode.INVALID_ARGUMENT,
    BadRequest: grpc.StatusCode.INVALID_ARGUMENT,
    FormatError: grpc.StatusCode.INVALID_ARGUMENT,
    ValidationFailed: grpc.StatusCode.INVALID_ARGUMENT,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    Timeout: grpc.StatusCode.DEADLINE_EXCEEDED,
    Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ServiceError: grpc.StatusCode.INTERNAL,
}


def status_of(exc: TesseraError) -> grpc.StatusCode:
    for kind in type(exc).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return grpc.StatusCode.INTERNAL


class Unimplemented(Exception):
    """An RPC of Qdrant's API that Tessera does not serve (yet): UNIMPLEMENTED."""


def rpc(method: Callable) -> Callable:
    """Serve one RPC on the server's event loop. A coroutine body is awaited there; any other
    body may block, so it runs in the loop's worker pool. Shared error kinds become their status
    code with ``.message`` as details."""
    is_coroutine = inspect.iscoroutinefunction(method)

    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            if getattr(self, "strict_timeouts", False):
                _strict_timeout(self.toc, request)
            if is_coroutine:
                return await _with_consistency(method, self, request, context)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                None, _call_blocking, method, self, request, context
            )
        except TesseraError as exc:
            await context.abort(status_of(exc), exc.message)
        except Unimplemented as exc:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, str(exc))
        except Exception as exc:
            where = f"gRPC {method.__name__}"
            await context.abort(grpc.StatusCode.INTERNAL, internal_error_message(exc, where))

    return wrapper


async def _with_consistency(method: Callable, self, request, context):
    consistency = _read_consistency(request)
    if consistency is None:
        return await method(self, request, context)
    token = read_consistency.current.set(consistency)
    try:
        return await method(self, request, context)
    finally:
        read_consistency.current.reset(token)


def _call_blocking(method: Callable, self, request, context):
    consistency = _read_consistency(request)
    if consistency is None:
        return method(self, request, context)
    token = read_consistency.current.set(consistency)  # reset: a worker serves many requests
    try:
        return method(self, request, context)
    finally:
        read_consistency.current.reset(token)


_CONSISTENCY_TYPES = {pb.ReadConsistencyType.All: "all", pb.ReadConsistencyType.Majority:
                      "majority", pb.ReadConsistencyType.Quorum: "quorum"}


def _read_consistency(request) -> int | str | None:
    """A read request's ``read_consistency`` (ReadConsistency: a type or a factor)."""
    try:
        if not request.HasField("read_consistency"):
            return None
    except (ValueError, AttributeError):  # the message has no such field
        return None
    value = request.read_consistency
    if value.WhichOneof("value") == "factor":
        return max(1, value.factor)
    return _CONSISTENCY_TYPES.get(value.type)


def _strict_timeout(toc, request) -> None:
    """Strict mode's max_timeout, for the points requests that carry a timeout."""
    try:
        if not request.HasField("timeout"):
            return
    except ValueError:  # a message without a timeout field
        return
    collection = toc.get(request.collection_name)
    if collection.strict is not None:
        collection.strict.check_timeout(request.timeout)


def _since(started: float) -> float:
    return time.perf_counter() - started


def _within(request, work):
    """Qdrant's ``timeout`` field of a search request (seconds), when set."""
    timeout = float(request.timeout) if request.HasField("timeout") else None
    return deadlines.within(timeout, "Search", work)


def _schema_change(operation_id: int, request, started: float) -> pb.PointsOperationResponse:
    """The answer of a payload index or named vector change: the operation id, completed
    when the client waited."""
    status = "completed" if from_grpc.wait(request) else "acknowledged"
    return to_grpc.points_operation_response(UpdateResult(operation_id, status),
                                             _since(started))


class CollectionsService(pb.CollectionsServicer):
    """qdrant.Collections: what GET/PUT/PATCH/DELETE /collections… and /aliases do."""

    def __init__(self, toc) -> None:
        self.toc = toc

    @rpc
    def List(self, request: pb.ListCollectionsRequest, context) -> pb.ListCollectionsResponse:
        started = time.perf_counter()
        names = getattr(context, "access", FULL).visible(self.toc.list_names())
        return to_grpc.list_collections_response(names, _since(started))

    @rpc
    def Get(self, request: pb.GetCollectionInfoRequest, context) -> pb.GetCollectionInfoResponse:
        started = time.perf_counter()
        info = self.toc.get(request.collection_name).info()
        return to_grpc.collection_info_response(info, _since(started))

    @rpc
    def Create(self, request: pb.CreateCollection, context) -> pb.CollectionOperationResponse:
        started = time.perf_counter()
        name, body = from_grpc.create_collection(request)
        result = self.toc.create_collection(name, body)
        return to_grpc.collection_operation_response(result, _since(started))

    @rpc
    def Update(self, request: pb.UpdateCollection, context) -> pb.CollectionOperationResponse:
        started = time.perf_counter()
        name, body = from_grpc.update_collection(request)
        result = self.toc.update_collection(name, body)
        return to_grpc.collection_operation_response(result, _since(started))

    @rpc
    def Delete(self, request: pb.DeleteCollection, context) -> pb.CollectionOperationResponse:
        started = time.perf_counter()
        result = self.toc.delete_collection(request.collection_name)
        return to_grpc.collection_operation_response(result, _since(started))

    @rpc
    def UpdateAliases(self, request: pb.ChangeAliases, context) -> pb.CollectionOperationResponse:
        started = time.perf_counter()
        result = self.toc.change_aliases(from_grpc.alias_actions(request))
        return to_grpc.collection_operation_response(result, _since(started))

    @rpc
    def ListCollectionAliases(
        self, request: pb.ListCollectionAliasesRequest, context
    ) -> pb.ListAliasesResponse:
        started = time.perf_counter()
        aliases = self.toc.aliases(request.collection_name)
        return to_grpc.aliases_response(aliases, _since(started))

    @rpc
    def ListAliases(self, request: pb.ListAliasesRequest, context) -> pb.ListAliasesResponse:
        started = time.perf_counter()
        access = getattr(context, "access", FULL)
        aliases = [a for a in self.toc.aliases() if access.sees(a["collection_name"])]
        return to_grpc.aliases_response(aliases, _since(started))

    @rpc
    def CollectionExists(
        self, request: pb.CollectionExistsRequest, context
    ) -> pb.CollectionExistsResponse:
        started = time.perf_counter()
        exists = self.toc.exists(request.collection_name)
        return to_grpc.collection_exists_response(exists, _since(started))

    # -- cluster ----------------------------------------------------------------------------
    @rpc
    def CollectionClusterInfo(
        self, request: pb.CollectionClusterInfoRequest, context
    ) -> pb.CollectionClusterInfoResponse:
        started = time.perf_counter()
        info = self.toc.collection_cluster_info(request.collection_name)
        return to_grpc.collection_cluster_info_response(info, _since(started))

    @rpc
    def CreateShardKey(
        self, request: pb.CreateShardKeyRequest, context
    ) -> pb.CreateShardKeyResponse:
        started = time.perf_counter()
        body = from_grpc.create_shard_key(request.request)
        timeout = float(request.timeout) if request.HasField("timeout") else 30.0
        result = self.toc.create_shard_key(request.collection_name, body, timeout)
        return pb.CreateShardKeyResponse(result=result, time=_since(started))

    @rpc
    def DeleteShardKey(
        self, request: pb.DeleteShardKeyRequest, context
    ) -> pb.DeleteShardKeyResponse:
        started = time.perf_counter()
        body = {"shard_key": from_grpc.shard_key(request.request.shard_key)}
        result = self.toc.drop_shard_key(request.collection_name, body)
        return pb.DeleteShardKeyResponse(result=result, time=_since(started))

    @rpc
    def ListShardKeys(self, request: pb.ListShardKeysRequest, context) -> pb.ListShardKeysResponse:
        started = time.perf_counter()
        keys = self.toc.shard_keys(request.collection_name)["shard_keys"] or []
        return pb.ListShardKeysResponse(
            shard_keys=[pb.ShardKeyDescription(key=to_grpc.shard_key(k["key"])) for k in keys],
            time=_since(started),
        )

    @rpc
    def UpdateCollectionClusterSetup(
        self, request: pb.UpdateCollectionClusterSetupRequest, context
    ) -> pb.UpdateCollectionClusterSetupResponse:
        started = time.perf_counter()
        key, body = from_grpc.cluster_operation(request)
        result = shard_ops.update_cluster(self.toc, request.collection_name, {key: body})
        return pb.UpdateCollectionClusterSetupResponse(result=result, time=_since(started))


_ORDERINGS = {pb.WriteOrderingType.Weak: "weak", pb.WriteOrderingType.Medium: "medium",
              pb.WriteOrderingType.Strong: "strong"}


def _ordering(request) -> str:
    """A write's ordering (weak when not given)."""
    if not request.HasField("ordering"):
        return "weak"
    return _ORDERINGS.get(request.ordering.type, "weak")


class PointsService(pb.PointsServicer):
    """qdrant.Points: what the /collections/{name}/points… endpoints do."""

    strict_timeouts = True  # a request's `timeout` is held to strict mode's max_timeout

    def __init__(self, toc) -> None:
        self.toc = toc

    # -- writes ------------------------------------------------------------------------------
    def _write(self, request, build: Callable[[Any], dict]) -> pb.PointsOperationResponse:
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        op = build(collection)
        result = collection.update(op, from_grpc.wait(request), _ordering(request))
        return to_grpc.points_operation_response(result, _since(started))

    @rpc
    def Upsert(self, request: pb.UpsertPoints, context) -> pb.PointsOperationResponse:
        return self._write(
            request, lambda c: updates.upsert_op(c.shard_config, from_grpc.upsert_points(request))
        )

    @rpc
    def Delete(self, request: pb.DeletePoints, context) -> pb.PointsOperationResponse:
        return self._write(request, lambda c: updates.delete_op(from_grpc.delete_points(request)))

    @rpc
    def UpdateVectors(self, request: pb.UpdatePointVectors, context) -> pb.PointsOperationResponse:
        return self._write(
            request,
            lambda c: updates.update_vectors_op(c.shard_config, from_grpc.update_vectors(request)),
        )

    @rpc
    def DeleteVectors(self, request: pb.DeletePointVectors, context) -> pb.PointsOperationResponse:
        return self._write(
            request,
            lambda c: updates.delete_vectors_op(c.shard_config, from_grpc.delete_vectors(request)),
        )

    @rpc
    def SetPayload(self, request: pb.SetPayloadPoints, context) -> pb.PointsOperationResponse:
        return self._write(
            request, lambda c: updates.set_payload_op(from_grpc.set_payload(request), "set_payload")
        )

    @rpc
    def OverwritePayload(self, request: pb.SetPayloadPoints, context) -> pb.PointsOperationResponse:
        return self._write(
            request,
            lambda c: updates.set_payload_op(from_grpc.set_payload(request), "overwrite_payload"),
        )

    @rpc
    def DeletePayload(self, request: pb.DeletePayloadPoints, context) -> pb.PointsOperationResponse:
        return self._write(
            request, lambda c: updates.delete_payload_op(from_grpc.delete_payload(request))
        )

    @rpc
    def ClearPayload(self, request: pb.ClearPayloadPoints, context) -> pb.PointsOperationResponse:
        return self._write(
            request, lambda c: updates.clear_payload_op(from_grpc.clear_payload(request))
        )

    @rpc
    def UpdateBatch(self, request: pb.UpdateBatchPoints, context) -> pb.UpdateBatchResponse:
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        body = from_grpc.update_batch(request)
        ops = updates.batch_ops(collection, body["operations"])
        results = collection.update_batch(ops, from_grpc.wait(request), _ordering(request))
        return to_grpc.update_batch_response(results, _since(started))

    # -- reads -------------------------------------------------------------------------------
    @rpc
    def Get(self, request: pb.GetPoints, context) -> pb.GetResponse:
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        records = reads.retrieve(collection, from_grpc.get_points(request))
        return to_grpc.get_response(collection.shard_config, records, _since(started))

    @rpc
    def Scroll(self, request: pb.ScrollPoints, context) -> pb.ScrollResponse:
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        records, next_offset = reads.scroll(collection, from_grpc.scroll_points(request))
        return to_grpc.scroll_response(
            collection.shard_config, records, next_offset, _since(started)
        )

    @rpc
    def Count(self, request: pb.CountPoints, context) -> pb.CountResponse:
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        count = reads.count(collection, from_grpc.count_points(request))
        return to_grpc.count_response(count, _since(started))

    @rpc
    async def Query(self, request: pb.QueryPoints, context) -> pb.QueryResponse:
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        query = query_requests.parse_query(from_grpc.query_points(request))
        results = await _within(request, query_requests.run_queries_async(
            collection, [query], self.toc))
        return to_grpc.query_response(collection.shard_config, results[0], _since(started))

    @rpc
    async def QueryBatch(self, request: pb.QueryBatchPoints, context) -> pb.QueryBatchResponse:
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        body = from_grpc.query_batch(request)
        queries = [query_requests.parse_query(s) for s in body["searches"]]
        results = await _within(request, query_requests.run_queries_async(
            collection, queries, self.toc))
        return to_grpc.query_batch_response(collection.shard_config, results, _since(started))

    @rpc
    async def Search(self, request: pb.SearchPoints, context) -> pb.SearchResponse:
        """Deprecated SearchPoints: the nearest-neighbour query it stands for."""
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        query = query_requests.parse_query(from_grpc.search_points(request))
        results = await _within(request, query_requests.run_queries_async(
            collection, [query], self.toc))
        return to_grpc.search_response(collection.shard_config, results[0], _since(started))

    @rpc
    async def SearchBatch(self, request: pb.SearchBatchPoints, context) -> pb.SearchBatchResponse:
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        queries = [
            query_requests.parse_query(from_grpc.search_points(s)) for s in request.search_points
        ]
        results = await _within(request, query_requests.run_queries_async(
            collection, queries, self.toc))
        return to_grpc.search_batch_response(collection.shard_config, results, _since(started))

    @rpc
    def Facet(self, request: pb.FacetCounts, context) -> pb.FacetResponse:
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        hits = reads.facet(collection, from_grpc.facet_counts(request))
        return to_grpc.facet_response(hits, _since(started))

    # -- payload indexes (PUT / DELETE /collections/{name}/index) ------------------------------
    @rpc
    def CreateFieldIndex(
        self, request: pb.CreateFieldIndexCollection, context
    ) -> pb.PointsOperationResponse:
        started = time.perf_counter()
        name, body = from_grpc.create_field_index(request)
        operation_id = self.toc.create_payload_index(name, *updates.field_index(body))
        return _schema_change(operation_id, request, started)

    @rpc
    def DeleteFieldIndex(
        self, request: pb.DeleteFieldIndexCollection, context
    ) -> pb.PointsOperationResponse:
        started = time.perf_counter()
        name, field = from_grpc.delete_field_index(request)
        return _schema_change(self.toc.delete_payload_index(name, field), request, started)

    @rpc  # named vectors: PUT / DELETE /collections/{name}/vectors/{vector_name}
    def CreateVectorName(
        self, request: pb.CreateVectorNameRequest, context
    ) -> pb.PointsOperationResponse:
        started = time.perf_counter()
        operation_id = vector_name_ops.create_vector_name(
            self.toc, request.collection_name, request.vector_name,
            from_grpc.vector_name_config(request))
        return _schema_change(operation_id, request, started)

    @rpc
    def DeleteVectorName(
        self, request: pb.DeleteVectorNameRequest, context
    ) -> pb.PointsOperationResponse:
        started = time.perf_counter()
        operation_id = vector_name_ops.delete_vector_name(
            self.toc, request.collection_name, request.vector_name)
        return _schema_change(operation_id, request, started)

    # -- groups, distance matrix -----------------------------------------------------------
    def _groups(self, collection, req) -> pb.GroupsResult:
        ctx = query_engine.Context(collection, self.toc)
        found = grouping.run_groups(ctx, req)
        lookup_cfg = None
        if req.with_lookup is not None:
            lookup_cfg = self.toc.get(req.with_lookup["collection"]).shard_config
        return to_grpc.groups_result(collection.shard_config, found, lookup_cfg)

    @rpc
    def QueryGroups(self, request: pb.QueryPointGroups, context) -> pb.QueryGroupsResponse:
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        body = from_grpc.query_point_groups(request)
        req = grouping.parse_group_fields(
            body, stages.parse_request(body), "internal.", required=False
        )
        collection = reads.scoped(collection, body)
        return pb.QueryGroupsResponse(result=self._groups(collection, req), time=_since(started))

    @rpc
    def SearchGroups(self, request: pb.SearchPointGroups, context) -> pb.SearchGroupsResponse:
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        body = from_grpc.search_point_groups(request)
        req = legacy.search_groups(body)
        collection = reads.scoped(collection, body)
        return pb.SearchGroupsResponse(result=self._groups(collection, req), time=_since(started))

    @rpc
    def RecommendGroups(
        self, request: pb.RecommendPointGroups, context
    ) -> pb.RecommendGroupsResponse:
        started = time.perf_counter()
        collection = self.toc.get(request.collection_name)
        body = from_grpc.recommend_point_groups(request)
        req = legacy.recommend_groups(body)
        collection = reads.scoped(collection, body)
        return pb.RecommendGroupsResponse(
            result=self._groups(collection, req), time=_since(started)
        )

    def _matrix(self, request: pb.SearchMatrixPoints):
        body = from_grpc.search_matrix_points(request)
        collection = reads.scoped(self.toc.get(request.collection_name), body)
        return matrix.compute(collection, matrix.parse_matrix(body))

    @rpc
    def SearchMatrixPairs(
        self, request: pb.SearchMatrixPoints, context
    ) -> pb.SearchMatrixPairsResponse:
        started = time.perf_counter()
        return to_grpc.matrix_pairs_response(self._matrix(request), _since(started))

    @rpc
    def SearchMatrixOffsets(
        self, request: pb.SearchMatrixPoints, context
    ) -> pb.SearchMatrixOffsetsResponse:
        started = time.perf_counter()
        return to_grpc.matrix_offsets_response(self._matrix(request), _since(started))

    # -- legacy recommend / discover (deprecated RPCs, Qdrant 1.12 semantics) --------------------
    def _legacy(self, name: str, bodies: list, parse) -> tuple:
        collection = self.toc.get(name)
        queries = [parse(b) for b in bodies]
        return collection, query_requests.run_queries(collection, queries, self.toc)

    @rpc
    def Recommend(self, request: pb.RecommendPoints, context) -> pb.RecommendResponse:
        started = time.perf_counter()
        c, rs = self._legacy(
            request.collection_name, [from_grpc.recommend_points(request)], legacy.recommend
        )
        return pb.RecommendResponse(
            result=to_grpc.scored_points(c.shard_config, rs[0]), time=_since(started)
        )

    @rpc
    def RecommendBatch(
        self, request: pb.RecommendBatchPoints, context
    ) -> pb.RecommendBatchResponse:
        started = time.perf_counter()
        bodies = [from_grpc.recommend_points(r) for r in request.recommend_points]
        c, rs = self._legacy(request.collection_name, bodies, legacy.recommend)
        return pb.RecommendBatchResponse(
            result=to_grpc.batch_results(c.shard_config, rs), time=_since(started)
        )

    @rpc
    def Discover(self, request: pb.DiscoverPoints, context) -> pb.DiscoverResponse:
        started = time.perf_counter()
        c, rs = self._legacy(
            request.collection_name, [from_grpc.discover_points(request)], legacy.discover
        )
        return pb.DiscoverResponse(
            result=to_grpc.scored_points(c.shard_config, rs[0]), time=_since(started)
        )

    @rpc
    def DiscoverBatch(self, request: pb.DiscoverBatchPoints, context) -> pb.DiscoverBatchResponse:
        started = time.perf_counter()
        bodies = [from_grpc.discover_points(r) for r in request.discover_points]
        c, rs = self._legacy(request.collection_name, bodies, legacy.discover)
        return pb.DiscoverBatchResponse(
            result=to_grpc.batch_results(c.shard_config, rs), time=_since(started)
        )


class QdrantService(pb.QdrantServicer):
    """qdrant.Qdrant: HealthCheck, the gRPC twin of GET /."""

    @rpc
    def HealthCheck(self, request: pb.HealthCheckRequest, context) -> pb.HealthCheckReply:
        return to_grpc.health_check_reply(TITLE, VERSION, commit())
