"""The universal query API beyond a plain nearest-neighbour search: prefetch trees, fusion,
formulas, recommend / discover / context, order_by, random sampling and MMR.

A request is parsed into a tree of ``Stage``s. A stage without prefetches takes its candidates
from the collection (a search, a full scan scored exactly in numpy, an ordered scroll, a random
sample); a stage with prefetches runs them first and re-scores (or fuses) the union of what they
found. Every stage returns scored ``PointRecord``s best first; payloads and vectors are attached
once, to the final answer. The plain nearest-neighbour query never comes here (``request_models``
sends it straight to ``Collection.search``).

Scores follow Qdrant: for recommend ``best_score`` / ``sum_scores``, discover and context the
per-example similarity is the raw metric (dot product for Cosine and Dot, ``-d²`` for Euclid,
``-d`` for Manhattan), combined in float32 as Qdrant's definitions say.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from node import distance as dist
from node.errors import BadRequest, FormatError, NotFound, ValidationFailed, WrongInput
from node.ids import PointId, id_sort_key, parse_point_id
from node.shard_search import PointRecord
from router import formula as formulas
from router import fusion, search_plan
from router.collection import Collection
from router.search_plan import Query

STRATEGIES = ("average_vector", "best_score", "sum_scores")
EPSILON32 = float(np.finfo(np.float32).eps)


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


# -- parsing -----------------------------------------------------------------------------------


def _uint(
    value: Any, name: str, default: int | None, minimum: int = 0, prefix: str = ""
) -> int | None:
    from router.request_models import uint

    return uint(value, name, default, minimum=minimum, prefix=prefix)


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
            limit = _uint(mmr.get("candidates_limit"), "candidates_limit", None)
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
    if "order_by" in raw:
        from router.request_models import order_by

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
        k = _uint(
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
    from router.request_models import filter_, flag, obj, quantization_params

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
        hnsw_ef=_uint(params.get("hnsw_ef"), "hnsw_ef", None),
        quantization=quantization_params(params),
        score_threshold=threshold,
        limit=_uint(body.get("limit"), "limit", 10, minimum=1, prefix=f"{prefix}{path}"),
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
    from router.request_models import uint, with_payload, with_vector

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


# -- vectors and scores ------------------------------------------------------------------------


def _as_raw(value: Any) -> Any:
    """A stored vector (as records carry it) → the raw form a query accepts."""
    if isinstance(value, tuple):
        return {"indices": np.asarray(value[0]).tolist(), "values": np.asarray(value[1]).tolist()}
    if isinstance(value, np.ndarray):
        return value.astype(np.float32).tolist()
    return value


def distance_of(collection: Collection, using: str) -> str | None:
    """The distance of a dense (or multi) vector name; None for a sparse one (dot product)."""
    params = collection.shard_config.vectors.get(using)
    if params is not None:
        return params.distance
    if using in collection.shard_config.sparse_vectors:
        return None
    raise WrongInput(f"Not existing vector name error: {using}")


def higher_is_better(collection: Collection, using: str) -> bool:
    distance = distance_of(collection, using)
    return distance is None or dist.higher_is_better(distance)


def score_records(
    collection: Collection, using: str, raw: Any, records: list[PointRecord]
) -> np.ndarray:
    """Scores of records (carrying vector `using`) against a raw query vector, as a search would
    report them (distances for Euclid / Manhattan). Uses search_plan.score_records when present."""
    if not records:
        return np.zeros(0, dtype=np.float32)
    shared = getattr(search_plan, "score_records", None)
    if shared is not None:
        return np.asarray(shared(collection, using, raw, records), dtype=np.float32)
    from node.vector_input import prepare_named

    params = collection.shard_config.vectors.get(using)
    if params is None:
        if using in collection.shard_config.sparse_vectors:
            raise WrongInput(f"Sparse scoring on `{using}` is not supported yet")
        raise WrongInput(f"Not existing vector name error: {using}")
    query = np.asarray(prepare_named(collection.shard_config, using, raw), dtype=np.float32)
    stored = np.stack([np.asarray(r.vectors[using], dtype=np.float32) for r in records])
    return dist.score_matrix(params.distance, stored, query.reshape(1, -1))[0]


def similarities(
    collection: Collection, using: str, raw: Any, records: list[PointRecord]
) -> np.ndarray:
    """Raw metric similarity (higher is better): scores, with -d² for Euclid and -d for
    Manhattan. A sparse vector sharing no dimension with the example has similarity 0."""
    scores = score_records(collection, using, raw, records).astype(np.float32)
    distance = distance_of(collection, using)
    if distance is None:
        return np.nan_to_num(scores, nan=0.0).astype(np.float32)
    if distance == dist.EUCLID:
        return -(scores * scores)
    if distance == dist.MANHATTAN:
        return -scores
    return scores


def fast_sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(invalid="ignore"):  # ±inf (no example of a kind) gives nan, never chosen
        return (x / (np.float32(1.0) + np.abs(x))).astype(np.float32)


def scaled_fast_sigmoid(x: np.ndarray) -> np.ndarray:
    return (np.float32(0.5) * (fast_sigmoid(x) + np.float32(1.0))).astype(np.float32)


# -- execution ---------------------------------------------------------------------------------


class Context:
    """What a running query needs: the collection and a way to find other collections."""

    def __init__(self, collection: Collection, toc: Any = None) -> None:
        self.collection = collection
        self.toc = toc

    def other(self, name: str) -> Collection:
        if self.toc is None:
            raise BadRequest("lookup in another collection is not available here")
        return self.toc.get(name)


def _sort_key(higher: bool) -> Callable[[PointRecord], tuple]:
    sign = -1.0 if higher else 1.0
    return lambda r: (sign * float(r.score), id_sort_key(r.id))


def _passes(score: float, threshold: float | None, higher: bool) -> bool:
    if threshold is None:
        return True
    return score >= threshold if higher else score <= threshold


def _resolve(ctx: Context, stage: Stage, value: Any) -> tuple[Any, PointId | None]:
    """A VectorInput → (raw vector, id to exclude from results or None)."""
    if not is_point_id(value) or isinstance(value, (list, dict)):
        return value, None
    if stage.lookup_from is not None:
        other = ctx.other(stage.lookup_from["collection"])
        name = stage.lookup_from.get("vector") or stage.using
        return _stored_vector(other, name, value), None
    return _stored_vector(ctx.collection, stage.using, value), value


def _stored_vector(collection: Collection, using: str, point_id: PointId) -> Any:
    records = collection.retrieve([point_id], False, [using])
    if not records:
        raise NotFound(f"No point with id {point_id} found")
    vectors = records[0].vectors or {}
    if using not in vectors:
        raise WrongInput(f"Vector '{using}' not found in point {point_id}")
    return _as_raw(vectors[using])


def _exclude_filter(ids: list) -> dict | None:
    return {"must_not": [{"has_id": list(ids)}]} if ids else None


def _scan(ctx: Context, stage: Stage, exclude: list) -> list[PointRecord]:
    """Every point allowed by the stage's filter (minus `exclude`) that has vector `using`."""
    flt = and_filters(stage.filter, _exclude_filter(exclude))
    total = ctx.collection.count(flt)
    if total == 0:
        return []
    records, _ = ctx.collection.scroll(flt, None, total, False, [stage.using])
    return [r for r in records if r.vectors and stage.using in r.vectors]


