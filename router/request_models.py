"""Requests as parsed JSON (dicts) → the internal operations and queries of the collection layer.

Both faces use this module: REST hands it orjson-parsed bodies, gRPC hands it messages converted
to the same JSON shapes. No pydantic here: fields are checked one by one, with Qdrant's error kinds
(400 for what does not deserialize, 422 for values out of range).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any

import numpy as np
import orjson

from node.errors import BadRequest, FormatError, ValidationFailed, WrongInput
from node.ids import PointId, parse_point_id
from node.shard_config import ShardConfig
from node.shard_search import PointRecord
from node.vector_input import prepare_column, prepare_point_vectors
from router import query_engine
from router.collection import Collection
from router.search_plan import Query


def obj(body: Any, what: str) -> dict:
    if not isinstance(body, dict):
        raise FormatError(f"invalid type: expected struct {what}")
    return body


def uint(value: Any, name: str, default: int | None, minimum: int = 0, prefix: str = "") -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise FormatError(f"invalid type: {value!r}, expected an unsigned integer at `{name}`")
    if value < 0:
        raise FormatError(f"invalid value: integer `{value}`, expected usize at `{name}`")
    if value < minimum:
        raise ValidationFailed(f"[{prefix}{name}: value {value} invalid, must be {minimum} or larger]")
    return value


def flag(value: Any, name: str, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise FormatError(f"invalid type: {value!r}, expected a boolean at `{name}`")
    return value


def order_by(raw: Any) -> dict | None:
    """OrderBy: a key, or {key, direction, start_from} → dict (start_from as a number)."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return {"key": raw, "direction": "asc", "start_from": None}
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
        raise FormatError("invalid type for `order_by`: expected a key or {key, direction, start_from}")
    direction = raw.get("direction") or "asc"
    if direction not in ("asc", "desc"):
        raise FormatError(f"unknown variant `{direction}`, expected `asc` or `desc`")
    start = raw.get("start_from")
    if isinstance(start, str):
        from node.datetimes import parse_datetime

        stamp = parse_datetime(start)
        if stamp is None:
            raise FormatError(f"invalid datetime in `start_from`: {start}")
        start = float(stamp)
    elif start is not None and (isinstance(start, bool) or not isinstance(start, (int, float))):
        raise FormatError("invalid type for `start_from`: expected a number or a datetime")
    return {"key": raw["key"], "direction": direction, "start_from": start}


def point_ids(raw: Any) -> list[PointId]:
    if not isinstance(raw, list):
        raise FormatError("invalid type: expected a sequence of point ids")
    return [parse_point_id(v) for v in raw]


def with_payload(raw: Any, default: bool) -> Any:
    """→ True, False, or ("include"|"exclude", [keys])."""
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, list):
        return ("include", [str(k) for k in raw])
    if isinstance(raw, dict):
        if "include" in raw:
            keys = raw["include"]
            return ("include", keys if isinstance(keys, list) else [keys])
        if "exclude" in raw:
            keys = raw["exclude"]
            return ("exclude", keys if isinstance(keys, list) else [keys])
    raise FormatError("invalid type for `with_payload`")


def with_vector(raw: Any, default: bool = False) -> Any:
    """→ True, False or a list of names."""
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        return raw
    raise FormatError("invalid type for `with_vector`")


#: Filters that compiled without error lately, by their canonical JSON. Applications send the
#: same few filters over and over (a tenant, a category), and validating one costs more of the
#: event loop's time than looking it up; whether a filter is valid depends on nothing else.
_VALID_FILTERS: OrderedDict[bytes, None] = OrderedDict()
_VALID_FILTERS_MAX = 256


def filter_(raw: Any) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FormatError("invalid type: expected struct Filter")
    try:
        key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not plain JSON data: validate it every time
        key = None
    if key is not None:
        try:
            _VALID_FILTERS.move_to_end(key)  # one step, so safe against other threads
            return raw
        except KeyError:
            pass
    from node.filters import compile_filter  # validates the whole filter up front

    compile_filter(raw)
    if key is not None:
        _VALID_FILTERS[key] = None
        if len(_VALID_FILTERS) > _VALID_FILTERS_MAX:
            _VALID_FILTERS.popitem(last=False)
    return raw


def payload(raw: Any) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FormatError("invalid type: expected a payload object")
    return raw


