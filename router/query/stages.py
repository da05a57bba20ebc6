"""A universal query request (QueryRequest / Prefetch bodies) → a tree of ``Stage``s.

A stage names how it finds its candidates (nearest, recommend, discover, context, order_by,
fusion, formula, sample, or id order) and the limits and filters that apply to it; prefetches
are stages of their own, with the filters of the levels above AND-ed in, as Qdrant propagates
them. Only parsing and validation here; ``router.query.engine`` runs the tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from node.errors import BadRequest, FormatError, ValidationFailed
from node.ids import parse_point_id
from router.operations.fields import (
    filter_,
    flag,
    obj,
    order_by,
    quantization_params,
    uint,
    with_payload,
    with_vector,
)
from router.query import formula as formulas
from router.query import fusion

STRATEGIES = ("average_vector", "best_score", "sum_scores")



@dataclass
class Stage:
    """One level of a query: its own candidates (or prefetches) and how it scores them."""

    kind: (
        str | None
    )  # None (id order), nearest, recommend, discover, context, order_by, fusion, formula, sample
    spec: Any = None
    prefetch: list[Stage] = field(default_factory=list)
    using: str = ""
    filter: dict | None = None
    exact: bool = False
    hnsw_ef: int | None = None
    score_threshold: float | None = None
    limit: int = 10
    lookup_from: dict | None = None
    quantization: dict | None = None


@dataclass
class Request:
    """A whole query request: the root stage and what the answer shows."""

    stage: Stage
    offset: int = 0
    with_payload: Any = False
    with_vector: Any = False


def and_filters(*filters: dict | None) -> dict | None:
    present = [f for f in filters if f]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return {"must": present}


def is_point_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def _vector_input(raw: Any, what: str) -> Any:
    """A VectorInput: a point id, or a vector of any kind (kept raw)."""
    if raw is None or isinstance(raw, bool):
        raise FormatError(
            f"data did not match any variant of untagged enum VectorInput at `{what}`"
        )
    if is_point_id(raw):
        return parse_point_id(raw)
    if isinstance(raw, np.ndarray):  # a gRPC query's vector (from_grpc.query_floats)
        return raw.tolist()
    if isinstance(raw, (list, dict)):
        return raw
    raise FormatError(f"data did not match any variant of untagged enum VectorInput at `{what}`")


def _pairs(raw: Any, what: str) -> list[tuple]:
    if raw is None:
        return []
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise FormatError(f"invalid type for `{what}`: expected a list of context pairs")
    out = []
    for pair in raw:
        if not isinstance(pair, dict) or "positive" not in pair or "negative" not in pair:
            raise FormatError(f"missing field `positive` or `negative` in `{what}`")
        out.append((_vector_input(pair["positive"], what), _vector_input(pair["negative"], what)))
    return out


def parse_query_interface(raw: Any, prefix: str) -> tuple[str | None, Any]:
    """The `query` field → (kind, spec)."""
    if raw is None:
        return None, None
    if not isinstance(raw, dict) or ("indices" in raw and "values" in raw) or "model" in raw:
        return "nearest", {"vector": _vector_input(raw, "query"), "mmr": None}
    if "nearest" in raw:
        mmr = raw.get("mmr")
        if mmr is not None:
            if not isinstance(mmr, dict):
                raise FormatError("invalid type for `mmr`")
            diversity = mmr.get("diversity")
            if diversity is not None:
                if isinstance(diversity, bool) or not isinstance(diversity, (int, float)):
                    raise FormatError("invalid type for `mmr.diversity`: expected a number")
                if not 0.0 <= diversity <= 1.0:
                    raise ValidationFailed(
                        f"[{prefix}query.mmr.diversity: value {diversity} invalid, "
                        "must be in the range [0, 1]]"
                    )
            limit = uint(mmr.get("candidates_limit"), "candidates_limit", None)
            if limit is not None and limit > 16384:
                raise ValidationFailed(
                    f"[{prefix}query.mmr.candidates_limit: value {limit} invalid, "
                    "must be 16384 or smaller]"
                )
            mmr = {
                "diversity": 0.5 if diversity is None else float(diversity),
                "candidates_limit": limit,
            }
        return "nearest", {"vector": _vector_input(raw["nearest"], "nearest"), "mmr": mmr}
    if "recommend" in raw:
        rec = raw["recommend"]
        if not isinstance(rec, dict):
            raise FormatError("invalid type for `recommend`")
        return "recommend", _recommend_spec(
            rec.get("positive"), rec.get("negative"), rec.get("strategy")
        )
    if "discover" in raw:
        disc = raw["discover"]
        if not isinstance(disc, dict) or "target" not in disc:
            raise FormatError("missing field `target` in `discover`")
        return "discover", {
            "target": _vector_input(disc["target"], "discover.target"),
            "pairs": _pairs(disc.get("context"), "discover.context"),
        }
    if "context" in raw:
        return "context", {"pairs": _pairs(raw["context"], "context")}
    if "relevance_feedback" in raw:
        return "relevance_feedback", _feedback_spec(raw["relevance_feedback"], prefix)
    if "order_by" in raw:
        return "order_by", order_by(raw["order_by"])
    if "fusion" in raw:
        name = raw["fusion"]
        if name == "rrf":
            return "fusion", {"method": "rrf", "k": fusion.DEFAULT_RRF_K, "weights": None}
        if name == "dbsf":
            return "fusion", {"method": "dbsf"}
        raise FormatError(f"unknown variant `{name}`, expected `rrf` or `dbsf`")
    if "rrf" in raw:
        params = raw["rrf"] or {}
        if not isinstance(params, dict):
            raise FormatError("invalid type for `rrf`")
        k = uint(
            params.get("k"), "k", fusion.DEFAULT_RRF_K, minimum=1, prefix=f"{prefix}query.rrf."
        )
        weights = params.get("weights")
        if weights is not None:
            if not isinstance(weights, list) or any(
                isinstance(w, bool) or not isinstance(w, (int, float)) for w in weights
            ):
                raise FormatError("invalid type for `rrf.weights`: expected a list of numbers")
            weights = [float(w) for w in weights]
        return "fusion", {"method": "rrf", "k": k, "weights": weights}
    if "formula" in raw:
        return "formula", formulas.parse_formula(raw["formula"], raw.get("defaults"))
    if "sample" in raw:
        if raw["sample"] != "random":
            raise FormatError(f"unknown variant `{raw['sample']}`, expected `random`")
        return "sample", "random"
    kinds = ", ".join(sorted(map(str, raw)))
    raise BadRequest(f"query kind not supported: {kinds}")


def _number(raw: Any, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise FormatError(f"invalid type for `{what}`: expected a number")
    return float(raw)


def _feedback_spec(raw: Any, prefix: str) -> dict:
    """RelevanceFeedbackInput → its target, [(example, score)] and the strategy's (a, b, c)."""
    if not isinstance(raw, dict):
        raise FormatError("invalid type for `relevance_feedback`")
    for required in ("target", "feedback", "strategy"):
        if required not in raw:
            raise FormatError(f"missing field `{required}` in `relevance_feedback`")
    items = raw["feedback"]
    if not isinstance(items, list):
        raise FormatError("invalid type for `relevance_feedback.feedback`: expected a list")
    feedback = []
    for item in items:
        if not isinstance(item, dict) or "example" not in item or "score" not in item:
            raise FormatError("missing field `example` or `score` in `relevance_feedback.feedback`")
        feedback.append((_vector_input(item["example"], "relevance_feedback.feedback.example"),
                         _number(item["score"], "relevance_feedback.feedback.score")))
    strategy = raw["strategy"]
    naive = strategy.get("naive") if isinstance(strategy, dict) else None
    if not isinstance(naive, dict):
        raise FormatError("data did not match any variant of untagged enum FeedbackStrategy")
    for required in ("a", "b", "c"):
        if required not in naive:
            raise FormatError(f"missing field `{required}` in `relevance_feedback.strategy.naive`")
    a, b, c = (_number(naive[k], f"relevance_feedback.strategy.naive.{k}") for k in "abc")
    if b < 0:
        raise ValidationFailed(f"[{prefix}query.relevance_feedback.strategy.naive.b: value {b} "
                               "invalid, must be 0.0 or larger]")
    return {"target": _vector_input(raw["target"], "relevance_feedback.target"),
            "feedback": feedback, "strategy": (a, b, c)}