def _candidates(ctx: Context, stage: Stage, ids: list, exclude: list) -> list[PointRecord]:
    """The prefetched points (by id) with vector `using`, minus `exclude`."""
    skip = set(exclude)
    wanted = [i for i in ids if i not in skip]
    records = ctx.collection.retrieve(wanted, False, [stage.using])
    return [r for r in records if r.vectors and stage.using in r.vectors]


def _nearest_search(
    ctx: Context, stage: Stage, raw: Any, pid: PointId | None, limit: int, with_vector: Any = False
) -> list[PointRecord]:
    query = Query(
        using=stage.using,
        vector=None if pid is not None and raw is None else raw,
        point_id=None,
        filter=stage.filter,
        limit=limit,
        exact=stage.exact,
        hnsw_ef=stage.hnsw_ef,
        score_threshold=stage.score_threshold,
        with_payload=False,
        with_vector=with_vector,
        quantization=stage.quantization,
    )
    if pid is not None:
        query.filter = and_filters(stage.filter, _exclude_filter([pid]))
    return ctx.collection.search([query])[0]


def _average_vector(ctx: Context, stage: Stage, spec: dict) -> tuple[Any, list]:
    positives = [_resolve(ctx, stage, v) for v in spec["positive"]]
    negatives = [_resolve(ctx, stage, v) for v in spec["negative"]]
    exclude = [pid for _, pid in positives + negatives if pid is not None]
    if not positives:
        raise ValidationFailed("Positive vectors should not be empty with `average` strategy")

    pos = _average([raw for raw, _ in positives])
    if not negatives:
        return pos, exclude
    return _merge_average(pos, _average([raw for raw, _ in negatives])), exclude