def upsert_op(config: ShardConfig, body: dict) -> dict:
    """PointInsertOperations (points list or column batch) → an upsert operation."""
    ids: list = []
    vectors: list = []
    payloads: list = []
    if "points" in body and body["points"] is not None:
        points = body["points"]
        if not isinstance(points, list):
            raise FormatError("invalid type: `points` must be a sequence")
        for point in points:
            if not isinstance(point, dict):
                raise FormatError("invalid type: expected struct PointStruct")
            if "id" not in point:
                raise FormatError("missing field `id`")
            ids.append(parse_point_id(point["id"]))
            if "vector" not in point:
                raise FormatError("missing field `vector`")
            payloads.append(payload(point.get("payload")))
        raws = [point["vector"] for point in points]
        if "" in config.vectors and all(isinstance(raw, list) for raw in raws):
            vectors = [{"": row} for row in prepare_column(config, "", raws)]
        else:
            vectors = [prepare_point_vectors(config, raw) for raw in raws]
    elif "batch" in body and body["batch"] is not None:
        batch = obj(body["batch"], "Batch")
        if "ids" not in batch:
            raise FormatError("missing field `ids`")
        ids = point_ids(batch["ids"])
        raw_vectors = batch.get("vectors")
        if raw_vectors is None:
            raise FormatError("missing field `vectors`")
        n = len(ids)
        if isinstance(raw_vectors, dict):
            vectors = [{} for _ in range(n)]
            for name, column in raw_vectors.items():
                if not isinstance(column, list) or len(column) != n:
                    raise FormatError(f"vectors `{name}` must have one entry per id")
                present = [i for i, value in enumerate(column) if value is not None]
                rows = prepare_column(config, name, [column[i] for i in present])
                for i, row in zip(present, rows):
                    vectors[i][name] = row
        elif isinstance(raw_vectors, list):
            if len(raw_vectors) != n:
                raise FormatError("vectors must have one entry per id")
            vectors = [{"": row} for row in prepare_column(config, "", raw_vectors)]
        else:
            raise FormatError("invalid type for `vectors`")
        raw_payloads = batch.get("payloads")
        if raw_payloads is None:
            payloads = [None] * n
        else:
            if not isinstance(raw_payloads, list) or len(raw_payloads) != n:
                raise FormatError("payloads must have one entry per id")
            payloads = [payload(p) for p in raw_payloads]
    else:
        raise FormatError(
            "data did not match any variant of untagged enum PointInsertOperations"
        )
    # the last occurrence of a repeated id wins, as if applied one after another
    return {
        "type": "upsert",
        "ids": ids,
        "vectors": vectors,
        "payloads": payloads,
        "update_filter": filter_(body.get("update_filter")),
    }


def selector(body: dict) -> dict:
    """PointsSelector: {"points": [...]} or {"filter": {...}} → {"ids"} / {"filter"}."""
    if body.get("points") is not None:
        return {"ids": point_ids(body["points"])}
    if body.get("filter") is not None:
        return {"filter": filter_(body["filter"])}
    raise FormatError("data did not match any variant of untagged enum PointsSelector")


def optional_selector(body: dict) -> dict:
    if body.get("points") is None and body.get("filter") is None:
        raise FormatError("either `points` or `filter` is required")
    return selector(body)


def update_vectors_op(config: ShardConfig, body: dict) -> dict:
    points = body.get("points")
    if not isinstance(points, list):
        raise FormatError("missing field `points`")
    items = []
    for point in points:
        point = obj(point, "PointVectors")
        if "id" not in point or "vector" not in point:
            raise FormatError("missing field `id` or `vector`")
        items.append((parse_point_id(point["id"]), prepare_point_vectors(config, point["vector"])))
    return {
        "type": "update_vectors",
        "points": items,
        "update_filter": filter_(body.get("update_filter")),
    }


def delete_vectors_op(config: ShardConfig, body: dict) -> dict:
    names = body.get("vector")
    if not isinstance(names, list):
        raise FormatError("missing field `vector`")
    for name in names:
        if name not in config.vectors and name not in config.sparse_vectors:
            raise WrongInput(f"Not existing vector name error: {name}")
    return {"type": "delete_vectors", "names": names, **optional_selector(body)}


def set_payload_op(body: dict, kind: str) -> dict:
    value = body.get("payload")
    if not isinstance(value, dict):
        raise FormatError("missing field `payload`")
    op = {"type": kind, "payload": value, **optional_selector(body)}
    if kind == "set_payload" and body.get("key") is not None:
        op["key"] = body["key"]
    return op


def delete_payload_op(body: dict) -> dict:
    keys = body.get("keys")
    if not isinstance(keys, list):
        raise FormatError("missing field `keys`")
    return {"type": "delete_payload", "keys": keys, **optional_selector(body)}


def clear_payload_op(body: dict) -> dict:
    return {"type": "clear_payload", **selector(body)}


def delete_op(body: dict) -> dict:
    return {"type": "delete", **selector(body)}