def _recommend_spec(positive: Any, negative: Any, strategy: Any) -> dict:
    positive = [] if positive is None else positive
    negative = [] if negative is None else negative
    if not isinstance(positive, list) or not isinstance(negative, list):
        raise FormatError("invalid type: `positive` and `negative` must be lists")
    strategy = strategy or "average_vector"
    if strategy not in STRATEGIES:
        raise FormatError(
            f"unknown variant `{strategy}`, "
            "expected one of `average_vector`, `best_score`, `sum_scores`"
        )
    return {
        "positive": [_vector_input(v, "positive") for v in positive],
        "negative": [_vector_input(v, "negative") for v in negative],
        "strategy": strategy,
    }


def _lookup_from(raw: Any) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("collection"), str):
        raise FormatError("missing field `collection` in `lookup_from`")
    vector = raw.get("vector")
    if vector is not None and not isinstance(vector, str):
        raise FormatError("invalid type for `lookup_from.vector`")
    return {"collection": raw["collection"], "vector": vector}


def parse_stage(
    body: dict, prefix: str, parent_filter: dict | None = None, path: str = ""
) -> Stage:
    """A QueryRequest or Prefetch body → a Stage (prefetches parsed recursively; the filters of
    the levels above are AND-ed into every prefetch, as Qdrant propagates them)."""
    body = obj(body, "Prefetch")
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise FormatError("invalid type for `params`")
    using = body.get("using")
    if using is not None and not isinstance(using, str):
        raise FormatError("invalid type for `using`")
    threshold = body.get("score_threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float))
    ):
        raise FormatError("invalid type for `score_threshold`")
    own_filter = filter_(body.get("filter"))
    stage_filter = and_filters(parent_filter, own_filter)
    kind, spec = parse_query_interface(body.get("query"), prefix)
    stage = Stage(
        kind=kind,
        spec=spec,
        using=using or "",
        filter=stage_filter,
        exact=flag(params.get("exact"), "params.exact"),
        hnsw_ef=uint(params.get("hnsw_ef"), "hnsw_ef", None),
        quantization=quantization_params(params),
        score_threshold=threshold,
        limit=uint(body.get("limit"), "limit", 10, minimum=1, prefix=f"{prefix}{path}"),
        lookup_from=_lookup_from(body.get("lookup_from")),
    )
    raw_prefetch = body.get("prefetch")
    if raw_prefetch is not None:
        items = raw_prefetch if isinstance(raw_prefetch, list) else [raw_prefetch]
        stage.prefetch = [
            parse_stage(p, prefix, stage_filter, path=f"{path}prefetch.") for p in items
        ]
    if stage.prefetch and kind is None:
        raise BadRequest("cannot have prefetches without a query")
    if kind in ("fusion", "formula") and not stage.prefetch:
        name = "Fusion" if kind == "fusion" else "Formula"
        raise BadRequest(f"cannot apply {name} without prefetches")
    if (
        kind == "fusion"
        and spec.get("weights") is not None
        and len(spec["weights"]) != len(stage.prefetch)
    ):
        raise ValidationFailed(
            "Number of weights in RRF should match number of pre-fetches: "
            f"got {len(spec['weights'])}, expected {len(stage.prefetch)}"
        )
    if kind == "recommend" and not spec["positive"] and not spec["negative"]:
        raise ValidationFailed(
            f"[{prefix}query.recommend: At least one positive or negative example is required]"
        )
    return stage


MAX_PREFETCH_DEPTH = 64


def depth(stage: Stage) -> int:
    return 1 + max((depth(p) for p in stage.prefetch), default=-1) if stage.prefetch else 0


def parse_request(body: dict, prefix: str = "internal.") -> Request:
    stage = parse_stage(body, prefix)
    levels = depth(stage)
    if levels > MAX_PREFETCH_DEPTH:
        raise BadRequest(f"prefetches depth {levels} exceeds max depth {MAX_PREFETCH_DEPTH}")
    return Request(
        stage=stage,
        offset=uint(body.get("offset"), "offset", 0, prefix=prefix),
        with_payload=with_payload(body.get("with_payload"), False),
        with_vector=with_vector(body.get("with_vector"), False),
    )


