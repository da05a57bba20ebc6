"""numpy reference computations of Qdrant's query API, written from Qdrant's documented
definitions, for the query tests to compare the server with.

Similarities: Cosine (normalised) and Dot score by dot product; for the "custom" queries
(recommend best_score / sum_scores, discover, context, MMR) Euclid's raw similarity is ``-d²``.
All combinations are computed in float32 as Qdrant does; compare scores with rtol ≈ 1e-5.
"""

from __future__ import annotations

import math
import uuid

import numpy as np

from tests.support import oracle

F32_EPS = np.float32(np.finfo(np.float32).eps)


class Data:
    """A collection's points as the server stores them: ids, stored vectors, payloads."""

    def __init__(self, ids: list, raw: np.ndarray, distance: str, payloads: dict):
        self.ids = list(ids)
        self.distance = distance
        self.stored = oracle.stored_form(raw, distance)
        self.payloads = payloads
        self.row = {pid: i for i, pid in enumerate(self.ids)}

    def vec(self, pid) -> np.ndarray:
        return self.stored[self.row[pid]]

    def scores(self, query) -> np.ndarray:
        """Scores as a search reports them (distances for Euclid / Manhattan), float32."""
        return oracle.scores(self.stored, query, self.distance).astype(np.float32)

    def sim(self, query) -> np.ndarray:
        s = self.scores(query)
        if self.distance == "Euclid":
            return -(s * s)
        if self.distance == "Manhattan":
            return -s
        return s

    @property
    def higher(self) -> bool:
        return oracle.higher_is_better(self.distance)


def load_collections(
    http, prefix: str, distances: tuple, ids: list, raw: np.ndarray, payloads: dict
) -> dict:
    """One collection per distance holding the same points → {distance: (name, Data)}."""
    from tests.support import api
    from tests.support.api import create_collection

    out = {}
    for distance in distances:
        name = f"{prefix}_{distance.lower()}_{uuid.uuid4().hex[:8]}"
        create_collection(http, name, {"vectors": {"size": raw.shape[1], "distance": distance}})
        api.upsert(
            http,
            name,
            [{"id": pid, "vector": raw[i].tolist(), "payload": payloads[pid]}
             for i, pid in enumerate(ids)],
        )
        out[distance] = (name, Data(ids, raw, distance, payloads))
    return out


def top(ids: list, scores: np.ndarray, k: int, higher: bool = True) -> list[tuple]:
    """(id, score) of the k best, ties by position."""
    keyed = (
        -np.asarray(scores, dtype=np.float64) if higher else np.asarray(scores, dtype=np.float64)
    )
    order = np.argsort(keyed, kind="stable")[:k]
    return [(ids[i], float(scores[i])) for i in order]


def nearest(data: Data, query, k: int, allowed: set | None = None, exclude=()) -> list[tuple]:
    keep = [
        i
        for i, pid in enumerate(data.ids)
        if (allowed is None or pid in allowed) and pid not in exclude
    ]
    s = data.scores(query)[keep]
    return top([data.ids[i] for i in keep], s, k, data.higher)


def rrf(lists: list[list], k: int = 2, weights=None) -> dict:
    """{id: score}: a point at 0-based position p adds 1 / ((p + 1) / w + k - 1)."""
    weights = weights or [1.0] * len(lists)
    out: dict = {}
    for ids, w in zip(lists, weights, strict=False):
        for pos, pid in enumerate(ids):
            out[pid] = np.float32(out.get(pid, 0.0)) + np.float32(1.0 / ((pos + 1) / w + k - 1))
    return out


def dbsf(lists: list[list[tuple]]) -> dict:
    """{id: score}: each list normalised by mean ± 3 sample std, then summed."""
    out: dict = {}
    for hits in lists:
        s = np.asarray([sc for _, sc in hits], dtype=np.float64)
        if len(s) == 1:
            norm = [0.5]
        else:
            mean, std = s.mean(), s.std(ddof=1)
            lo, hi = mean - 3 * std, mean + 3 * std
            norm = [(x - lo) / (hi - lo) for x in s] if hi != lo else [0.5] * len(s)
        for (pid, _), v in zip(hits, norm, strict=False):
            out[pid] = out.get(pid, 0.0) + v
    return out


