"""Distance functions as Qdrant defines them, computed in float32.

Cosine vectors are normalized when stored, so Cosine and Dot both score by dot product (higher is
better). Euclid and Manhattan scores are distances (lower is better).
"""

from __future__ import annotations

import numpy as np

COSINE, DOT, EUCLID, MANHATTAN = "Cosine", "Dot", "Euclid", "Manhattan"
DISTANCES = (COSINE, DOT, EUCLID, MANHATTAN)


def higher_is_better(distance: str) -> bool:
    return distance in (COSINE, DOT)


def prepare(distance: str, vectors: np.ndarray) -> np.ndarray:
    """Vectors as they are stored and queried: float32, unit length for Cosine."""
    out = np.asarray(vectors, dtype=np.float32)
    if distance == COSINE:
        norms = np.linalg.norm(out, axis=-1, keepdims=True)
        norms[norms == 0] = 1.0
        out = (out / norms).astype(np.float32, copy=False)
    return out


def score_matrix(distance: str, stored: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Scores of every stored vector against every query: shape (len(queries), len(stored))."""
    stored = np.asarray(stored, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    if distance in (COSINE, DOT):
        # stored @ queries.T, not queries @ stored.T: the same products, but OpenBLAS takes a
        # faster kernel for this shape (765 x 384 rows, 4 queries: 43 µs instead of 107)
        return (stored @ queries.T).T
    if len(stored) == 0:
        return np.zeros((len(queries), 0), dtype=np.float32)
    if distance == EUCLID:
        return np.stack(
            [np.sqrt(np.square(stored - q).sum(axis=1, dtype=np.float32)) for q in queries]
        ).astype(np.float32, copy=False)
    return np.stack([np.abs(stored - q).sum(axis=1, dtype=np.float32) for q in queries]).astype(
        np.float32, copy=False
    )


def top_k(scores: np.ndarray, k: int, higher: bool) -> np.ndarray:
    """Positions of the best k scores in order (ties kept in position order: stable)."""
    n = len(scores)
    if k <= 0 or n == 0:
        return np.empty(0, dtype=np.int64)
    keyed = -scores if higher else scores
    if k < n:
        part = np.argpartition(keyed, k - 1)[:k]
        # include every position tied with the k-th score so that ordering stays stable
        kth = keyed[part].max()
        part = np.flatnonzero(keyed <= kth)
        order = part[np.argsort(keyed[part], kind="stable")]
        return order[:k]
    return np.argsort(keyed, kind="stable")[:k]


def top_k_rows(scores: np.ndarray, k: int, higher: bool) -> np.ndarray:
    """`top_k` of every row of a (queries, n) score matrix at once: shape (queries, k).

    One partition for the whole batch finds each row's k-th score; the positions at or above
    it, in position order, are then sorted by score with a stable sort, as `top_k` does. Per
    row that is a third of `top_k`'s numpy calls (8 x 765 scores: 53 us instead of 120). When
    some row's k-th score is tied beyond the k-th position, every row takes `top_k`."""
    rows, n = scores.shape
    k = min(k, n)
    if k <= 0:
        return np.empty((rows, 0), dtype=np.int64)
    if rows == 1:
        return top_k(scores[0], k, higher)[None, :]
    keyed = -scores if higher else scores
    if k == n:
        return np.argsort(keyed, axis=1, kind="stable")
    kth = np.partition(keyed, k - 1, axis=1)[:, k - 1 : k]
    _, positions = np.nonzero(keyed <= kth)  # row by row, each in position order
    if len(positions) != rows * k:  # a tie across the k-th place: widen as top_k does
        return np.stack([top_k(row, k, higher) for row in scores])
    positions = positions.reshape(rows, k)
    order = np.argsort(np.take_along_axis(keyed, positions, axis=1), axis=1, kind="stable")
    return np.take_along_axis(positions, order, axis=1)
