"""Points endpoints: writes, retrieval, scroll, count and the universal query.

Bodies are parsed with orjson into internal operations (``router.operations``, ``router.query``);
blocking work runs in the thread pool and searches are awaited from the shards' batchers, so the
event loop never waits on a lock, FAISS or fsync. The hot paths (query, query batch, upsert) are
plain functions of the raw body, which ``router.api.rest.front`` also calls without FastAPI in
between.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from node.errors import FormatError, NotFound
from node.ids import parse_point_id
from router.api.rest import parsing
from router.api.rest.responses import ok
from router.api.rest.serialize import groups_json, record_json, scored_json
from router.collection.collection import Collection, UpdateResult
from router.operations import fields, reads, updates
from router.query import engine as query_engine
from router.query import groups as grouping
from router.query import legacy, matrix, stages
from router.query import requests as query_requests

router = APIRouter()


def _within(request: Request, operation: str, work):
    return parsing.within(request.query_params, operation, work)


def _collection(request: Request, name: str) -> Collection:
    return request.app.state.toc.get(name)


def _update_json(result: UpdateResult) -> dict:
    return {"operation_id": result.operation_id, "status": result.status}


async def _write(request: Request, name: str, build) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = fields.obj(await parsing.json_body(request), "request")
    wait = parsing.wait_param(request)
    ordering = parsing.ordering_param(request)
    op = build(collection, body)
    result = await run_in_threadpool(collection.update, op, wait, ordering)
    return ok(_update_json(result), started)


async def upsert_result(toc, name: str, raw: bytes, params) -> dict:
    collection = toc.get(name)
    body = fields.obj(parsing.parse_json(raw), "PointInsertOperations")
    wait = parsing.wait_value(params)
    ordering = parsing.ordering_value(params)
    op = updates.upsert_op(collection.shard_config, body)
    return _update_json(await run_in_threadpool(collection.update, op, wait, ordering))


@router.put("/collections/{name}/points")
async def upsert_points(name: str, request: Request) -> Response:
    started = time.perf_counter()
    result = await upsert_result(
        request.app.state.toc, name, await parsing.raw_body(request), request.query_params
    )
    return ok(result, started)


@router.post("/collections/{name}/points/delete")
async def delete_points(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: updates.delete_op(b))


@router.put("/collections/{name}/points/vectors")
async def update_vectors(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: updates.update_vectors_op(c.shard_config, b))


@router.post("/collections/{name}/points/vectors/delete")
async def delete_vectors(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: updates.delete_vectors_op(c.shard_config, b))


@router.post("/collections/{name}/points/payload")
async def set_payload(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: updates.set_payload_op(b, "set_payload"))


@router.put("/collections/{name}/points/payload")
async def overwrite_payload(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: updates.set_payload_op(b, "overwrite_payload"))


@router.post("/collections/{name}/points/payload/delete")
async def delete_payload(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: updates.delete_payload_op(b))


@router.post("/collections/{name}/points/payload/clear")
async def clear_payload(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: updates.clear_payload_op(b))


@router.post("/collections/{name}/points/batch")
async def batch_update(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = fields.obj(await parsing.json_body(request), "UpdateOperations")
    wait = parsing.wait_param(request)
    ordering = parsing.ordering_param(request)
    ops = updates.batch_ops(collection, body.get("operations"))
    results = await run_in_threadpool(collection.update_batch, ops, wait, ordering)
    return ok([_update_json(r) for r in results], started)


@router.post("/collections/{name}/points")
async def retrieve_points(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = fields.obj(await parsing.json_body(request), "PointRequest")
    records = await _within(request, "Retrieve",
                            run_in_threadpool(reads.retrieve, collection, body))
    cfg = collection.shard_config
    return ok([record_json(cfg, r) for r in records], started)


@router.get("/collections/{name}/points/{point_id}")
async def get_point(name: str, point_id: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    pid: Any = int(point_id) if point_id.isdigit() else point_id
    pid = parse_point_id(pid)
    reads.strict_read(collection, None, None)
    records = await _within(request, "Retrieve",
                            run_in_threadpool(collection.retrieve, [pid], True, True))
    if not records:
        raise NotFound(f"No point with id {pid} found")
    return ok(record_json(collection.shard_config, records[0]), started)


@router.post("/collections/{name}/points/scroll")
async def scroll_points(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = fields.obj(await parsing.json_body(request, required=False), "ScrollRequest")
    records, next_offset = await _within(request, "Scroll",
                                         run_in_threadpool(reads.scroll, collection, body))
    cfg = collection.shard_config
    return ok(
        {"points": [record_json(cfg, r) for r in records], "next_page_offset": next_offset},
        started,
    )


@router.post("/collections/{name}/facet")
async def facet(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = fields.obj(await parsing.json_body(request), "FacetRequest")
    hits = await _within(request, "Facet", run_in_threadpool(reads.facet, collection, body))
    return ok({"hits": [{"value": v, "count": n} for v, n in hits]}, started)


@router.post("/collections/{name}/points/count")
async def count_points(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = fields.obj(await parsing.json_body(request, required=False), "CountRequest")
    count = await _within(request, "Count", run_in_threadpool(reads.count, collection, body))
    return ok({"count": count}, started)


def _strict_timeout(collection: Collection, params) -> None:
    """Strict mode's max_timeout, for the requests that carry a ``timeout`` parameter."""
    if collection.strict is not None and params and params.get("timeout"):
        raw = params["timeout"]
        if raw.isdigit():
            collection.strict.check_timeout(int(raw))


