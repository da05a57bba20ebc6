"""Qdrant 1.12's recommend, discover and groups requests → the universal query engine.

* RecommendRequest: positive / negative (ids or vectors), strategy, filter, params, limit
  (required), offset, with_payload, with_vector, score_threshold, using, lookup_from.
* DiscoverRequest: target (optional: without it, a context search), context pairs, filter,
  params, limit (required), offset, with_payload, with_vector, using, lookup_from.
* SearchGroupsRequest / RecommendGroupsRequest: the search or recommend fields plus group_by,
  group_size and limit (all required) and with_lookup.
"""

from __future__ import annotations

from typing import Any

from node.errors import FormatError, ValidationFailed
from router.operations.fields import (
    LEGACY_ALIASES,
    WITH_VECTORS,
    obj,
    shard_selector,
    unaliased,
)
from router.query.groups import GroupsRequest, parse_group_fields
from router.query.stages import Request, parse_request


def _common(body: dict, query: Any) -> dict:
    out = {
        "query": query,
        "filter": body.get("filter"),
        "params": body.get("params"),
        "limit": body.get("limit"),
        "offset": body.get("offset"),
        "with_payload": body.get("with_payload"),
        "with_vector": body.get("with_vector"),
        "score_threshold": body.get("score_threshold"),
        "using": body.get("using"),
        "lookup_from": body.get("lookup_from"),
    }
    return {k: v for k, v in out.items() if v is not None}


def _require_limit(body: dict) -> None:
    if body.get("limit") is None:
        raise FormatError("missing field `limit`")


def recommend_query(body: dict) -> dict:
    positive = body.get("positive") or []
    negative = body.get("negative") or []
    strategy = body.get("strategy") or "average_vector"
    if not positive and (strategy == "average_vector" or not negative):
        raise ValidationFailed("[positive: At least one positive vector ID required]")
    return {"recommend": {"positive": positive, "negative": negative, "strategy": strategy}}


def _scoped(request: Request, body: dict) -> Request:
    request.shard_key = shard_selector(body)  # type: ignore[attr-defined]
    return request


def recommend(body: Any) -> Request:
    body = unaliased(obj(body, "RecommendRequest"), LEGACY_ALIASES)
    _require_limit(body)
    return _scoped(parse_request(_common(body, recommend_query(body)), prefix=""), body)


def discover(body: Any) -> Request:
    body = unaliased(obj(body, "DiscoverRequest"), LEGACY_ALIASES)
    _require_limit(body)
    context = body.get("context") or []
    target = body.get("target")
    query = (
        {"context": context}
        if target is None
        else {"discover": {"target": target, "context": context}}
    )
    if target is None and not context:
        raise ValidationFailed("[context: At least one context pair or a target is required]")
    return _scoped(parse_request(_common(body, query), prefix=""), body)


def _named_vector(raw: Any) -> tuple[str | None, Any]:
    if isinstance(raw, dict) and "vector" in raw and "name" in raw:
        return raw["name"], raw["vector"]
    return None, raw


def search_groups(body: Any) -> GroupsRequest:
    body = unaliased(obj(body, "SearchGroupsRequest"), WITH_VECTORS)
    _require_limit(body)
    if body.get("vector") is None:
        raise FormatError("missing field `vector`")
    using, vector = _named_vector(body["vector"])
    common = _common(body, {"nearest": vector})
    common.pop("offset", None)
    if using is not None:
        common["using"] = using
    request = parse_request(common, prefix="")
    return parse_group_fields(body, request, "", required=True)


def recommend_groups(body: Any) -> GroupsRequest:
    body = unaliased(obj(body, "RecommendGroupsRequest"), WITH_VECTORS)
    _require_limit(body)
    common = _common(body, recommend_query(body))
    common.pop("offset", None)
    request = parse_request(common, prefix="")
    return parse_group_fields(body, request, "", required=True)
