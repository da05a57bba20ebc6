"""Queries: the universal query API (``Query``, prefetches, formula expressions), the deprecated
search, groups, the distance matrix and the legacy recommend / discover requests → the REST
bodies."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from node.errors import BadRequest
from router.api.grpc.enums import ENUM_NAMES
from router.api.grpc.from_grpc.common import _oneof, _opt, _put, _with_shard_key
from router.api.grpc.from_grpc.configs import _lookup_location, fields, message
from router.api.grpc.from_grpc.filters import (
    _geo_point,
    condition,
    optional_filter,
    with_payload,
    with_vectors,
)
from router.api.grpc.from_grpc.point_ops import order_by
from router.api.grpc.from_grpc.values import f32, payload, point_id
from router.api.grpc.from_grpc.vectors import floats, query_floats, vector, vector_input
from router.api.grpc.messages import pb


# -- queries -----------------------------------------------------------------------------------
def _context_pairs(pairs) -> list:
    return [
        {"positive": vector_input(p.positive), "negative": vector_input(p.negative)} for p in pairs
    ]


def expression(e: pb.Expression) -> Any:
    """Formula Expression → REST expression (numbers, keys, conditions and operator objects)."""
    kind, inner = _oneof(e, "variant")
    if kind == "constant":
        return f32(inner)
    if kind == "variable":
        return inner
    if kind == "condition":
        return condition(inner)
    if kind == "geo_distance":
        return {"geo_distance": {"origin": _geo_point(inner.origin), "to": inner.to}}
    if kind in ("datetime", "datetime_key"):
        return {kind: inner}
    if kind in ("mult", "sum", "max", "min"):
        return {kind: [expression(x) for x in getattr(inner, kind)]}
    if kind in ("neg", "abs", "sqrt", "exp", "log10", "ln", "acosh"):
        return {kind: expression(inner)}
    if kind == "div":
        div: dict = {"left": expression(inner.left), "right": expression(inner.right)}
        _put(div, "by_zero_default", _opt(inner, "by_zero_default", f32))
        return {"div": div}
    if kind == "pow":
        return {"pow": {"base": expression(inner.base), "exponent": expression(inner.exponent)}}
    if kind in ("exp_decay", "gauss_decay", "lin_decay"):
        decay: dict = {"x": expression(inner.x)}
        _put(decay, "target", _opt(inner, "target", expression))
        _put(decay, "scale", _opt(inner, "scale", f32))
        _put(decay, "midpoint", _opt(inner, "midpoint", f32))
        return {kind: decay}
    raise BadRequest("Malformed Expression: no variant is set")


def query(q: pb.Query) -> Any:
    """Query → REST ``query`` (QueryInterface): {"nearest": ...}, {"recommend": ...}, …"""
    kind, inner = _oneof(q, "variant")
    if kind == "nearest":
        if inner.WhichOneof("variant") == "dense":
            return {"nearest": query_floats(inner.dense.data)}
        return {"nearest": vector_input(inner)}
    if kind == "nearest_with_mmr":
        out: dict = {"nearest": vector_input(inner.nearest)}
        if inner.HasField("mmr"):
            out["mmr"] = fields(inner.mmr)
        return out
    if kind == "recommend":
        rec: dict = {}
        if len(inner.positive):
            rec["positive"] = [vector_input(v) for v in inner.positive]
        if len(inner.negative):
            rec["negative"] = [vector_input(v) for v in inner.negative]
        _put(rec, "strategy", _opt(inner, "strategy", ENUM_NAMES["qdrant.RecommendStrategy"].get))
        return {"recommend": rec}
    if kind == "discover":
        return {
            "discover": {
                "target": vector_input(inner.target),
                "context": _context_pairs(inner.context.pairs),
            }
        }
    if kind == "context":
        return {"context": _context_pairs(inner.pairs)}
    if kind == "order_by":
        return {"order_by": order_by(inner)}
    if kind == "fusion":
        return {"fusion": ENUM_NAMES["qdrant.Fusion"].get(inner)}
    if kind == "rrf":
        return {"rrf": fields(inner)}
    if kind == "sample":
        return {"sample": ENUM_NAMES["qdrant.Sample"].get(inner)}
    if kind == "formula":
        formula: dict = {"formula": expression(inner.expression)}
        if len(inner.defaults):
            formula["defaults"] = payload(inner.defaults)
        return formula
    if kind == "relevance_feedback":
        feedback: dict = {
            "target": vector_input(inner.target),
            "feedback": [
                {"example": vector_input(item.example), "score": f32(item.score)}
                for item in inner.feedback
            ],
        }
        if inner.HasField("strategy") and inner.strategy.HasField("naive"):
            feedback["strategy"] = {"naive": fields(inner.strategy.naive)}
        return {"relevance_feedback": feedback}
    if kind == "text":
        if inner.HasField("bm25"):
            return {"text": {"query": inner.query, "scoring": {"bm25": fields(inner.bm25)}}}
        return {"text": inner.query}
    raise BadRequest("Malformed Query: no variant is set")


def prefetch(p: pb.PrefetchQuery) -> dict:
    body: dict = {}
    if len(p.prefetch):
        body["prefetch"] = [prefetch(x) for x in p.prefetch]
    _put(body, "query", _opt(p, "query", query))
    _put(body, "using", _opt(p, "using"))
    _put(body, "filter", optional_filter(p))
    _put(body, "params", _opt(p, "params", message))
    _put(body, "score_threshold", _opt(p, "score_threshold", f32))
    _put(body, "limit", _opt(p, "limit"))
    _put(body, "lookup_from", _opt(p, "lookup_from", _lookup_location))
    return body


def query_points(req: pb.QueryPoints) -> dict:
    """QueryPoints → the body of POST /collections/{name}/points/query (a QueryRequest)."""
    body = prefetch(req)  # the shared fields have the same names and meaning
    _put(body, "offset", _opt(req, "offset"))
    _put(body, "with_vector", _opt(req, "with_vectors", with_vectors))
    _put(body, "with_payload", _opt(req, "with_payload", with_payload))
    return _with_shard_key(body, req)


def query_batch(req: pb.QueryBatchPoints) -> dict:
    """QueryBatchPoints → the body of POST /collections/{name}/points/query/batch."""
    return {"searches": [query_points(q) for q in req.query_points]}


def search_points(req: pb.SearchPoints) -> dict:
    """SearchPoints (deprecated) → the QueryRequest of the same nearest-neighbour search."""
    if req.HasField("sparse_indices"):
        target: Any = {"indices": list(req.sparse_indices.data), "values": floats(req.vector)}
    else:
        target = query_floats(req.vector)
    body: dict = {"query": {"nearest": target}, "limit": req.limit}
    _put(body, "using", _opt(req, "vector_name"))
    _put(body, "filter", optional_filter(req))
    _put(body, "params", _opt(req, "params", message))
    _put(body, "score_threshold", _opt(req, "score_threshold", f32))
    _put(body, "offset", _opt(req, "offset"))
    _put(body, "with_payload", _opt(req, "with_payload", with_payload))
    _put(body, "with_vector", _opt(req, "with_vectors", with_vectors))
    return _with_shard_key(body, req)


# -- groups, distance matrix, legacy recommend / discover ------------------------------------
def with_lookup(w: pb.WithLookup) -> dict:
    out: dict = {"collection": w.collection}
    _put(out, "with_payload", _opt(w, "with_payload", with_payload))
    _put(out, "with_vectors", _opt(w, "with_vectors", with_vectors))
    return out


def _group_fields(body: dict, req: Message) -> dict:
    body["group_by"] = req.group_by
    _put(
        body,
        "group_size",
        _opt(req, "group_size")
        if req.DESCRIPTOR.fields_by_name["group_size"].has_presence
        else req.group_size,
    )
    _put(body, "with_lookup", _opt(req, "with_lookup", with_lookup))
    return body


def query_point_groups(req: pb.QueryPointGroups) -> dict:
    """QueryPointGroups → the body of POST /collections/{name}/points/query/groups."""
    body = prefetch(req)
    _put(body, "with_vector", _opt(req, "with_vectors", with_vectors))
    _put(body, "with_payload", _opt(req, "with_payload", with_payload))
    return _with_shard_key(_group_fields(body, req), req)


def search_matrix_points(req: pb.SearchMatrixPoints) -> dict:
    body: dict = {}
    _put(body, "filter", optional_filter(req))
    _put(body, "sample", _opt(req, "sample"))
    _put(body, "limit", _opt(req, "limit"))
    _put(body, "using", _opt(req, "using"))
    return _with_shard_key(body, req)


def _examples(ids, vecs) -> list:
    return [point_id(i) for i in ids] + [vector(v) for v in vecs]


def _vector_example(e: pb.VectorExample) -> Any:
    kind = e.WhichOneof("example")
    if kind == "id":
        return point_id(e.id)
    if kind == "vector":
        return vector(e.vector)
    raise BadRequest("Malformed VectorExample: no variant is set")


def _legacy_common(body: dict, req: Message) -> dict:
    names = req.DESCRIPTOR.fields_by_name
    _put(body, "filter", optional_filter(req))
    _put(body, "params", _opt(req, "params", message))
    if "score_threshold" in names:
        _put(body, "score_threshold", _opt(req, "score_threshold", f32))
    if "offset" in names:
        _put(body, "offset", _opt(req, "offset"))
    _put(body, "with_payload", _opt(req, "with_payload", with_payload))
    _put(body, "with_vector", _opt(req, "with_vectors", with_vectors))
    if "using" in names:
        _put(body, "using", _opt(req, "using"))
    if "lookup_from" in names:
        _put(body, "lookup_from", _opt(req, "lookup_from", _lookup_location))
    return body


def recommend_points(req: pb.RecommendPoints | pb.RecommendPointGroups) -> dict:
    """RecommendPoints (deprecated) → a RecommendRequest body (Qdrant 1.12 REST shape)."""
    body: dict = {
        "positive": _examples(req.positive, req.positive_vectors),
        "negative": _examples(req.negative, req.negative_vectors),
        "limit": req.limit,
    }
    _put(body, "strategy", _opt(req, "strategy", ENUM_NAMES["qdrant.RecommendStrategy"].get))
    return _legacy_common(body, req)


def recommend_point_groups(req: pb.RecommendPointGroups) -> dict:
    return _group_fields(recommend_points(req), req)


def discover_points(req: pb.DiscoverPoints) -> dict:
    """DiscoverPoints (deprecated) → a DiscoverRequest body (Qdrant 1.12 REST shape)."""
    body: dict = {
        "context": [
            {"positive": _vector_example(p.positive), "negative": _vector_example(p.negative)}
            for p in req.context
        ],
        "limit": req.limit,
    }
    if req.HasField("target"):
        body["target"] = _vector_example(req.target.single)
    return _legacy_common(body, req)


def search_point_groups(req: pb.SearchPointGroups) -> dict:
    """SearchPointGroups (deprecated) → a SearchGroupsRequest body."""
    if req.HasField("sparse_indices"):
        target: Any = {"indices": list(req.sparse_indices.data), "values": floats(req.vector)}
    else:
        target = query_floats(req.vector)
    if req.HasField("vector_name"):
        target = {"name": req.vector_name, "vector": target}
    body: dict = {"vector": target, "limit": req.limit}
    _put(body, "filter", optional_filter(req))
    _put(body, "params", _opt(req, "params", message))
    _put(body, "score_threshold", _opt(req, "score_threshold", f32))
    _put(body, "with_payload", _opt(req, "with_payload", with_payload))
    _put(body, "with_vector", _opt(req, "with_vectors", with_vectors))
    return _group_fields(body, req)
