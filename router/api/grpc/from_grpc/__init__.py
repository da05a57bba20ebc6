"""gRPC request messages → the JSON-shaped dicts the REST face hands to ``router.operations``
and ``TableOfContent``.

Every function in this package is a pure conversion: it maps one protobuf message onto exactly
the JSON body Qdrant's REST API would take for the same request, and decides nothing. Whether a
value is allowed (a vector's dimension, a limit of 0, a query kind not supported yet) is left to
the code both faces share, so both answer with the same error. Only a message that cannot be
expressed as JSON at all (a oneof with nothing set where one is required) raises here, as
``BadRequest``.

Conventions:

* a field the client did not set (no presence, an empty repeated field or map) is left out of the
  dict, so the shared parser applies the same default as for a REST body without it;
* protobuf ``float`` (32 bit) fields become the shortest decimal that round-trips through float32
  (a client that sent ``0.1`` is seen as having sent ``0.1``, as over REST);
* payload values keep their kind: ``integer_value`` → ``int``, ``double_value`` → ``float``.

The conversions live by message family: ``values`` (payload values, ids, shard keys),
``vectors``, ``filters`` (conditions and selectors), ``configs`` (config-like messages field by
field), ``collection_ops``, ``point_ops`` and ``queries`` (the request bodies); ``common`` holds
the helpers they share, ``router.api.grpc.enums`` the enum names. Underscored names are private
to the package: its modules import them from one another, nothing outside does. The package
re-exports the request conversions ``services`` calls.
"""

from __future__ import annotations

from router.api.grpc.from_grpc.collection_ops import (
    alias_actions,
    cluster_operation,
    create_collection,
    create_field_index,
    create_shard_key,
    delete_field_index,
    update_collection,
    vector_name_config,
)
from router.api.grpc.from_grpc.point_ops import (
    clear_payload,
    count_points,
    delete_payload,
    delete_points,
    delete_vectors,
    facet_counts,
    get_points,
    scroll_points,
    set_payload,
    update_batch,
    update_vectors,
    upsert_points,
    wait,
)
from router.api.grpc.from_grpc.queries import (
    discover_points,
    query_batch,
    query_point_groups,
    query_points,
    recommend_point_groups,
    recommend_points,
    search_matrix_points,
    search_point_groups,
    search_points,
)
from router.api.grpc.from_grpc.values import shard_key

__all__ = [
    "vector_name_config",
    "cluster_operation",
    "alias_actions",
    "clear_payload",
    "count_points",
    "create_collection",
    "create_field_index",
    "create_shard_key",
    "delete_field_index",
    "delete_payload",
    "delete_points",
    "delete_vectors",
    "discover_points",
    "facet_counts",
    "get_points",
    "query_batch",
    "query_point_groups",
    "query_points",
    "recommend_point_groups",
    "recommend_points",
    "scroll_points",
    "search_matrix_points",
    "search_point_groups",
    "search_points",
    "set_payload",
    "shard_key",
    "update_batch",
    "update_collection",
    "update_vectors",
    "upsert_points",
    "wait",
]
