"""The universal query API beyond a plain nearest-neighbour search: prefetch trees, fusion,
formulas, recommend / discover / context, order_by, random sampling and MMR.

A request is parsed into a tree of ``Stage``s. A stage without prefetches takes its candidates
from the collection (a search, a full scan scored exactly in numpy, an ordered scroll, a random
sample); a stage with prefetches runs them first and re-scores (or fuses) the union of what they
found. Every stage returns scored ``PointRecord``s best first; payloads and vectors are attached
once, to the final answer (``stages`` parses the tree). The plain nearest-neighbour query never
comes here (``router.query.requests`` sends it straight to ``Collection.search``).

Scores follow Qdrant: for recommend ``best_score`` / ``sum_scores``, discover and context the
per-example similarity is the raw metric (dot product for Cosine and Dot, ``-d²`` for Euclid,
``-d`` for Manhattan), combined in float32 as Qdrant's definitions say.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from node import distance as dist
from node.errors import BadRequest, NotFound, ValidationFailed, WrongInput
from node.ids import PointId, id_sort_key
from node.shard_search import PointRecord
from router.collection.collection import Collection
from router.collection.search_plan import Query
from router.query import formula as formulas
from router.query import fusion
from router.query.scoring import (
    as_raw,
    distance_of,
    fast_sigmoid,
    higher_is_better,
    scaled_fast_sigmoid,
    score_records,
    similarities,
)
from router.query.stages import Request, Stage, and_filters, is_point_id

EPSILON32 = float(np.finfo(np.float32).eps)
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
    return as_raw(vectors[using])


def _exclude_filter(ids: list) -> dict | None:
    return {"must_not": [{"has_id": list(ids)}]} if ids else None


def scan(ctx: Context, stage: Stage, exclude: list) -> list[PointRecord]:
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
    if kind == "relevance_feedback":
        return _feedback_scores(sim, examples)
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


#: at most this many (best, worst) pairs of feedback examples count, as in Qdrant
FEEDBACK_PAIRS = 3


def _feedback_scores(sim, examples: dict) -> np.ndarray:
    """Qdrant's naive relevance feedback, in float32: ``a * sim(target)`` plus, for each pair of
    the best- and worst-rated examples left (the first with the last, then inwards),
    ``(score_best - score_worst) ** b * c * (sim(best) - sim(worst))``."""
    a, b, c = (np.float32(x) for x in examples["strategy"])
    rated = sorted(examples["feedback"], key=lambda item: -np.float32(item[1]))  # stable
    total = (a * sim(examples["target"])).astype(np.float32)
    for i in range(min(FEEDBACK_PAIRS, len(rated) // 2)):
        (best, high), (worst, low) = rated[i], rated[-1 - i]
        weight = np.float32(np.float32(high) - np.float32(low)) ** b * c
        total = (total + np.float32(weight) * (sim(best) - sim(worst))).astype(np.float32)
    return total


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
    elif stage.kind == "relevance_feedback":
        examples = {
            "kind": "relevance_feedback",
            "target": res(spec["target"]),
            "feedback": [(res(example), score) for example, score in spec["feedback"]],
            "strategy": spec["strategy"],
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
                    ctx.collection, stage.using, as_raw(r.vectors[stage.using]), candidates
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
    if kind in ("recommend", "discover", "context", "relevance_feedback"):
        examples, exclude = _custom_examples(ctx, stage)
        records = scan(ctx, stage, exclude)
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
