"""Query and legacy search requests → a plain ``Query`` (the fast path: one batched
nearest-neighbour search, or a listing) or a query-engine ``Request``; and their answers.

The plain nearest-neighbour query never reaches the engine: ``run_queries`` sends it straight
to ``Collection.search``; prefetch, fusion, recommend and the rest go to ``router.query.engine``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from node.errors import BadRequest, FormatError
from node.ids import parse_point_id
from node.shard_search import PointRecord
from router.collection.collection import Collection
from router.collection.search_plan import Query
from router.operations.fields import (
    LEGACY_ALIASES,
    filter_,
    flag,
    obj,
    quantization_params,
    shard_selector,
    uint,
    unaliased,
    with_payload,
    with_vector,
)
from router.query import budget
from router.query import engine as query_engine
from router.query.stages import Request, parse_request


def _query_vector(raw: Any) -> tuple[Any, Any]:
    """The `query` field → (vector, point_id); one of them is None."""
    if isinstance(raw, dict):
        if "nearest" in raw:
            return _query_vector(raw["nearest"])
        if ("indices" in raw and "values" in raw) or "model" in raw:
            return raw, None
        kinds = ", ".join(sorted(raw))
        raise BadRequest(f"query kind not supported yet: {kinds}")
    if isinstance(raw, (int, str)) and not isinstance(raw, bool):
        return None, parse_point_id(raw)
    if isinstance(raw, (list, np.ndarray)):  # an array: a gRPC query's (from_grpc.query_floats)
        return raw, None
    raise FormatError("data did not match any variant of untagged enum QueryInterface")


def _score_threshold(body: dict) -> float | None:
    threshold = body.get("score_threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float))
    ):
        raise FormatError("invalid type for `score_threshold`")
    return threshold


def _needs_engine(body: dict) -> bool:
    """Whether a QueryRequest is more than a plain nearest-neighbour search or a listing."""
    if body.get("prefetch") or body.get("lookup_from") is not None:
        return True
    raw = body.get("query")
    if not isinstance(raw, dict):
        return False
    if ("indices" in raw and "values" in raw) or "model" in raw:
        return False
    return not ("nearest" in raw and raw.get("mmr") is None)


def parse_query(body: Any, prefix: str = "internal.") -> Query | Request:
    """A QueryRequest → a Query (plain nearest / listing: the fast path) or an engine Request."""
    body = obj(body, "QueryRequest")
    selector = shard_selector(body)
    if _needs_engine(body):
        request = parse_request(body, prefix)
        request.shard_key = selector  # type: ignore[attr-defined]
        return request
    limit = uint(body.get("limit"), "limit", 10, minimum=1, prefix=prefix)
    offset = uint(body.get("offset"), "offset", 0, prefix=prefix)
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise FormatError("invalid type for `params`")
    using = body.get("using")
    if using is not None and not isinstance(using, str):
        raise FormatError("invalid type for `using`")
    threshold = _score_threshold(body)
    query = Query(
        using=using or "",
        filter=filter_(body.get("filter")),
        limit=limit,
        offset=offset,
        exact=flag(params.get("exact"), "params.exact"),
        hnsw_ef=uint(params.get("hnsw_ef"), "hnsw_ef", None),
        quantization=quantization_params(params),
        score_threshold=threshold,
        with_payload=with_payload(body.get("with_payload"), False),
        with_vector=with_vector(body.get("with_vector"), False),
    )
    query.shard_key = selector  # type: ignore[attr-defined]
    if body.get("query") is None:
        return query
    query.vector, query.point_id = _query_vector(body["query"])
    return query


def parse_search(body: Any) -> Query:
    """A legacy SearchRequest (Qdrant ≤ 1.12's POST …/points/search) → the same Query.

    `vector` is a plain vector or {"name", "vector"}; `limit` is required; payload and vectors
    are not returned unless asked for."""
    body = unaliased(obj(body, "SearchRequest"), LEGACY_ALIASES)
    if body.get("vector") is None:
        raise FormatError("missing field `vector`")
    if body.get("limit") is None:
        raise FormatError("missing field `limit`")
    raw = body["vector"]
    using = ""
    if isinstance(raw, dict):
        if "name" not in raw or "vector" not in raw:
            raise FormatError("invalid type for `vector`: expected a vector or {name, vector}")
        using, raw = raw["name"], raw["vector"]
        if not isinstance(using, str):
            raise FormatError("invalid type for `vector.name`")
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise FormatError("invalid type for `params`")
    threshold = _score_threshold(body)
    query = Query(
        using=using,
        vector=raw,
        filter=filter_(body.get("filter")),
        limit=uint(body.get("limit"), "limit", 10, minimum=1),
        offset=uint(body.get("offset"), "offset", 0),
        exact=flag(params.get("exact"), "params.exact"),
        hnsw_ef=uint(params.get("hnsw_ef"), "hnsw_ef", None),
        quantization=quantization_params(params),
        score_threshold=threshold,
        with_payload=with_payload(body.get("with_payload"), False),
        with_vector=with_vector(body.get("with_vector"), False),
    )
    query.shard_key = shard_selector(body)  # type: ignore[attr-defined]
    return query


def _is_search(q: Any) -> bool:
    return isinstance(q, Query) and (q.vector is not None or q.point_id is not None)


def _listing(collection: Collection, q: Query) -> list[PointRecord]:
    """A query without a `query`: points in id order, as scroll would list them, score 0."""
    records, _ = collection.scroll(
        q.filter, None, q.offset + q.limit, q.with_payload, q.with_vector
    )
    for r in records:
        r.score = 0.0
    return records[q.offset :]


def _scope(collection: Collection, q: Any) -> Collection:
    return collection.scoped(getattr(q, "shard_key", None))


def _answer_rest(collection: Collection, q: Any, toc: Any) -> list[PointRecord]:
    collection = _scope(collection, q)
    if isinstance(q, Request):
        return query_engine.execute(query_engine.Context(collection, toc), q)
    return _listing(collection, q)


def run_queries(collection: Collection, queries: list, toc: Any = None) -> list[list[PointRecord]]:
    """Answer parsed queries: nearest-neighbour ones by one batched search, listings in id
    order, everything else (prefetch, fusion, recommend…) by the query engine."""
    if collection.strict is not None:
        collection.strict.check_queries(queries, collection.payload_schema)
    budget.check_queries(collection, queries, _memory_limit(toc))
    searches = [q for q in queries if _is_search(q)]
    found: dict[int, list] = {}
    for selector, group in _by_selector(searches):
        for q, records in zip(group, collection.scoped(selector).search(group), strict=True):
            found[id(q)] = records
    return [found[id(q)] if _is_search(q) else _answer_rest(collection, q, toc) for q in queries]


def _memory_limit(toc: Any) -> int | None:
    limits = getattr(toc, "limits", None)
    return getattr(limits, "max_request_memory_mb", None)


def _by_selector(searches: list) -> list[tuple[Any, list]]:
    """Searches grouped by their shard key selector (one batched search per group)."""
    groups: list[tuple[Any, list]] = []
    for q in searches:
        selector = getattr(q, "shard_key", None)
        for known, group in groups:
            if known == selector and type(known) is type(selector):
                group.append(q)
                break
        else:
            groups.append((selector, [q]))
    return groups


async def run_queries_async(
    collection: Collection, queries: list, toc: Any = None
) -> list[list[PointRecord]]:
    """As `run_queries`, for the event loop: searches are awaited, not run in a thread; engine
    requests run in a worker thread."""
    if collection.strict is not None:
        collection.strict.check_queries(queries, collection.payload_schema)
    budget.check_queries(collection, queries, _memory_limit(toc))
    searches = [q for q in queries if _is_search(q)]
    found: dict[int, list] = {}
    for selector, group in _by_selector(searches):
        answers = await collection.scoped(selector).search_async(group)
        for q, records in zip(group, answers, strict=True):
            found[id(q)] = records
    out = []
    for q in queries:
        if _is_search(q):
            out.append(found[id(q)])
        elif isinstance(q, Request):
            out.append(await asyncio.to_thread(_answer_rest, collection, q, toc))
        else:  # a listing reads shards, maybe over the network: not on the event loop
            out.append(await asyncio.to_thread(_listing, _scope(collection, q), q))
    return out