BATCH_KINDS = {
    "upsert": lambda c, b: upsert_op(c.shard_config, b),
    "delete": lambda c, b: delete_op(b),
    "set_payload": lambda c, b: set_payload_op(b, "set_payload"),
    "overwrite_payload": lambda c, b: set_payload_op(b, "overwrite_payload"),
    "delete_payload": lambda c, b: delete_payload_op(b),
    "clear_payload": lambda c, b: clear_payload_op(b),
    "update_vectors": lambda c, b: update_vectors_op(c.shard_config, b),
    "delete_vectors": lambda c, b: delete_vectors_op(c.shard_config, b),
}


def batch_ops(collection: Collection, operations: Any) -> list[dict]:
    """UpdateOperations.operations → a list of internal operations, in order."""
    if not isinstance(operations, list):
        raise FormatError("missing field `operations`")
    ops = []
    for item in operations:
        item = obj(item, "UpdateOperation")
        kinds = [k for k in item if k in BATCH_KINDS]
        if len(kinds) != 1:
            raise FormatError("data did not match any variant of untagged enum UpdateOperation")
        kind = kinds[0]
        inner = obj(item[kind], kind)
        ops.append(keyed(BATCH_KINDS[kind](collection, inner), inner))
    return ops


def quantization_params(params: dict) -> dict | None:
    """params.quantization (QuantizationSearchParams): ignore, rescore, oversampling ≥ 1."""
    raw = params.get("quantization")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FormatError("invalid type for `params.quantization`: expected an object")
    out: dict = {}
    for name in ("ignore", "rescore"):
        if raw.get(name) is not None:
            out[name] = flag(raw[name], f"params.quantization.{name}")
    oversampling = raw.get("oversampling")
    if oversampling is not None:
        if isinstance(oversampling, bool) or not isinstance(oversampling, (int, float)):
            raise FormatError("invalid type for `params.quantization.oversampling`")
        if oversampling < 1:
            raise ValidationFailed(
                f"[params.quantization.oversampling: value {oversampling} invalid, must be 1.0 "
                "or larger]"
            )
        out["oversampling"] = float(oversampling)
    return out


def shard_key_value(raw: Any, where: str) -> Any:
    """A ShardKey: a string or an unsigned integer."""
    if isinstance(raw, str) or (isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0):
        return raw
    if raw is None:
        raise FormatError(f"missing field `{where}`")
    raise FormatError(f"data did not match any variant of untagged enum ShardKey at `{where}`")


def shard_selector(body: dict) -> Any:
    """A request's ``shard_key``: a key, a list of keys, or {"target": k, "fallback": k}."""
    raw = body.get("shard_key")
    if raw is None:
        return None
    if isinstance(raw, list):
        return [shard_key_value(k, "shard_key") for k in raw]
    if isinstance(raw, dict):
        if set(raw) != {"target", "fallback"}:
            raise FormatError("data did not match any variant of untagged enum ShardKeySelector")
        return {"target": shard_key_value(raw["target"], "shard_key.target"),
                "fallback": shard_key_value(raw["fallback"], "shard_key.fallback")}
    return shard_key_value(raw, "shard_key")


def keyed(op: dict, body: dict) -> dict:
    """A write operation carries the shard key(s) it is addressed to (custom sharding)."""
    selector = shard_selector(body)
    if isinstance(selector, dict):
        raise FormatError("a write takes a shard key or a list of them, not a fallback")
    if selector is not None:
        op["shard_key"] = selector
    return op


def scoped(collection: Collection, body: dict) -> Collection:
    return collection.scoped(shard_selector(body))


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


