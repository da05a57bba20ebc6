"""Internal results → gRPC response messages.

The inputs are what the REST face serializes: ``PointRecord``s, ``UpdateResult``s, the dict of
``Collection.info()`` (its ``config`` in Qdrant's stored JSON shape) and the lists of the table
of contents. The shape decisions the REST face makes (a single unnamed vector vs named vectors)
are taken from ``router.api.rest.serialize`` so both faces show the same thing; this package only
re-encodes that JSON shape as protobuf.

Vectors are written in the ``VectorsOutput``/``VectorOutput`` oneof form (``dense``, ``sparse``,
``multi_dense``) with the deprecated flat fields (``data``, ``indices``, ``vectors_count``) left
empty, as Qdrant 1.19 does; qdrant-client reads the oneof first.

The conversions live by message family: ``values`` (payload values, ids, vectors), ``records``
(points, hits, groups, update results), ``configs`` (collection configs and info, field by field)
and ``responses`` (one per RPC); the enum numbers are in ``router.api.grpc.enums``. Underscored
names are private to the package: its modules import them from one another, nothing outside
does. The package re-exports the conversions ``services`` calls.
"""

from __future__ import annotations

from router.api.grpc.to_grpc.records import batch_results, groups_result, scored_points, shard_key
from router.api.grpc.to_grpc.responses import (
    aliases_response,
    collection_cluster_info_response,
    collection_exists_response,
    collection_info_response,
    collection_operation_response,
    count_response,
    facet_response,
    get_response,
    health_check_reply,
    list_collections_response,
    matrix_offsets_response,
    matrix_pairs_response,
    points_operation_response,
    query_batch_response,
    query_response,
    scroll_response,
    search_batch_response,
    search_response,
    update_batch_response,
)

__all__ = [
    "aliases_response",
    "batch_results",
    "collection_cluster_info_response",
    "collection_exists_response",
    "collection_info_response",
    "collection_operation_response",
    "count_response",
    "facet_response",
    "get_response",
    "groups_result",
    "health_check_reply",
    "list_collections_response",
    "matrix_offsets_response",
    "matrix_pairs_response",
    "points_operation_response",
    "query_batch_response",
    "query_response",
    "scored_points",
    "scroll_response",
    "search_batch_response",
    "search_response",
    "shard_key",
    "update_batch_response",
]
