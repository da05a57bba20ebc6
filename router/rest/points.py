"""Points endpoints: writes, retrieval, scroll, count and the universal query.

Bodies are parsed with orjson into internal operations (``router.rest.parsing``); the work runs in
the thread pool so that the event loop never waits on a lock, FAISS or fsync.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from node.errors import BadRequest, FormatError, NotFound
from node.ids import parse_point_id
from router.collection import Collection, Query, UpdateResult
from router.rest import parsing
from router.rest.responses import ok
from router.rest.serialize import record_json, scored_json

router = APIRouter()


def _collection(request: Request, name: str) -> Collection:
    return request.app.state.toc.get(name)


def _update_json(result: UpdateResult) -> dict:
    return {"operation_id": result.operation_id, "status": result.status}


async def _write(request: Request, name: str, build) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = parsing.obj(await parsing.json_body(request), "request")
    wait = parsing.wait_param(request)
    parsing.ordering_param(request)
    op = build(collection, body)
    result = await run_in_threadpool(collection.update, op, wait)
    return ok(_update_json(result), started)


@router.put("/collections/{name}/points")
async def upsert_points(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: parsing.upsert_op(c.shard_config, b))


@router.post("/collections/{name}/points/delete")
async def delete_points(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: parsing.delete_op(b))


@router.put("/collections/{name}/points/vectors")
async def update_vectors(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: parsing.update_vectors_op(c.shard_config, b))


@router.post("/collections/{name}/points/vectors/delete")
async def delete_vectors(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: parsing.delete_vectors_op(c.shard_config, b))


@router.post("/collections/{name}/points/payload")
async def set_payload(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: parsing.set_payload_op(b, "set_payload"))


@router.put("/collections/{name}/points/payload")
async def overwrite_payload(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: parsing.set_payload_op(b, "overwrite_payload"))


@router.post("/collections/{name}/points/payload/delete")
async def delete_payload(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: parsing.delete_payload_op(b))


@router.post("/collections/{name}/points/payload/clear")
async def clear_payload(name: str, request: Request) -> Response:
    return await _write(request, name, lambda c, b: parsing.clear_payload_op(b))


_BATCH_KINDS = {
    "upsert": lambda c, b: parsing.upsert_op(c.shard_config, b),
    "delete": lambda c, b: parsing.delete_op(b),
    "set_payload": lambda c, b: parsing.set_payload_op(b, "set_payload"),
    "overwrite_payload": lambda c, b: parsing.set_payload_op(b, "overwrite_payload"),
    "delete_payload": lambda c, b: parsing.delete_payload_op(b),
    "clear_payload": lambda c, b: parsing.clear_payload_op(b),
    "update_vectors": lambda c, b: parsing.update_vectors_op(c.shard_config, b),
    "delete_vectors": lambda c, b: parsing.delete_vectors_op(c.shard_config, b),
}


@router.post("/collections/{name}/points/batch")
async def batch_update(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = parsing.obj(await parsing.json_body(request), "UpdateOperations")
    wait = parsing.wait_param(request)
    operations = body.get("operations")
    if not isinstance(operations, list):
        raise FormatError("missing field `operations`")
    ops = []
    for item in operations:
        item = parsing.obj(item, "UpdateOperation")
        kinds = [k for k in item if k in _BATCH_KINDS]
        if len(kinds) != 1:
            raise FormatError("data did not match any variant of untagged enum UpdateOperation")
        kind = kinds[0]
        ops.append(_BATCH_KINDS[kind](collection, parsing.obj(item[kind], kind)))
    results = await run_in_threadpool(collection.update_batch, ops, wait)
    return ok([_update_json(r) for r in results], started)


@router.post("/collections/{name}/points")
async def retrieve_points(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = parsing.obj(await parsing.json_body(request), "PointRequest")
    if "ids" not in body:
        raise FormatError("missing field `ids`")
    ids = parsing.point_ids(body["ids"])
    wp = parsing.with_payload(body.get("with_payload"), True)
    wv = parsing.with_vector(body.get("with_vector"), False)
    records = await run_in_threadpool(collection.retrieve, ids, wp, wv)
    cfg = collection.shard_config
    return ok([record_json(cfg, r) for r in records], started)


@router.get("/collections/{name}/points/{point_id}")
async def get_point(name: str, point_id: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    pid: Any = int(point_id) if point_id.isdigit() else point_id
    pid = parse_point_id(pid)
    records = await run_in_threadpool(collection.retrieve, [pid], True, True)
    if not records:
        raise NotFound(f"No point with id {pid} found")
    return ok(record_json(collection.shard_config, records[0]), started)


@router.post("/collections/{name}/points/scroll")
async def scroll_points(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = parsing.obj(await parsing.json_body(request, required=False), "ScrollRequest")
    limit = parsing.uint(body.get("limit"), "limit", 10, minimum=1)
    offset = parse_point_id(body["offset"]) if body.get("offset") is not None else None
    if body.get("order_by") is not None:
        raise BadRequest("order_by requires a payload index (not available yet)")
    filter_ = parsing.filter_(body.get("filter"))
    wp = parsing.with_payload(body.get("with_payload"), True)
    wv = parsing.with_vector(body.get("with_vector"), False)
    records, next_offset = await run_in_threadpool(
        collection.scroll, filter_, offset, limit, wp, wv
    )
    cfg = collection.shard_config
    return ok(
        {"points": [record_json(cfg, r) for r in records], "next_page_offset": next_offset},
        started,
    )


@router.post("/collections/{name}/points/count")
async def count_points(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = parsing.obj(await parsing.json_body(request, required=False), "CountRequest")
    filter_ = parsing.filter_(body.get("filter"))
    count = await run_in_threadpool(collection.count, filter_)
    return ok({"count": count}, started)


def _query_vector(raw: Any) -> tuple[Any, Any]:
    """The `query` field → (vector, point_id); one of them is None."""
    if isinstance(raw, dict):
        if "nearest" in raw:
            return _query_vector(raw["nearest"])
        if "indices" in raw and "values" in raw:
            return raw, None
        kinds = ", ".join(sorted(raw))
        raise BadRequest(f"query kind not supported yet: {kinds}")
    if isinstance(raw, (int, str)) and not isinstance(raw, bool):
        return None, parse_point_id(raw)
    if isinstance(raw, list):
        return raw, None
    raise FormatError("data did not match any variant of untagged enum QueryInterface")


def parse_query(body: Any, prefix: str = "internal.") -> Query | None:
    body = parsing.obj(body, "QueryRequest")
    if body.get("prefetch"):
        raise BadRequest("prefetch is not supported yet")
    limit = parsing.uint(body.get("limit"), "limit", 10, minimum=1, prefix=prefix)
    offset = parsing.uint(body.get("offset"), "offset", 0, prefix=prefix)
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise FormatError("invalid type for `params`")
    using = body.get("using")
    if using is not None and not isinstance(using, str):
        raise FormatError("invalid type for `using`")
    threshold = body.get("score_threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
        raise FormatError("invalid type for `score_threshold`")
    query = Query(
        using=using or "",
        filter=parsing.filter_(body.get("filter")),
        limit=limit,
        offset=offset,
        exact=bool(params.get("exact") or False),
        hnsw_ef=parsing.uint(params.get("hnsw_ef"), "hnsw_ef", None),
        score_threshold=threshold,
        with_payload=parsing.with_payload(body.get("with_payload"), False),
        with_vector=parsing.with_vector(body.get("with_vector"), False),
    )
    if body.get("query") is None:
        return query
    query.vector, query.point_id = _query_vector(body["query"])
    return query


def _run_queries(collection: Collection, queries: list[Query]) -> list[list[dict]]:
    cfg = collection.shard_config
    out: list = [None] * len(queries)
    searches = [(i, q) for i, q in enumerate(queries) if q.vector is not None or q.point_id is not None]
    if searches:
        results = collection.search([q for _, q in searches])
        for (i, _), records in zip(searches, results):
            out[i] = [scored_json(cfg, r) for r in records]
    for i, q in enumerate(queries):
        if out[i] is None:  # no query: points in id order, as scroll would list them
            records, _ = collection.scroll(q.filter, None, q.offset + q.limit, q.with_payload, q.with_vector)
            for r in records:
                r.score = 0.0
            out[i] = [scored_json(cfg, r) for r in records[q.offset :]]
    return out


@router.post("/collections/{name}/points/query")
async def query_points(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    query = parse_query(await parsing.json_body(request))
    results = await run_in_threadpool(_run_queries, collection, [query])
    return ok({"points": results[0]}, started)


@router.post("/collections/{name}/points/query/batch")
async def query_batch(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = _collection(request, name)
    body = parsing.obj(await parsing.json_body(request), "QueryRequestBatch")
    searches = body.get("searches")
    if not isinstance(searches, list):
        raise FormatError("missing field `searches`")
    queries = [parse_query(s) for s in searches]
    results = await run_in_threadpool(_run_queries, collection, queries)
    return ok([{"points": r} for r in results], started)