async def query_result(toc, name: str, raw: bytes, params=None) -> dict:
    collection = toc.get(name)
    _strict_timeout(collection, params)
    query = query_requests.parse_query(parsing.parse_json(raw))
    results = await query_requests.run_queries_async(collection, [query], toc)
    cfg = collection.shard_config
    return {"points": [scored_json(cfg, r) for r in results[0]]}


async def query_batch_result(toc, name: str, raw: bytes, params=None) -> list:
    collection = toc.get(name)
    _strict_timeout(collection, params)
    body = fields.obj(parsing.parse_json(raw), "QueryRequestBatch")
    searches = body.get("searches")
    if not isinstance(searches, list):
        raise FormatError("missing field `searches`")
    queries = [query_requests.parse_query(s) for s in searches]
    results = await query_requests.run_queries_async(collection, queries, toc)
    cfg = collection.shard_config
    return [{"points": [scored_json(cfg, r) for r in rs]} for rs in results]


@router.post("/collections/{name}/points/query")
async def query_points(name: str, request: Request) -> Response:
    started = time.perf_counter()
    raw = await parsing.raw_body(request)
    return ok(await _within(request, "Search", query_result(
        request.app.state.toc, name, raw, request.query_params)),
              started)


@router.post("/collections/{name}/points/query/batch")
async def query_batch(name: str, request: Request) -> Response:
    started = time.perf_counter()
    raw = await parsing.raw_body(request)
    return ok(await _within(request, "Search", query_batch_result(
        request.app.state.toc, name, raw, request.query_params)), started)


# -- legacy search (Qdrant <= 1.12; older clients and many integrations still call it) ----------


