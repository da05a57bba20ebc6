"""Fusion of several ranked lists of points into one, as Qdrant's query API does it.

* RRF: a point at 0-based position ``p`` of a list contributes ``1 / ((p + 1) / w + k - 1)``,
  which is ``1 / (p + k)`` for the default weight ``w = 1``; the default ``k`` is 2.
* DBSF: each list's scores are mapped to [0, 1]-ish by ``(s - (mean - 3σ)) / 6σ`` (σ is the sample
  standard deviation; a single point gets 0.5, equal scores get 0.5), then summed per point.

Both return the points best first; equal scores in id order (as a search orders ties).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from node.ids import id_sort_key
from node.shard_search import PointRecord

DEFAULT_RRF_K = 2


def rrf(
    lists: list[list[PointRecord]], k: int = DEFAULT_RRF_K, weights: list[float] | None = None
) -> list[PointRecord]:
    """Reciprocal rank fusion of ranked lists (only positions matter)."""
    if weights is None:
        weights = [1.0] * len(lists)
    found: dict = {}
    for records, weight in zip(lists, weights, strict=False):
        for pos, record in enumerate(records):
            if weight <= 0:
                contribution = np.float32(0.0)
            else:
                contribution = np.float32(1.0) / (
                    np.float32(pos + 1) / np.float32(weight) + np.float32(k) - np.float32(1.0)
                )
            if record.id in found:
                found[record.id].score = np.float32(found[record.id].score + contribution)
            else:
                found[record.id] = replace(record, score=np.float32(contribution))
    return _best_first(found)


def _distribution_normalized(records: list[PointRecord]) -> list[float]:
    scores = np.asarray([float(r.score) for r in records], dtype=np.float32)
    if len(scores) == 0:
        return []
    if len(scores) == 1:
        return [np.float32(0.5)]
    mean = scores.mean(dtype=np.float64)
    std = float(np.sqrt(scores.astype(np.float64).var(ddof=1)))
    low, high = np.float32(mean - 3.0 * std), np.float32(mean + 3.0 * std)
    if low == high:
        return [np.float32(0.5)] * len(scores)
    return list((scores - low) / (high - low))


def dbsf(lists: list[list[PointRecord]]) -> list[PointRecord]:
    """Distribution-based score fusion: normalize each list by mean ± 3σ, sum per point."""
    found: dict = {}
    for records in lists:
        for record, score in zip(records, _distribution_normalized(records), strict=False):
            if record.id in found:
                found[record.id].score = np.float32(found[record.id].score + score)
            else:
                found[record.id] = replace(record, score=np.float32(score))
    return _best_first(found)


def _best_first(found: dict) -> list[PointRecord]:
    return sorted(found.values(), key=lambda r: (-float(r.score), id_sort_key(r.id)))
