"""Brute-force nearest neighbours with numpy: the oracle the search results are compared with.

Conventions follow Qdrant:

* ``Cosine``: stored vectors and the query are normalised (in float32); the score is their dot
  product; higher is better.
* ``Dot``: plain dot product; higher is better.
* ``Euclid``: the Euclidean distance (square root taken); lower is better.
* ``Manhattan``: the L1 distance; lower is better.

Scores are computed in float64 from the float32 values the server stores, so they differ from the
server's float32 arithmetic only in the last bits; compare with ``rtol=1e-5`` (plus a small
``atol`` for scores near zero).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

DISTANCES = ("Cosine", "Dot", "Euclid", "Manhattan")

RTOL = 1e-5
ATOL = 1e-6


def higher_is_better(distance: str) -> bool:
    if distance in ("Cosine", "Dot"):
        return True
    if distance in ("Euclid", "Manhattan"):
        return False
    raise ValueError(f"unknown distance {distance!r}")


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation in float32, as Qdrant stores Cosine vectors (zero stays zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.sqrt(np.sum(v.astype(np.float32) * v, axis=-1, keepdims=True, dtype=np.float32))
    norms = np.where(norms == 0, np.float32(1), norms).astype(np.float32)
    return (v / norms).astype(np.float32)


def stored_form(vectors: np.ndarray, distance: str) -> np.ndarray:
    """The vectors as the server keeps (and returns) them for ``distance``."""
    v = np.asarray(vectors, dtype=np.float32)
    return normalize(v) if distance == "Cosine" else v


def scores(stored: np.ndarray, query: Sequence[float] | np.ndarray, distance: str) -> np.ndarray:
    """Score of every row of ``stored`` (already in stored form) against ``query``."""
    s = np.asarray(stored, dtype=np.float32).astype(np.float64)
    q = np.asarray(query, dtype=np.float32)
    if distance == "Cosine":
        q = normalize(q[None, :])[0]
    q = q.astype(np.float64)
    if distance in ("Cosine", "Dot"):
        return s @ q
    if distance == "Euclid":
        return np.sqrt(np.sum((s - q) ** 2, axis=1))
    if distance == "Manhattan":
        return np.sum(np.abs(s - q), axis=1)
    raise ValueError(f"unknown distance {distance!r}")


@dataclass(frozen=True)
class Hit:
    id: Hashable
    score: float


def rank(
    ids: Sequence[Hashable],
    stored: np.ndarray,
    query: Sequence[float] | np.ndarray,
    distance: str,
    *,
    exclude: Iterable[Hashable] = (),
    keep: Iterable[Hashable] | None = None,
) -> list[Hit]:
    """Every point ranked best-first (``exclude``: ids left out; ``keep``: only these ids)."""
    sc = scores(stored, query, distance)
    excluded = set(exclude)
    kept = None if keep is None else set(keep)
    hits = [
        Hit(pid, float(s))
        for pid, s in zip(ids, sc, strict=True)
        if pid not in excluded and (kept is None or pid in kept)
    ]
    sign = -1.0 if higher_is_better(distance) else 1.0
    hits.sort(key=lambda h: sign * h.score)
    return hits


def top_k(ids, stored, query, distance, k, **kw) -> list[Hit]:
    return rank(ids, stored, query, distance, **kw)[:k]


def close(a: float, b: float, rtol: float = RTOL, atol: float = ATOL) -> bool:
    return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


def assert_ranking(
    got: Sequence[tuple[Hashable, float]],
    ranking: Sequence[Hit],
    k: int,
    distance: str,
    *,
    offset: int = 0,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> None:
    """``got`` (id, score) pairs must be ``ranking[offset:offset+k]``: same ids, same order and
    scores within tolerance. Near-ties (scores equal within tolerance) may come in either order.
    """
    expected = list(ranking[offset : offset + k])
    score_of = {h.id: h.score for h in ranking}
    ids = [g[0] for g in got]
    assert len(got) == len(expected), (
        f"expected {len(expected)} results, got {len(got)}: {ids} vs {[h.id for h in expected]}"
    )
    assert len(set(ids)) == len(ids), f"duplicate ids in results: {ids}"
    better = higher_is_better(distance)
    for i, (pid, score) in enumerate(got):
        assert pid in score_of, f"rank {i}: id {pid!r} is not a candidate at all"
        assert close(score, score_of[pid], rtol, atol), (
            f"rank {i}: id {pid!r} scored {score}, brute force says {score_of[pid]}"
        )
        assert close(score, expected[i].score, rtol, atol), (
            f"rank {i}: got id {pid!r} with score {score}, expected id {expected[i].id!r} "
            f"with score {expected[i].score}\n got: {list(got)}\n expected: {expected}"
        )
        if i:
            prev = got[i - 1][1]
            in_order = prev >= score if better else prev <= score
            assert in_order or close(prev, score, rtol, atol), (
                f"results not ordered {'descending' if better else 'ascending'}: {list(got)}"
            )


def recall(got_ids: Iterable[Hashable], true_ids: Iterable[Hashable]) -> float:
    truth = set(true_ids)
    if not truth:
        return 1.0
    return len(truth & set(got_ids)) / len(truth)
