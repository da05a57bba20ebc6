"""Points for the scale bench: the real minilm-75k set grown to N points by perturbed copies,
generated in chunks so neither the bench nor its ground truth ever holds all N vectors.

Why copies of real vectors and not random ones: the real set's neighbourhoods (dense topics,
near-duplicates, a median top-1 cosine of 0.65) are what make HNSW recall hard; random clusters
either are much easier or much harder. Copy 0 is the real set as shipped (float16 cast to
float32). Copy c ≥ 1 of row j is point ``c * R + j`` (R = 75,000):

    normalise(base[j] + s * d_nn * g / sqrt(dim)),   g ~ N(0, I),  s ~ U(S_LOW, S_HIGH) per row

where ``d_nn`` is the set's median nearest-neighbour distance (measured on a sample), so a copy
lies nearer to its original than the original's nearest real neighbour, at a spread that varies
row by row (non-uniform density). Every copy draws from ``default_rng([seed, c])``, so any chunk
is reproduced alone and a rerun gives the same points.

Payload: keyword ``f10`` / ``f01`` = "y" on about 10% / 1% of the points, "n" elsewhere (the 75k
bench's filter fields, bench/ours.py): on copy 0 the dataset's own allow-lists, on copy c ≥ 1
a Bernoulli draw from a generator of the copy's own. The queries are the dataset's held-out queries.
Ground truth is exact (numpy inner product, merged chunk by chunk), unfiltered and per filter,
cached under ``--cache`` keyed by (points, seed, queries, generator version).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GENERATOR_VERSION = 1
S_LOW, S_HIGH = 0.25, 0.75
FILTERS = {"10": ("f10", 0.10), "01": ("f01", 0.01)}
GT_K = 100


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32, copy=False)


@dataclass
class Chunk:
    start: int  # id of the first row
    vectors: np.ndarray  # float32 (rows, dim), unit length
    flags: dict[str, np.ndarray]  # filter key ("10" / "01") -> bool (rows,)


class ScaleSet:
    """The real set plus the recipe for its copies; chunks are made on demand."""

    def __init__(self, path: Path, points: int, seed: int, queries: int) -> None:
        self.path = path
        self.points = points
        self.seed = seed
        self.base = np.load(path / "base.f16.npy").astype(np.float32)
        self.queries = np.load(path / "query.f16.npy").astype(np.float32)[:queries]
        self.real = int(self.base.shape[0])
        self.allow = {}
        for key in FILTERS:
            mask = np.zeros(self.real, dtype=bool)
            mask[np.load(path / f"allow{key}.i32.npy")] = True
            self.allow[key] = mask
        self.d_nn = self._nn_distance() if points > self.real else 0.0

    @property
    def dim(self) -> int:
        return int(self.base.shape[1])

    def _nn_distance(self, sample: int = 2000) -> float:
        """Median Euclidean distance from a real row to its nearest other real row."""
        rng = np.random.default_rng([self.seed, 10**6])
        rows = rng.choice(self.real, size=min(sample, self.real), replace=False)
        best = np.full(len(rows), -np.inf, dtype=np.float32)
        for lo in range(0, self.real, 25_000):
            scores = self.base[rows] @ self.base[lo : lo + 25_000].T
            own = (rows >= lo) & (rows < lo + 25_000)
            scores[np.nonzero(own)[0], rows[own] - lo] = -np.inf
            best = np.maximum(best, scores.max(axis=1))
        norms = np.linalg.norm(self.base[rows], axis=1)
        dist = np.sqrt(np.maximum(0.0, 2 * norms**2 - 2 * best))  # rows are ~unit length
        return float(np.median(dist))

    def chunks(self) -> Iterator[Chunk]:
        """Copy by copy (R rows each, the last one cut at N), in id order."""
        copies = -(-self.points // self.real)
        for c in range(copies):
            rows = min(self.real, self.points - c * self.real)
            yield self.chunk(c, rows)

    def chunk(self, copy: int, rows: int) -> Chunk:
        if copy == 0:
            return Chunk(0, self.base[:rows], self.flags(0, rows))
        rng = np.random.default_rng([self.seed, copy])
        noise = rng.standard_normal((self.real, self.dim), dtype=np.float32)
        spread = rng.uniform(S_LOW, S_HIGH, size=(self.real, 1)).astype(np.float32)
        noise *= spread * (self.d_nn / np.sqrt(self.dim))
        noise += self.base
        vectors = _normalise(noise)[:rows]
        return Chunk(copy * self.real, vectors, self.flags(copy, rows))

    def flags(self, copy: int, rows: int) -> dict[str, np.ndarray]:
        """The filter flags of one copy, from a stream of their own (payloads are made apart
        from the vectors, without generating them)."""
        if copy == 0:
            return {k: m[:rows] for k, m in self.allow.items()}
        rng = np.random.default_rng([self.seed, copy, 1])
        return {k: (rng.random(self.real) < share)[:rows] for k, (_, share) in FILTERS.items()}

    def payloads(self) -> Iterator[dict[str, str]]:
        """One payload per point, in id order: ``f10`` / ``f01`` "y" or "n"."""
        copies = -(-self.points // self.real)
        for c in range(copies):
            rows = min(self.real, self.points - c * self.real)
            flags = self.flags(c, rows)
            for a, b in zip(flags["10"].tolist(), flags["01"].tolist(), strict=True):
                yield {"f10": "y" if a else "n", "f01": "y" if b else "n"}

    def describe(self) -> dict:
        return {
            "dataset": str(self.path),
            "points": self.points,
            "real_points": self.real,
            "copies": -(-self.points // self.real),
            "seed": self.seed,
            "generator_version": GENERATOR_VERSION,
            "d_nn": self.d_nn,
            "spread": [S_LOW, S_HIGH],
            "queries": int(self.queries.shape[0]),
        }


def _merge(best_ids, best_scores, ids: np.ndarray, scores: np.ndarray, k: int):
    """Running top-k per query: merge (nq, k) bests with a new block's scores."""
    kk = min(k, scores.shape[1])
    if kk == 0:
        return best_ids, best_scores
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    cand_scores = np.take_along_axis(scores, part, axis=1)
    cand_ids = ids[part]
    if best_ids is not None:
        cand_scores = np.concatenate([best_scores, cand_scores], axis=1)
        cand_ids = np.concatenate([best_ids, cand_ids], axis=1)
    order = np.argsort(-cand_scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(cand_ids, order, axis=1), np.take_along_axis(cand_scores, order, 1)


def ground_truth(ds: ScaleSet, cache: Path | None) -> tuple[dict[str, np.ndarray], dict]:
    """Exact top-100 ids per query: key None → unfiltered ("all"), "10", "01"; from the cache
    when a file for the same (points, seed, queries, version) is there."""
    name = f"gt-n{ds.points}-s{ds.seed}-q{len(ds.queries)}-v{GENERATOR_VERSION}.npz"
    if cache is not None and (cache / name).exists():
        with np.load(cache / name) as f:
            gts = {k: f[k] for k in ("all", "10", "01")}
            counts = {k: int(f[f"count{k}"]) for k in FILTERS}
        return gts, {"cached": str(cache / name), "allowed": counts, "seconds": 0.0}
    t0 = time.perf_counter()
    best: dict[str, tuple] = {k: (None, None) for k in ("all", "10", "01")}
    counts = dict.fromkeys(FILTERS, 0)
    for chunk in ds.chunks():
        ids = np.arange(chunk.start, chunk.start + len(chunk.vectors), dtype=np.int64)
        for lo in range(0, len(ids), 25_000):
            vec = chunk.vectors[lo : lo + 25_000]
            scores = ds.queries @ vec.T
            block = ids[lo : lo + 25_000]
            best["all"] = _merge(*best["all"], block, scores, GT_K)
            for key in FILTERS:
                mask = chunk.flags[key][lo : lo + 25_000]
                best[key] = _merge(*best[key], block[mask], scores[:, mask], GT_K)
        for key in FILTERS:
            counts[key] += int(chunk.flags[key].sum())
    gts = {k: v[0].astype(np.int64) for k, v in best.items()}
    seconds = time.perf_counter() - t0
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        extra = {f"count{k}": np.int64(v) for k, v in counts.items()}
        np.savez(cache / name, **gts, **extra)
    return gts, {"cached": None, "allowed": counts, "seconds": seconds}