@router.post("/collections/{name}/points/search")
async def search_points(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    query = query_requests.parse_search(await parsing.json_body(request))
    results = await _within(request, "Search", query_requests.run_queries_async(
        collection, [query], request.app.state.toc))
    cfg = collection.shard_config
    return ok([scored_json(cfg, r) for r in results[0]], started)


@router.post("/collections/{name}/points/search/batch")
async def search_batch(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = fields.obj(await parsing.json_body(request), "SearchRequestBatch")
    searches = body.get("searches")
    if not isinstance(searches, list):
        raise FormatError("missing field `searches`")
    queries = [query_requests.parse_search(s) for s in searches]
    results = await _within(request, "Search", query_requests.run_queries_async(
        collection, queries, request.app.state.toc))
    cfg = collection.shard_config
    return ok([[scored_json(cfg, r) for r in rs] for rs in results], started)


# -- groups, distance matrix -----------------------------------------------------------------


def _groups_response(toc, collection: Collection, req: grouping.GroupsRequest) -> dict:
    ctx = query_engine.Context(collection, toc)
    found = grouping.run_groups(ctx, req)
    lookup_cfg = None
    if req.with_lookup is not None:
        lookup_cfg = toc.get(req.with_lookup["collection"]).shard_config
    return groups_json(collection.shard_config, found, lookup_cfg)


@router.post("/collections/{name}/points/query/groups")
async def query_groups(name: str, request: Request) -> Response:
    started = time.perf_counter()
    toc = request.app.state.toc
    collection = _collection(request, name)
    body = fields.obj(await parsing.json_body(request), "QueryGroupsRequest")
    req = grouping.parse_group_fields(
        body, stages.parse_request(body), "internal.", required=False
    )
    collection = reads.scoped(collection, body)
    return ok(await _within(request, "Search", run_in_threadpool(
        _groups_response, toc, collection, req)), started)


@router.post("/collections/{name}/points/search/matrix/pairs")
async def matrix_pairs(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = await parsing.json_body(request, required=False)
    req = matrix.parse_matrix(body)
    if isinstance(body, dict):
        collection = reads.scoped(collection, body)
    result = await _within(request, "Search",
                           run_in_threadpool(matrix.compute, collection, req))
    return ok(matrix.pairs_json(result), started)


@router.post("/collections/{name}/points/search/matrix/offsets")
async def matrix_offsets(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = await parsing.json_body(request, required=False)
    req = matrix.parse_matrix(body)
    if isinstance(body, dict):
        collection = reads.scoped(collection, body)
    result = await _within(request, "Search",
                           run_in_threadpool(matrix.compute, collection, req))
    return ok(matrix.offsets_json(result), started)


# -- legacy recommend, discover and groups (Qdrant <= 1.12 shapes) ----------------------------


async def _legacy_list(request: Request, name: str, parse) -> Response:
    started = time.perf_counter()
    toc = request.app.state.toc
    collection = _collection(request, name)
    query = parse(await parsing.json_body(request))
    results = await _within(request, "Search",
                            query_requests.run_queries_async(collection, [query], toc))
    cfg = collection.shard_config
    return ok([scored_json(cfg, r) for r in results[0]], started)


async def _legacy_batch(request: Request, name: str, parse, what: str) -> Response:
    started = time.perf_counter()
    toc = request.app.state.toc
    collection = _collection(request, name)
    body = fields.obj(await parsing.json_body(request), what)
    searches = body.get("searches")
    if not isinstance(searches, list):
        raise FormatError("missing field `searches`")
    queries = [parse(s) for s in searches]
    results = await _within(request, "Search",
                            query_requests.run_queries_async(collection, queries, toc))
    cfg = collection.shard_config
    return ok([[scored_json(cfg, r) for r in rs] for rs in results], started)


@router.post("/collections/{name}/points/recommend")
async def recommend_points(name: str, request: Request) -> Response:
    return await _legacy_list(request, name, legacy.recommend)


@router.post("/collections/{name}/points/recommend/batch")
async def recommend_batch(name: str, request: Request) -> Response:
    return await _legacy_batch(request, name, legacy.recommend, "RecommendRequestBatch")


@router.post("/collections/{name}/points/discover")
async def discover_points(name: str, request: Request) -> Response:
    return await _legacy_list(request, name, legacy.discover)


@router.post("/collections/{name}/points/discover/batch")
async def discover_batch(name: str, request: Request) -> Response:
    return await _legacy_batch(request, name, legacy.discover, "DiscoverRequestBatch")


@router.post("/collections/{name}/points/search/groups")
async def search_groups(name: str, request: Request) -> Response:
    started = time.perf_counter()
    toc = request.app.state.toc
    collection = _collection(request, name)
    body = await parsing.json_body(request)
    req = legacy.search_groups(body)
    collection = reads.scoped(collection, body)
    return ok(await _within(request, "Search", run_in_threadpool(
        _groups_response, toc, collection, req)), started)


@router.post("/collections/{name}/points/recommend/groups")
async def recommend_groups(name: str, request: Request) -> Response:
    started = time.perf_counter()
    toc = request.app.state.toc
    collection = _collection(request, name)
    body = await parsing.json_body(request)
    req = legacy.recommend_groups(body)
    collection = reads.scoped(collection, body)
    return ok(await _within(request, "Search", run_in_threadpool(
        _groups_response, toc, collection, req)), started)
