"""Scores of given points against a query vector, as the query engine re-scores candidates.

``score_records`` reports what a search would (distances for Euclid and Manhattan);
``similarities`` turns them into the raw metric Qdrant combines for recommend, discover and
context (higher is better: ``-d²`` for Euclid, ``-d`` for Manhattan).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from node import distance as dist
from node.errors import WrongInput
from node.shard_search import PointRecord
from router.collection import search_plan
from router.collection.collection import Collection


def as_raw(value: Any) -> Any:
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
    report them (distances for Euclid / Manhattan)."""
    if not records:
        return np.zeros(0, dtype=np.float32)
    return np.asarray(search_plan.score_records(collection, using, raw, records), dtype=np.float32)


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


