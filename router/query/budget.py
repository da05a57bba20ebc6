"""The memory a read request's answer will take, estimated before any work starts.

Every single size in a read is harmless (a ``limit`` past the number of points is clamped by
the shards), but their product is not: a batch of 10,000 queries with ``limit`` 1,000 is ten
million scored points, gigabytes of Python objects and JSON, minutes of work. Qdrant sets no
bound here; Tessera refuses a read whose estimate exceeds ``service.max_request_memory_mb``,
with a 400 naming both numbers, before it allocates anything.

The estimate counts rows (scored points: each query's ``limit + offset``, its prefetches', a
group request's ``limit × group_size``, a matrix's ``sample × limit``), clamped to the points the
collection holds, times what one row costs as the engine and the faces hold it.
"""

from __future__ import annotations

from typing import Any

from node.errors import BadRequest
from router.collection.collection import Collection
from router.query.stages import Request, Stage

#: bytes of one scored point without vectors: the record, its score, its JSON
ROW_BYTES = 400
#: bytes per dimension of a vector that is returned (a Python float in a list, then JSON)
VECTOR_BYTES_PER_DIM = 32
#: bytes of a payload that is returned (a typical small document)
PAYLOAD_BYTES = 1024


def _stage_rows(stage: Stage) -> int:
    return stage.limit + sum(_stage_rows(p) for p in stage.prefetch)


def query_rows(q: Any) -> int:
    """Rows one parsed query (``Query`` or engine ``Request``) holds at its largest."""
    if isinstance(q, Request):
        return q.offset + _stage_rows(q.stage)
    return getattr(q, "offset", 0) + getattr(q, "limit", 10)


def row_bytes(collection: Collection, with_payload: Any, with_vector: Any) -> int:
    size = ROW_BYTES
    if with_payload:
        size += PAYLOAD_BYTES
    if with_vector:
        dims = sum(p.size for p in collection.shard_config.vectors.values())
        size += VECTOR_BYTES_PER_DIM * max(dims, 1)
    return size


def check(collection: Collection, parts: list[tuple[int, int]], limit_mb: int | None) -> None:
    """Refuse the read when ``parts`` — (rows, bytes per row) for each query — need more than
    ``limit_mb``. Rows are clamped to the collection's points only when the plain sum is over
    the limit, so an ordinary request costs no count."""
    if not limit_mb:
        return
    budget = limit_mb * 1024 * 1024
    if sum(rows * size for rows, size in parts) <= budget:
        return
    points = collection.info()["points_count"] or 0
    needed = sum(min(rows, points) * size for rows, size in parts)
    if needed > budget:
        raise BadRequest(
            f"the answer to this request would need about {needed // (1024 * 1024)} MB, more "
            f"than this node allows one request (service.max_request_memory_mb = {limit_mb}); "
            "ask for fewer queries, a smaller limit, or no vectors and payload"
        )


def check_queries(collection: Collection, queries: list, limit_mb: int | None) -> None:
    check(collection, [(query_rows(q), row_bytes(collection, q.with_payload, q.with_vector))
                       for q in queries], limit_mb)
