"""Inverted index of one named sparse vector in one shard: per dimension, the offsets holding it
and their weights.

Postings only grow, like the shard's offsets: an overwritten or deleted point keeps its old
entries until vacuum rebuilds the index, and every query masks them out with the live mask.
Scores are dot products in float32 over the query's dimensions; a point is a hit only when it
shares at least one dimension with the query (as in Qdrant, whose index never visits the
others). The index's weights may be kept as float16 (the `datatype` of the index params);
stored vectors themselves are always kept exactly.
"""

from __future__ import annotations

from array import array

import numpy as np

from node import distance as dist


class _Posting:
    __slots__ = ("offsets", "weights", "_cache")

    def __init__(self) -> None:
        self.offsets = array("q")
        self.weights = array("f")
        self._cache: tuple | None = None

    def append(self, offset: int, weight: float) -> None:
        self.offsets.append(offset)
        self.weights.append(weight)
        self._cache = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is None or len(self._cache[0]) != len(self.offsets):
            self._cache = (
                np.frombuffer(self.offsets, dtype=np.int64).copy(),
                np.frombuffer(self.weights, dtype=np.float32).copy(),
            )
        return self._cache


class SparseIndex:
    def __init__(self, datatype: str = "float32") -> None:
        self.datatype = datatype
        self.postings: dict[int, _Posting] = {}
        self.holders = array("q")  # offsets that hold a vector of this name, ascending

    def add(self, offset: int, indices: np.ndarray, values: np.ndarray) -> None:
        self.holders.append(offset)
        weights = values.astype(np.float32)
        if self.datatype == "float16":
            weights = weights.astype(np.float16).astype(np.float32)
        for dim, weight in zip(indices.tolist(), weights.tolist(), strict=True):
            posting = self.postings.get(dim)
            if posting is None:
                posting = self.postings[dim] = _Posting()
            posting.append(offset, weight)

    @classmethod
    def build(cls, vectors: dict, datatype: str = "float32") -> SparseIndex:
        """From {offset: (indices, values)}."""
        index = cls(datatype)
        for offset in sorted(vectors):
            indices, values = vectors[offset]
            index.add(offset, indices, values)
        return index

    # -- statistics for the idf modifier ---------------------------------------------------------
    def stats(self, dims: np.ndarray, live: np.ndarray) -> tuple[int, np.ndarray]:
        """(live points holding a vector, per dim: live points holding that dim)."""
        holders = np.frombuffer(self.holders, dtype=np.int64)
        n = int(live[holders[holders < len(live)]].sum()) if len(holders) else 0
        df = np.zeros(len(dims), dtype=np.int64)
        for i, dim in enumerate(np.asarray(dims).tolist()):
            posting = self.postings.get(int(dim))
            if posting is not None:
                offsets, _ = posting.arrays()
                offsets = offsets[offsets < len(live)]
                df[i] = int(live[offsets].sum())
        return n, df

    # -- search ------------------------------------------------------------------------------
    def scores(
        self, indices: np.ndarray, values: np.ndarray, size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(score per offset [0, size), mask of offsets sharing a dimension with the query)."""
        scores = np.zeros(size, dtype=np.float32)
        touched = np.zeros(size, dtype=np.bool_)
        for dim, weight in zip(
            np.asarray(indices).tolist(), np.asarray(values, np.float32), strict=True
        ):
            posting = self.postings.get(int(dim))
            if posting is None:
                continue
            offsets, weights = posting.arrays()
            if len(offsets) and offsets[-1] >= size:
                keep = offsets < size
                offsets, weights = offsets[keep], weights[keep]
            scores[offsets] += np.float32(weight) * weights  # offsets unique within a posting
            touched[offsets] = True
        return scores, touched

    def search(
        self, indices: np.ndarray, values: np.ndarray, mask: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best k allowed offsets (mask) by dot product with the query: (offsets, scores)."""
        scores, touched = self.scores(indices, values, len(mask))
        candidates = np.flatnonzero(touched & mask)
        if len(candidates) == 0 or k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        row = scores[candidates]
        best = dist.top_k(row, min(k, len(candidates)), True)
        return candidates[best], row[best]


def idf_weights(n: int, df: np.ndarray) -> np.ndarray:
    """Qdrant's idf, in float32: ln((n − df + 0.5) / (df + 0.5) + 1)."""
    n32 = np.float32(n)
    df32 = np.asarray(df, dtype=np.float32)
    half = np.float32(0.5)
    return np.log((n32 - df32 + half) / (df32 + half) + np.float32(1.0)).astype(np.float32)


def dot(a: tuple, b: tuple) -> float | None:
    """Sparse dot product of two sorted (indices, values); None when no dimension is shared."""
    ai, av = a
    bi, bv = b
    common, ia, ib = np.intersect1d(ai, bi, assume_unique=True, return_indices=True)
    if len(common) == 0:
        return None
    return float(np.dot(np.asarray(av, np.float32)[ia], np.asarray(bv, np.float32)[ib]))
