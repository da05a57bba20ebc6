"""Multivectors (``multivector_config: {comparator: max_sim}``): a matrix of vectors per point,
scored by MaxSim, exactly (no graph).

MaxSim as Qdrant defines it: for each query vector, the best similarity over the point's
vectors, summed over the query vectors. Similarities are Qdrant's internal ones (dot product
for Dot and Cosine, with Cosine rows normalized when stored; minus the squared distance for
Euclid; minus the L1 distance for Manhattan), and the sum is then turned into the score the
API shows as for single vectors: √|sum| for Euclid, |sum| for Manhattan (lower is better).

One ``MultiStore`` per named multivector per shard keeps every point's rows back to back in
the storage datatype, with a (start, count) per shard offset; rows are appended, never
rewritten (a changed point gets a new offset), and vacuum copies the live ones. It is saved
with the shard state.
"""

from __future__ import annotations

import numpy as np

from node import distance as dist

_MIN_ROWS = 256
_CHUNK_ROWS = 1 << 16  # score at most this many stored rows at once (bounds the temporaries)


class MultiStore:
    def __init__(self, dim: int, dtype: str) -> None:
        self.dim = dim
        self.dtype = np.dtype(dtype)
        self.rows = np.zeros((_MIN_ROWS, dim), dtype=self.dtype)
        self.n_rows = 0
        self.starts = np.zeros(1024, dtype=np.int64)
        self.counts = np.zeros(1024, dtype=np.int64)

    # -- persistence (pickled with the shard state) ------------------------------------------
    def __getstate__(self) -> dict:
        return {
            "dim": self.dim,
            "dtype": self.dtype.str,
            "rows": self.rows[: self.n_rows].copy(),
            "starts": self.starts.copy(),
            "counts": self.counts.copy(),
        }

    def __setstate__(self, data: dict) -> None:
        self.dim = data["dim"]
        self.dtype = np.dtype(data["dtype"])
        self.rows = data["rows"]
        self.n_rows = len(self.rows)
        self.starts = data["starts"]
        self.counts = data["counts"]

    # -- writes ------------------------------------------------------------------------------
    def add(self, offset: int, matrix: np.ndarray) -> None:
        if offset >= len(self.starts):
            size = max(offset + 1, 2 * len(self.starts))
            self.starts = _grow(self.starts, size)
            self.counts = _grow(self.counts, size)
        n = len(matrix)
        if self.n_rows + n > len(self.rows):
            grown = np.empty((max(self.n_rows + n, 2 * len(self.rows)), self.dim), self.dtype)
            grown[: self.n_rows] = self.rows[: self.n_rows]
            self.rows = grown
        self.rows[self.n_rows : self.n_rows + n] = matrix
        self.starts[offset] = self.n_rows
        self.counts[offset] = n
        self.n_rows += n

    def get(self, offset: int) -> np.ndarray | None:
        if offset >= len(self.counts) or self.counts[offset] == 0:
            return None
        start = self.starts[offset]
        return self.rows[start : start + self.counts[offset]].copy()

    def compacted(self, live_offsets: np.ndarray) -> MultiStore:
        """A new store holding the vectors of `live_offsets`, at offsets 0, 1, 2, …"""
        out = MultiStore(self.dim, self.dtype.str)
        for i, offset in enumerate(np.asarray(live_offsets).tolist()):
            matrix = self.get(offset)
            if matrix is not None:
                out.add(i, matrix)
        return out

    # -- scoring -----------------------------------------------------------------------------
    def maxsim(self, query: np.ndarray, offsets: np.ndarray, distance: str) -> np.ndarray:
        """Scores of the points at `offsets` (each must hold a vector) against a query matrix
        (already prepared for the distance), as the API shows them."""
        offsets = np.asarray(offsets, dtype=np.int64)
        out = np.empty(len(offsets), dtype=np.float32)
        query = np.asarray(query, dtype=np.float32)
        pos = 0
        while pos < len(offsets):
            # a chunk of points whose rows together stay under _CHUNK_ROWS (at least one point)
            counts = self.counts[offsets[pos:]]
            cum = np.cumsum(counts)
            end = pos + max(1, int(np.searchsorted(cum, _CHUNK_ROWS, side="right")))
            chunk = offsets[pos:end]
            out[pos:end] = self._maxsim_chunk(query, chunk, distance)
            pos = end
        return out

    def _maxsim_chunk(self, query: np.ndarray, offsets: np.ndarray, distance: str) -> np.ndarray:
        starts = self.starts[offsets]
        counts = self.counts[offsets]
        seg = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rows_idx = np.repeat(starts - seg, counts) + np.arange(int(counts.sum()))
        rows = self.rows[rows_idx].astype(np.float32, copy=False)
        sims = similarity(distance, query, rows)  # (m, total rows)
        best = np.maximum.reduceat(sims, seg, axis=1)  # (m, points)
        total = np.zeros(best.shape[1], dtype=np.float32)
        for row in best:  # summed in query order, in float32, as Qdrant does
            total += row
        return postprocess(distance, total)


def similarity(distance: str, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Qdrant's internal similarity (higher is better) of every query row to every stored row."""
    if distance in (dist.COSINE, dist.DOT):
        return queries @ rows.T
    if distance == dist.EUCLID:
        return -np.stack(
            [np.square(rows - q).sum(axis=1, dtype=np.float32) for q in queries]
        ).astype(np.float32, copy=False)
    return -np.stack([np.abs(rows - q).sum(axis=1, dtype=np.float32) for q in queries]).astype(
        np.float32, copy=False
    )


def postprocess(distance: str, scores: np.ndarray) -> np.ndarray:
    if distance == dist.EUCLID:
        return np.sqrt(np.abs(scores)).astype(np.float32)
    if distance == dist.MANHATTAN:
        return np.abs(scores).astype(np.float32)
    return scores.astype(np.float32, copy=False)


def maxsim_pair(distance: str, query: np.ndarray, matrix: np.ndarray) -> float:
    """MaxSim of one query matrix against one point's matrix (the API's score)."""
    sims = similarity(distance, np.asarray(query, np.float32), np.asarray(matrix, np.float32))
    total = np.zeros(1, dtype=np.float32)
    for row in sims:
        total += row.max()
    return float(postprocess(distance, total)[0])


def _grow(array: np.ndarray, size: int) -> np.ndarray:
    grown = np.zeros(size, dtype=array.dtype)
    grown[: len(array)] = array
    return grown