def _is_sparse(raw: Any) -> bool:
    return isinstance(raw, dict) and "indices" in raw and "values" in raw


def _average(raws: list) -> Any:
    """The mean of examples of one kind: dense, sparse (per index) or multi (rows stacked)."""
    if all(_is_sparse(r) for r in raws):
        total: dict = {}
        for r in raws:
            for i, v in zip(r["indices"], r["values"], strict=False):
                total[int(i)] = np.float32(total.get(int(i), 0.0)) + np.float32(v)
        keys = sorted(total)
        return {"indices": keys, "values": [float(total[k] / np.float32(len(raws))) for k in keys]}
    if any(isinstance(r, dict) for r in raws):
        raise BadRequest("Can't average vectors with different types")
    arrays = [np.asarray(r, dtype=np.float32) for r in raws]
    if all(a.ndim == 2 for a in arrays):
        return np.vstack(arrays).tolist()
    if any(a.ndim != 1 for a in arrays) or len({a.shape for a in arrays}) != 1:
        raise BadRequest("Can't average vectors with different types or dimensions")
    return np.mean(np.stack(arrays), axis=0, dtype=np.float32).astype(np.float32).tolist()


def _merge_average(pos: Any, neg: Any) -> Any:
    """avg_pos + avg_pos - avg_neg (sparse: per index; multi: negative rows negated, appended)."""
    if _is_sparse(pos) and _is_sparse(neg):
        total = {i: 2 * np.float32(v) for i, v in zip(pos["indices"], pos["values"], strict=False)}
        for i, v in zip(neg["indices"], neg["values"], strict=False):
            total[i] = np.float32(total.get(i, 0.0)) - np.float32(v)
        keys = sorted(total)
        return {"indices": keys, "values": [float(total[k]) for k in keys]}
    p, n = np.asarray(pos, dtype=np.float32), np.asarray(neg, dtype=np.float32)
    if p.ndim == 2 and n.ndim == 2:
        return np.vstack([p, -n]).tolist()
    if p.shape != n.shape:
        raise BadRequest("Positive and negative vectors should be of the same type")
    return (p + p - n).astype(np.float32).tolist()


