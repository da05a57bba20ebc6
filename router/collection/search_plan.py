"""From parsed queries to shard search requests, and from shard answers back to one answer.

``Query`` is what the REST and gRPC faces parse a nearest-neighbour request into; the collection
sends the same ``SearchRequest`` list to every shard and merges the answers here. The query value
is read by the kind of the vector it targets: dense, multivector (MaxSim), or sparse (a sparse
vector or a BM25 document; with the idf modifier, the idf of the whole collection is applied
here, once, so every shard scores alike). ``score_records`` scores given points the same way
(the query engine's re-scoring of prefetched candidates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from node import distance as dist
from node.errors import ServiceError, WrongInput
from node.ids import PointId, id_sort_key
from node.multivector import maxsim_pair
from node.shard_config import ShardConfig
from node.shard_search import PointRecord, SearchRequest
from node.sparse_index import dot as sparse_dot
from node.sparse_index import idf_weights
from node.vector_input import prepare_named, prepare_sparse
from router.collection.replica_set import ReplicaSet


class PlannedCollection(Protocol):
    """What planning and merging need of a collection: its config, its shards, and the stored
    vector of a point (a query by id). ``router.collection.collection.Collection`` is one."""

    shard_config: ShardConfig
    shards: list[ReplicaSet]

    def query_vector(self, using: str, point_id: PointId) -> np.ndarray: ...


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
    quantization: dict | None = None  # params.quantization: {ignore, rescore, oversampling}


def build_requests(collection: PlannedCollection, queries: list[Query]) -> list[SearchRequest]:
    """Parsed queries → the shard-level search requests (same for every shard).

    `Query.vector` is interpreted by the kind of the vector `Query.using`: a dense vector, a
    multivector (matrix), or a sparse vector / document (local BM25) for a sparse name."""
    config = collection.shard_config
    requests = []
    for q in queries:
        exclude: tuple = ()
        if q.point_id is not None:
            raw = collection.query_vector(q.using, q.point_id)
            exclude = (q.point_id,)
        else:
            raw = q.vector
        common = dict(
            vector_name=q.using,
            limit=q.offset + q.limit,
            filter=q.filter,
            exact=q.exact,
            hnsw_ef=q.hnsw_ef,
            score_threshold=q.score_threshold,
            with_payload=q.with_payload,
            with_vector=q.with_vector,
            exclude_ids=exclude,
            quantization=q.quantization,
        )
        params = config.vectors.get(q.using)
        if type(raw) is np.ndarray and (params is None or params.multivector):
            raw = raw.tolist()  # a gRPC query's array: only a plain dense vector takes it as is
        if params is None:
            if q.using not in config.sparse_vectors:
                raise WrongInput(f"Not existing vector name error: {q.using}")
            indices, values = sparse_query(collection, q.using, raw)
            requests.append(SearchRequest(vectors=_NO_VECTORS, sparse=(indices, values), **common))
            continue
        if params.multivector:
            matrix = _multi_query(config, q.using, raw)
            requests.append(SearchRequest(vectors=_NO_VECTORS, multi=matrix, **common))
            continue
        if q.point_id is not None:
            vector = np.asarray(raw).astype(np.float32)
        else:
            vector = np.asarray(prepare_named(config, q.using, raw, query=True), dtype=np.float32)
        requests.append(SearchRequest(vectors=vector.reshape(1, -1), **common))
    return requests


_NO_VECTORS = np.empty((1, 0), dtype=np.float32)


def _multi_query(config, using: str, raw) -> np.ndarray:
    """A query matrix for a multivector name: prepared as stored, then float32. A single
    vector is taken as a matrix of one row."""
    if isinstance(raw, np.ndarray) and raw.ndim == 2:
        return raw.astype(np.float32)
    if isinstance(raw, list) and raw and not isinstance(raw[0], (list, tuple, np.ndarray)):
        raw = [raw]
    return prepare_named(config, using, raw, query=True).astype(np.float32)


def sparse_query(collection: PlannedCollection, using: str, raw) -> tuple[np.ndarray, np.ndarray]:
    """A sparse query (vector, stored vector or document) → (indices, values) with the
    collection's idf applied when the vector's modifier is idf."""
    config = collection.shard_config
    indices, values = prepare_named(config, using, raw, query=True)
    params = config.sparse_vectors[using]
    if params.idf and len(indices):
        n, df = _sparse_stats(collection, using, indices)
        values = (values.astype(np.float32) * idf_weights(n, df)).astype(np.float32)
    return indices, values.astype(np.float32)


def _sparse_stats(
    collection: PlannedCollection, using: str, indices: np.ndarray
) -> tuple[int, np.ndarray]:
    """Points holding `using` and per-dimension document frequencies, over every shard."""
    total_n = 0
    total_df = np.zeros(len(indices), dtype=np.int64)

    def stats_of(replica):
        stats = getattr(replica, "sparse_stats", None)
        if stats is None:  # a LocalReplica: ask its shard
            shard = getattr(replica, "shard", None)
            if shard is None:
                raise ServiceError(
                    f"idf statistics of `{using}` cannot be read from a remote replica yet"
                )
            stats = shard.sparse_stats
        return stats(using, indices)

    for shard in collection.shards:
        read = getattr(shard, "read", None)
        n, df = read(stats_of) if read is not None else stats_of(shard.reader)
        total_n += n
        total_df += df
    return total_n, total_df


def score_records(
    collection: PlannedCollection, using: str, raw_query, records: list[PointRecord]
) -> np.ndarray:
    """Scores of `records` (which carry vector `using` in record.vectors) against a query of any
    vector kind, exactly as a search on `using` scores them (float32):

    * dense: the collection's distance (Cosine on normalized vectors);
    * sparse: dot product, with the collection's idf when the modifier is idf; a record that
      shares no dimension with the query gets NaN (a search never returns it, as in Qdrant);
    * multivector: MaxSim in the collection's distance.

    Records without the vector get NaN.
    """
    config = collection.shard_config
    out = np.full(len(records), np.nan, dtype=np.float32)
    rows = [i for i, r in enumerate(records) if r.vectors and r.vectors.get(using) is not None]
    params = config.vectors.get(using)
    if params is None:
        if using not in config.sparse_vectors:
            raise WrongInput(f"Not existing vector name error: {using}")
        query = sparse_query(collection, using, raw_query)
        half = config.sparse_vectors[using].datatype == "float16"
        for i in rows:
            indices, values = prepare_sparse(records[i].vectors[using])
            if half:
                values = values.astype(np.float16).astype(np.float32)
            score = sparse_dot(query, (indices, values))
            if score is not None:
                out[i] = score
        return out
    if params.multivector:
        query = _multi_query(config, using, raw_query)
        for i in rows:
            out[i] = maxsim_pair(params.distance, query, records[i].vectors[using])
        return out
    query = prepare_named(config, using, raw_query, query=True).astype(np.float32)
    if rows:
        stored = np.vstack([np.asarray(records[i].vectors[using], dtype=np.float32) for i in rows])
        out[rows] = dist.score_matrix(params.distance, stored, query.reshape(1, -1))[0]
    return out


def higher_is_better(collection: PlannedCollection, using: str) -> bool:
    """Whether higher scores are better for searches on `using` (sparse: always)."""
    params = collection.shard_config.vectors.get(using)
    return True if params is None else dist.higher_is_better(params.distance)


def merge_results(
    collection: PlannedCollection, queries: list[Query], per_shard: list
) -> list[list[PointRecord]]:
    """Each shard's answers → one answer per query, ordered as one shard would order them."""
    if len(per_shard) == 1:
        return [
            records[q.offset : q.offset + q.limit]
            for q, records in zip(queries, per_shard[0], strict=True)
        ]
    results = []
    for i, q in enumerate(queries):
        merged = [r for shard_results in per_shard for r in shard_results[i]]
        higher = higher_is_better(collection, q.using)
        sign = -1.0 if higher else 1.0
        merged.sort(key=lambda r: (sign * float(r.score), id_sort_key(r.id)))
        results.append(merged[q.offset : q.offset + q.limit])
    return results
