"""Benchmark data: a dataset directory in the minilm-75k layout, or a synthetic clustered set.

Every set ends up as float32, L2-normalised base and query vectors, the exact top-100 ids per
query (inner product), and two allow-lists (about 10% and 1% of the ids) with the exact top-100
among the allowed ids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GT_K = 100


@dataclass
class Dataset:
    name: str
    base: np.ndarray  # float32 (n, dim), normalised; point id = row
    queries: np.ndarray  # float32 (nq, dim), normalised
    gt: np.ndarray  # int32 (nq, GT_K)
    allow: dict[str, np.ndarray] = field(default_factory=dict)  # "10" / "01" -> sorted ids
    gt_allow: dict[str, np.ndarray] = field(default_factory=dict)  # same keys -> (nq, GT_K)
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.base.shape[0])

    @property
    def dim(self) -> int:
        return int(self.base.shape[1])

    def allowed_mask(self, key: str) -> np.ndarray:
        mask = np.zeros(self.n, dtype=bool)
        mask[self.allow[key]] = True
        return mask

    def payloads(self) -> list[dict]:
        """One payload per point: keyword fields ``f10`` / ``f01`` are "y" on allowed ids."""
        m10 = self.allowed_mask("10") if "10" in self.allow else np.zeros(self.n, bool)
        m01 = self.allowed_mask("01") if "01" in self.allow else np.zeros(self.n, bool)
        return [
            {"f10": "y" if a else "n", "f01": "y" if b else "n"}
            for a, b in zip(m10.tolist(), m01.tolist(), strict=True)
        ]


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


def exact_topk(
    base: np.ndarray, queries: np.ndarray, k: int = GT_K, allowed: np.ndarray | None = None
) -> np.ndarray:
    """Exact top-k ids by inner product (numpy, in chunks), optionally among ``allowed`` ids."""
    ids = np.arange(base.shape[0]) if allowed is None else np.asarray(allowed)
    rows = base if allowed is None else base[ids]
    k = min(k, rows.shape[0])
    out = np.empty((queries.shape[0], k), dtype=np.int32)
    chunk = 256
    for start in range(0, queries.shape[0], chunk):
        scores = queries[start : start + chunk] @ rows.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        out[start : start + chunk] = ids[np.take_along_axis(part, order, axis=1)]
    return out


def load_dir(path: Path, limit_points: int | None, max_queries: int | None) -> Dataset:
    """Read a dataset directory; with ``limit_points`` keep the first N points and recompute the
    ground truths (the shipped ones are for the full set)."""
    t0 = time.perf_counter()
    base = np.load(path / "base.f16.npy").astype(np.float32)
    queries = np.load(path / "query.f16.npy").astype(np.float32)
    notes = []
    # The set is documented as normalised; normalising again is a no-op up to f16 rounding, but
    # the shipped ground truth is on the plain float32 cast, so keep the vectors as they are.
    if max_queries:
        queries = queries[:max_queries]
    allow = {}
    gt_allow = {}
    for key in ("10", "01"):
        f = path / f"allow{key}.i32.npy"
        if f.exists():
            allow[key] = np.sort(np.load(f).astype(np.int64))
    if limit_points and limit_points < base.shape[0]:
        base = base[:limit_points]
        allow = {k: v[v < limit_points] for k, v in allow.items()}
        gt = exact_topk(base, queries)
        gt_allow = {k: exact_topk(base, queries, allowed=v) for k, v in allow.items()}
        notes.append(f"first {limit_points} of the points; ground truths recomputed with numpy")
    else:
        gt = np.load(path / "gt.i32.npy")[: queries.shape[0]]
        for key in allow:
            f = path / f"gt_allow{key}.i32.npy"
            if f.exists():
                gt_allow[key] = np.load(f)[: queries.shape[0]]
            else:
                gt_allow[key] = exact_topk(base, queries, allowed=allow[key])
    name = path.name + (f"[:{base.shape[0]}]" if limit_points else "")
    ds = Dataset(
        name, np.ascontiguousarray(base), np.ascontiguousarray(queries), gt, allow, gt_allow, notes
    )
    ds.notes.append(f"loaded in {time.perf_counter() - t0:.1f} s")
    return ds


def synthetic(
    n: int = 20_000, dim: int = 384, nq: int = 1000, clusters: int = 200, seed: int = 7
) -> Dataset:
    """Clustered unit vectors (points scattered around random centres), queries from the same
    clusters but not in the base; exact ground truth by numpy; random 10% / 1% allow-lists."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    centres = normalise(rng.standard_normal((clusters, dim), dtype=np.float32))
    # Cluster sizes vary (Zipf-like), as real embedding sets have a few dense topics. The noise
    # is wide enough that HNSW recall at ef 32/64/128 is near the real minilm-75k figures.
    weights = 1.0 / np.arange(1, clusters + 1) ** 0.7
    weights /= weights.sum()

    def draw(count: int) -> np.ndarray:
        which = rng.choice(clusters, size=count, p=weights)
        noise = rng.standard_normal((count, dim), dtype=np.float32) / np.sqrt(dim)
        spread = rng.uniform(1.5, 2.5, size=(count, 1)).astype(np.float32)
        return normalise(centres[which] + spread * noise)

    base = draw(n)
    queries = draw(nq)
    gt = exact_topk(base, queries)
    allow = {
        "10": np.sort(rng.choice(n, size=max(1, n // 10), replace=False)),
        "01": np.sort(rng.choice(n, size=max(1, n // 100), replace=False)),
    }
    gt_allow = {k: exact_topk(base, queries, allowed=v) for k, v in allow.items()}
    ds = Dataset(f"synthetic-{n}x{dim}", base, queries, gt, allow, gt_allow)
    ds.notes.append(
        f"generated (seed {seed}, {clusters} clusters) in {time.perf_counter() - t0:.1f} s"
    )
    return ds


def recall_at(found: list[list[int]] | np.ndarray, gt: np.ndarray, k: int = 10) -> float:
    """Mean |found[:k] ∩ gt[:k]| / k over queries (k capped by how many exist)."""
    total = 0.0
    for row, truth in zip(found, gt, strict=True):
        want = set(truth[:k].tolist())
        got = set(list(row)[:k])
        total += len(want & got) / max(1, len(want))
    return total / max(1, len(gt))