def _score_custom(
    ctx: Context, stage: Stage, records: list[PointRecord], examples: dict
) -> np.ndarray:
    """best_score / sum_scores / discover / context scores of records (higher is better)."""
    sim = lambda raw: similarities(ctx.collection, stage.using, raw, records)  # noqa: E731
    n = len(records)
    kind = examples["kind"]
    if kind in ("best_score", "sum_scores"):
        pos = [sim(raw) for raw in examples["positive"]]
        neg = [sim(raw) for raw in examples["negative"]]
        if kind == "sum_scores":
            total = np.zeros(n, dtype=np.float32)
            for s in pos:
                total = total + s
            neg_total = np.zeros(n, dtype=np.float32)
            for s in neg:
                neg_total = neg_total + s
            return (total - neg_total).astype(np.float32)
        max_pos = np.max(np.stack(pos), axis=0) if pos else np.full(n, -np.inf, dtype=np.float32)
        max_neg = np.max(np.stack(neg), axis=0) if neg else np.full(n, -np.inf, dtype=np.float32)
        return np.where(
            max_pos > max_neg, scaled_fast_sigmoid(max_pos), -scaled_fast_sigmoid(max_neg)
        ).astype(np.float32)
    pairs = [(sim(p), sim(q)) for p, q in examples["pairs"]]
    if kind == "context":
        total = np.zeros(n, dtype=np.float32)
        for p, q in pairs:
            diff = (p - q - np.float32(EPSILON32)).astype(np.float32)
            total = total + fast_sigmoid(np.minimum(diff, np.float32(0.0)))
        return total.astype(np.float32)
    rank = np.zeros(n, dtype=np.int32)
    for p, q in pairs:
        rank += np.sign(p - q).astype(np.int32)
    target = sim(examples["target"])
    return (rank.astype(np.float32) + scaled_fast_sigmoid(target)).astype(np.float32)


def _custom_examples(ctx: Context, stage: Stage) -> tuple[dict, list]:
    spec = stage.spec
    exclude: list = []

    def res(value: Any) -> Any:
        raw, pid = _resolve(ctx, stage, value)
        if pid is not None:
            exclude.append(pid)
        return raw

    if stage.kind == "recommend":
        examples = {
            "kind": spec["strategy"],
            "positive": [res(v) for v in spec["positive"]],
            "negative": [res(v) for v in spec["negative"]],
        }
    elif stage.kind == "discover":
        examples = {
            "kind": "discover",
            "target": res(spec["target"]),
            "pairs": [(res(p), res(q)) for p, q in spec["pairs"]],
        }
    else:
        examples = {"kind": "context", "pairs": [(res(p), res(q)) for p, q in spec["pairs"]]}
    return examples, exclude


def _ranked(
    records: list[PointRecord],
    scores: np.ndarray,
    higher: bool,
    threshold: float | None,
    limit: int,
) -> list[PointRecord]:
    scored = [
        replace(r, score=np.float32(s), vectors=None, payload=None)
        for r, s in zip(records, scores, strict=False)
        if not np.isnan(s) and _passes(float(s), threshold, higher)
    ]
    scored.sort(key=_sort_key(higher))
    return scored[:limit]


def _mmr(
    ctx: Context, stage: Stage, raw: Any, candidates: list[PointRecord], limit: int
) -> list[PointRecord]:
    """Maximal marginal relevance over candidates (carrying vector `using`); the candidates keep
    their original scores, in the order MMR selects them."""
    if len(candidates) < 2:
        return [replace(r, vectors=None) for r in candidates][:limit]
    lam = np.float32(1.0 - stage.spec["mmr"]["diversity"])
    relevance = similarities(ctx.collection, stage.using, raw, candidates)
    distance = distance_of(ctx.collection, stage.using)
    params = ctx.collection.shard_config.vectors.get(stage.using)
    first = candidates[0].vectors[stage.using]
    if params is not None and isinstance(first, np.ndarray) and first.ndim == 1:
        stored = np.stack(
            [np.asarray(r.vectors[stage.using], dtype=np.float32) for r in candidates]
        )
        matrix = dist.score_matrix(params.distance, stored, stored).astype(np.float32)
        if distance == dist.EUCLID:
            matrix = -(matrix * matrix)
        elif distance == dist.MANHATTAN:
            matrix = -matrix
    else:
        matrix = np.stack(
            [
                similarities(
                    ctx.collection, stage.using, _as_raw(r.vectors[stage.using]), candidates
                )
                for r in candidates
            ]
        )
    remaining = list(range(len(candidates)))
    best = max(remaining, key=lambda i: (relevance[i], -i))
    selected = [best]
    remaining.remove(best)
    max_sim = matrix[:, best].copy()
    while len(selected) < limit and remaining:
        values = [lam * relevance[i] - (np.float32(1.0) - lam) * max_sim[i] for i in remaining]
        pick = remaining[int(np.argmax(values))]
        selected.append(pick)
        remaining.remove(pick)
        max_sim = np.maximum(max_sim, matrix[:, pick])
    return [replace(candidates[i], vectors=None) for i in selected]