def ranked(scores: dict, k: int) -> list[tuple]:
    """Best first; equal scores in id order (the server's order for ties)."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def sigmoid(x):
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(invalid="ignore"):  # ±inf (no example of a kind) gives nan, never chosen
        return x / (np.float32(1) + np.abs(x))


def scaled_sigmoid(x):
    return np.float32(0.5) * (sigmoid(x) + np.float32(1))


def best_score(data: Data, positives: list, negatives: list) -> np.ndarray:
    n = len(data.ids)
    mp = (
        np.max([data.sim(p) for p in positives], axis=0)
        if positives
        else np.full(n, -np.inf, np.float32)
    )
    mn = (
        np.max([data.sim(q) for q in negatives], axis=0)
        if negatives
        else np.full(n, -np.inf, np.float32)
    )
    return np.where(mp > mn, scaled_sigmoid(mp), -scaled_sigmoid(mn)).astype(np.float32)


def sum_scores(data: Data, positives: list, negatives: list) -> np.ndarray:
    total = np.zeros(len(data.ids), np.float32)
    for p in positives:
        total = total + data.sim(p)
    for q in negatives:
        total = total - data.sim(q)
    return total


def average_vector(positives: list, negatives: list) -> np.ndarray:
    pos = np.mean(np.asarray(positives, np.float32), axis=0)
    if not negatives:
        return pos
    return pos + pos - np.mean(np.asarray(negatives, np.float32), axis=0)


def discover(data: Data, target, pairs: list) -> np.ndarray:
    rank = np.zeros(len(data.ids), np.float32)
    for p, q in pairs:
        rank += np.sign(data.sim(p) - data.sim(q)).astype(np.float32)
    return rank + scaled_sigmoid(data.sim(target))


def context(data: Data, pairs: list) -> np.ndarray:
    total = np.zeros(len(data.ids), np.float32)
    for p, q in pairs:
        total = total + sigmoid(np.minimum(data.sim(p) - data.sim(q) - F32_EPS, 0))
    return total


def relevance_feedback(data: Data, target, feedback: list, a: float, b: float, c: float):
    """Naive relevance feedback: the examples ranked by their feedback score; the i-th best is
    paired with the i-th worst (at most 3 pairs, never one example with itself); each pair adds
    (its score gap ** b) * c times how much nearer a point is to the better example."""
    ranked = [example for example, _ in sorted(feedback, key=lambda e: e[1], reverse=True)]
    scores = [np.float32(s) for _, s in sorted(feedback, key=lambda e: e[1], reverse=True)]
    total = np.float32(a) * data.sim(target)
    n = len(ranked)
    for i in range(min(3, n // 2)):
        gap = np.float32(scores[i] - scores[n - 1 - i])
        weight = np.float32(gap ** np.float32(b)) * np.float32(c)
        total = total + weight * (data.sim(ranked[i]) - data.sim(ranked[n - 1 - i]))
    return total.astype(np.float32)


def mmr(data: Data, query, candidates: list, diversity: float, k: int) -> list:
    """Greedy MMR over candidate ids: first the most relevant, then argmax of
    λ·sim(query) − (1−λ)·max sim(selected), λ = 1 − diversity."""
    lam = 1.0 - diversity
    rel = {pid: float(data.sim(query)[data.row[pid]]) for pid in candidates}
    vecs = {pid: data.vec(pid) for pid in candidates}

    def pair(a, b):
        s = data.sim(vecs[b])[data.row[a]]
        return float(s)

    chosen = [max(candidates, key=lambda p: rel[p])]
    rest = [p for p in candidates if p != chosen[0]]
    while rest and len(chosen) < k:
        best = max(rest, key=lambda p: lam * rel[p] - (1 - lam) * max(pair(p, c) for c in chosen))
        chosen.append(best)
        rest.remove(best)
    return chosen


def haversine(lat1, lon1, lat2, lon2) -> float:
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def assert_scored(got: list, expected: list[tuple], rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """`got` (points with .id/.score or dicts) equals expected (id, score) pairs in order; equal
    scores may come in any order among themselves."""
    pairs = [(p["id"], p["score"]) if isinstance(p, dict) else (p.id, p.score) for p in got]
    assert len(pairs) == len(expected), (pairs, expected)
    for (gid, gs), (eid, es) in zip(pairs, expected, strict=False):
        assert math.isclose(gs, es, rel_tol=rtol, abs_tol=atol), (pairs, expected)
        if gid != eid:
            # only acceptable inside a tie
            tied = {i for i, s in expected if math.isclose(s, es, rel_tol=rtol, abs_tol=atol)}
            assert gid in tied, (pairs, expected)
    got_ids = [i for i, _ in pairs]
    assert len(set(got_ids)) == len(got_ids)
