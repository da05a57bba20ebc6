"""From parsed queries to shard search requests, and from shard answers back to one answer.

``Query`` is what the REST and gRPC faces parse a nearest-neighbour request into; the collection
sends the same ``SearchRequest`` list to every shard and merges the answers here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from node import distance as dist
from node.errors import WrongInput
from node.ids import PointId, id_sort_key
from node.shard_search import PointRecord, SearchRequest
from node.vector_input import prepare_named

if TYPE_CHECKING:
    from router.collection import Collection


@dataclass
class Query:
    """A nearest-neighbour query after parsing: a raw vector or a point id to take one from."""

    using: str
    vector: Any = None
    point_id: PointId | None = None
    filter: dict | None = None
    limit: int = 10
    offset: int = 0
    exact: bool = False
    hnsw_ef: int | None = None
    score_threshold: float | None = None
    with_payload: Any = False
    with_vector: Any = False


def build_requests(collection: Collection, queries: list[Query]) -> list[SearchRequest]:
    """Parsed queries → the shard-level search requests (same for every shard)."""
    requests = []
    for q in queries:
        params = collection.shard_config.vectors.get(q.using)
        if params is None:
            if q.using in collection.shard_config.sparse_vectors:
                raise WrongInput(f"Sparse search on `{q.using}` is not supported yet")
            raise WrongInput(f"Not existing vector name error: {q.using}")
        exclude: tuple = ()
        if q.point_id is not None:
            vector = collection.query_vector(q.using, q.point_id).astype(np.float32)
            exclude = (q.point_id,)
        else:
            vector = prepare_named(collection.shard_config, q.using, q.vector).astype(np.float32)
        requests.append(
            SearchRequest(
                vector_name=q.using,
                vectors=vector.reshape(1, -1),
                limit=q.offset + q.limit,
                filter=q.filter,
                exact=q.exact,
                hnsw_ef=q.hnsw_ef,
                score_threshold=q.score_threshold,
                with_payload=q.with_payload,
                with_vector=q.with_vector,
                exclude_ids=exclude,
            )
        )
    return requests


def merge_results(
    collection: Collection, queries: list[Query], per_shard: list
) -> list[list[PointRecord]]:
    """Each shard's answers → one answer per query, ordered as one shard would order them."""
    if len(per_shard) == 1:
        return [records[q.offset : q.offset + q.limit] for q, records in zip(queries, per_shard[0])]
    results = []
    for i, q in enumerate(queries):
        merged = [r for shard_results in per_shard for r in shard_results[i]]
        higher = dist.higher_is_better(collection.shard_config.vectors[q.using].distance)
        sign = -1.0 if higher else 1.0
        merged.sort(key=lambda r: (sign * float(r.score), id_sort_key(r.id)))
        results.append(merged[q.offset : q.offset + q.limit])
    return results