def parse_query(body: Any, prefix: str = "internal.") -> Query | query_engine.Request:
    """A QueryRequest → a Query (plain nearest / listing: the fast path) or an engine Request."""
    body = obj(body, "QueryRequest")
    selector = shard_selector(body)
    if _needs_engine(body):
        request = query_engine.parse_request(body, prefix)
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
    threshold = body.get("score_threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
        raise FormatError("invalid type for `score_threshold`")
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


# -- read requests: parsed and answered the same way by both faces ----------------------------


def retrieve(collection: Collection, body: dict) -> list[PointRecord]:
    """PointRequest: ids, with_payload (default true), with_vector (default false)."""
    collection = scoped(collection, body)
    if "ids" not in body:
        raise FormatError("missing field `ids`")
    ids = point_ids(body["ids"])
    wp = with_payload(body.get("with_payload"), True)
    wv = with_vector(body.get("with_vector"), False)
    return collection.retrieve(ids, wp, wv)


def scroll(collection: Collection, body: dict) -> tuple[list[PointRecord], PointId | None]:
    """ScrollRequest → (records, next_page_offset); with order_by the offset is always None."""
    collection = scoped(collection, body)
    limit = uint(body.get("limit"), "limit", 10, minimum=1)
    offset = parse_point_id(body["offset"]) if body.get("offset") is not None else None
    ordering = order_by(body.get("order_by"))
    filter_dict = filter_(body.get("filter"))
    wp = with_payload(body.get("with_payload"), True)
    wv = with_vector(body.get("with_vector"), False)
    if ordering is None:
        return collection.scroll(filter_dict, offset, limit, wp, wv)
    if offset is not None:
        raise BadRequest("Can't use `offset` with `order_by`, use `start_from` instead")
    return collection.scroll_ordered(filter_dict, ordering, limit, wp, wv), None


def count(collection: Collection, body: dict) -> int:
    """CountRequest: filter, exact (counts are always exact here)."""
    collection = scoped(collection, body)
    filter_dict = filter_(body.get("filter"))
    flag(body.get("exact"), "exact")
    return collection.count(filter_dict)


def facet(collection: Collection, body: dict) -> list[tuple]:
    """FacetRequest: key, filter, limit (default 10), exact → [(value, count)]."""
    collection = scoped(collection, body)
    key = body.get("key")
    if not isinstance(key, str):
        raise FormatError("missing field `key`")
    limit = uint(body.get("limit"), "limit", 10, minimum=1)
    flag(body.get("exact"), "exact")
    return collection.facet(key, filter_(body.get("filter")), limit)


def field_index(body: dict) -> tuple[str, dict]:
    """CreateFieldIndex: field_name and field_schema → (field, schema). A schema given as an
    object is remembered as such, so that collection info shows its params as Qdrant does."""
    from node.payload_index import parse_field_schema

    field = body.get("field_name")
    if not isinstance(field, str) or not field:
        raise FormatError("missing field `field_name`")
    raw_schema = body.get("field_schema")
    if raw_schema is None:
        raise BadRequest(f"Can't auto-detect field type for `{field}`: field_schema is required")
    schema = parse_field_schema(raw_schema)
    if isinstance(raw_schema, dict):
        schema["_given_as_object"] = True
    return field, schema


def parse_search(body: Any) -> Query:
    """A legacy SearchRequest (Qdrant ≤ 1.12's POST …/points/search) → the same Query.

    `vector` is a plain vector or {"name", "vector"}; `limit` is required; payload and vectors
    are not returned unless asked for."""
    body = obj(body, "SearchRequest")
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
    threshold = body.get("score_threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
        raise FormatError("invalid type for `score_threshold`")
    return Query(
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


def _is_search(q: Any) -> bool:
    return isinstance(q, Query) and (q.vector is not None or q.point_id is not None)


def _listing(collection: Collection, q: Query) -> list[PointRecord]:
    """A query without a `query`: points in id order, as scroll would list them, score 0."""
    records, _ = collection.scroll(q.filter, None, q.offset + q.limit, q.with_payload, q.with_vector)
    for r in records:
        r.score = 0.0
    return records[q.offset :]


def _scope(collection: Collection, q: Any) -> Collection:
    return collection.scoped(getattr(q, "shard_key", None))


def _answer_rest(collection: Collection, q: Any, toc: Any) -> list[PointRecord]:
    collection = _scope(collection, q)
    if isinstance(q, query_engine.Request):
        return query_engine.execute(query_engine.Context(collection, toc), q)
    return _listing(collection, q)


def run_queries(collection: Collection, queries: list, toc: Any = None) -> list[list[PointRecord]]:
    """Answer parsed queries: nearest-neighbour ones by one batched search, listings in id
    order, everything else (prefetch, fusion, recommend…) by the query engine."""
    searches = [q for q in queries if _is_search(q)]
    found: dict[int, list] = {}
    for selector, group in _by_selector(searches):
        for q, records in zip(group, collection.scoped(selector).search(group), strict=True):
            found[id(q)] = records
    return [found[id(q)] if _is_search(q) else _answer_rest(collection, q, toc) for q in queries]


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
    import asyncio

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
        elif isinstance(q, query_engine.Request):
            out.append(await asyncio.to_thread(_answer_rest, collection, q, toc))
        else:  # a listing reads shards, maybe over the network: not on the event loop
            out.append(await asyncio.to_thread(_listing, _scope(collection, q), q))
    return out


def _keyed_builder(build):
    """A write-operation builder whose operation carries the body's shard key."""

    @functools.wraps(build)
    def with_key(*args):
        body = args[0] if isinstance(args[0], dict) else args[1]
        return keyed(build(*args), body)

    return with_key


upsert_op = _keyed_builder(upsert_op)
update_vectors_op = _keyed_builder(update_vectors_op)
delete_vectors_op = _keyed_builder(delete_vectors_op)
set_payload_op = _keyed_builder(set_payload_op)
delete_payload_op = _keyed_builder(delete_payload_op)
clear_payload_op = _keyed_builder(clear_payload_op)
delete_op = _keyed_builder(delete_op)