def _all_ids(ctx: Context, flt: dict | None) -> list[PointRecord]:
    total = ctx.collection.count(flt)
    if total == 0:
        return []
    records, _ = ctx.collection.scroll(flt, None, total, False, False)
    return records


def run_stage(ctx: Context, stage: Stage, limit: int, offset: int = 0) -> list[PointRecord]:
    """Run one stage: up to `limit` scored records, best first (no payload, no vectors).
    `offset` is the request's offset, which Qdrant adds to every prefetch's limit."""
    if stage.prefetch:
        return _run_with_prefetch(ctx, stage, limit, offset)
    kind = stage.kind
    if kind is None:
        records, _ = ctx.collection.scroll(stage.filter, None, limit, False, False)
        return [replace(r, score=0.0) for r in records]
    if kind == "nearest":
        raw, pid = _resolve(ctx, stage, stage.spec["vector"])
        mmr = stage.spec["mmr"]
        if mmr is None:
            return _nearest_search(ctx, stage, raw, pid, limit)
        pool = mmr["candidates_limit"] or limit
        candidates = _nearest_search(ctx, stage, raw, pid, pool, with_vector=[stage.using])
        return _mmr(ctx, stage, raw, candidates, limit)
    if kind == "recommend" and stage.spec["strategy"] == "average_vector":
        vector, exclude = _average_vector(ctx, stage, stage.spec)
        inner = replace(stage, filter=and_filters(stage.filter, _exclude_filter(exclude)))
        return _nearest_search(ctx, inner, vector, None, limit)
    if kind in ("recommend", "discover", "context"):
        examples, exclude = _custom_examples(ctx, stage)
        records = _scan(ctx, stage, exclude)
        scores = _score_custom(ctx, stage, records, examples)
        return _ranked(records, scores, True, stage.score_threshold, limit)
    if kind == "order_by":
        records = ctx.collection.scroll_ordered(stage.filter, stage.spec, limit, False, False)
        return [replace(r, score=0.0) for r in records]
    if kind == "sample":
        records = _all_ids(ctx, stage.filter)
        picked = random.sample(records, min(limit, len(records)))
        return [replace(r, score=0.0) for r in picked]
    raise BadRequest(f"cannot apply {kind} without prefetches")


def _run_with_prefetch(ctx: Context, stage: Stage, limit: int, offset: int) -> list[PointRecord]:
    # as in Qdrant, the request's offset is added to the limit of every prefetch, at every level
    lists = [run_stage(ctx, p, p.limit + offset, offset) for p in stage.prefetch]
    union: dict = {}
    for records in lists:
        for r in records:
            union.setdefault(r.id, r)
    ids = list(union)
    kind = stage.kind
    if kind == "fusion":
        spec = stage.spec
        if spec["method"] == "rrf":
            fused = fusion.rrf(lists, spec["k"], spec.get("weights"))
        else:
            fused = fusion.dbsf(lists)
        fused = [r for r in fused if _passes(float(r.score), stage.score_threshold, True)]
        return fused[:limit]
    if kind == "formula":
        return _formula(ctx, stage, lists, ids, limit)
    if kind == "order_by":
        if not ids:
            return []
        flt = {"must": [{"has_id": ids}]}
        records = ctx.collection.scroll_ordered(flt, stage.spec, limit, False, False)
        return [replace(r, score=0.0) for r in records]
    if kind == "sample":
        picked = random.sample(ids, min(limit, len(ids)))
        return [replace(union[i], score=0.0) for i in picked]
    if kind == "nearest":
        raw, pid = _resolve(ctx, stage, stage.spec["vector"])
        exclude = [pid] if pid is not None else []
        records = _candidates(ctx, stage, ids, exclude)
        scores = score_records(ctx.collection, stage.using, raw, records)
        higher = higher_is_better(ctx.collection, stage.using)
        mmr = stage.spec["mmr"]
        if mmr is None:
            return _ranked(records, scores, higher, stage.score_threshold, limit)
        pool = mmr["candidates_limit"] or limit
        order = sorted(
            range(len(records)),
            key=lambda i: _sort_key(higher)(replace(records[i], score=scores[i])),
        )
        chosen = [
            replace(records[i], score=np.float32(scores[i]))
            for i in order
            if _passes(float(scores[i]), stage.score_threshold, higher)
        ][:pool]
        return _mmr(ctx, stage, raw, chosen, limit)
    if kind == "recommend" and stage.spec["strategy"] == "average_vector":
        vector, exclude = _average_vector(ctx, stage, stage.spec)
        records = _candidates(ctx, stage, ids, exclude)
        scores = score_records(ctx.collection, stage.using, vector, records)
        higher = higher_is_better(ctx.collection, stage.using)
        return _ranked(records, scores, higher, stage.score_threshold, limit)
    examples, exclude = _custom_examples(ctx, stage)
    records = _candidates(ctx, stage, ids, exclude)
    scores = _score_custom(ctx, stage, records, examples)
    return _ranked(records, scores, True, stage.score_threshold, limit)


def _formula(ctx: Context, stage: Stage, lists: list, ids: list, limit: int) -> list[PointRecord]:
    formula: formulas.Formula = stage.spec
    if not ids:
        return []
    per_prefetch = [{r.id: float(r.score) for r in records} for records in lists]
    payloads: dict = {}
    if formula.payload_keys:
        for r in ctx.collection.retrieve(ids, True, False):
            payloads[r.id] = r.payload
    matches = []
    for condition in formula.conditions:
        flt = {"must": [{"has_id": ids}, condition]}
        found, _ = ctx.collection.scroll(flt, None, len(ids), False, False)
        matches.append({r.id for r in found})
    out = []
    for _i, point_id in enumerate(ids):
        point = formulas.PointContext(
            payload=payloads.get(point_id),
            scores=[scores.get(point_id) for scores in per_prefetch],
            conditions=[point_id in m for m in matches],
        )
        score = np.float32(formulas.evaluate(formula, point))
        if _passes(float(score), stage.score_threshold, True):
            out.append(PointRecord(id=point_id, version=_version(lists, point_id), score=score))
    out.sort(key=_sort_key(True))
    return out[:limit]


def _version(lists: list, point_id: PointId) -> int:
    for records in lists:
        for r in records:
            if r.id == point_id:
                return r.version
    return 0


def attach(
    collection: Collection, records: list[PointRecord], with_payload: Any, with_vector: Any
) -> list[PointRecord]:
    """Give final records the payload and vectors the request asked for."""
    if not records:
        return records
    if not with_payload and not with_vector:
        return [replace(r, payload=None, vectors=None) for r in records]
    found = {
        r.id: r for r in collection.retrieve([r.id for r in records], with_payload, with_vector)
    }
    out = []
    for r in records:
        full = found.get(r.id)
        if full is None:
            continue
        out.append(replace(r, payload=full.payload, vectors=full.vectors))
    return out


def execute(ctx: Context, request: Request) -> list[PointRecord]:
    """Answer one parsed request: the root stage's best offset+limit, sliced, with payloads."""
    stage = request.stage
    records = run_stage(ctx, stage, stage.limit + request.offset, request.offset)
    records = records[request.offset : request.offset + stage.limit]
    return attach(ctx.collection, records, request.with_payload, request.with_vector)
