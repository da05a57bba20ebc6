"""Strict mode: the limits of a collection's ``strict_mode_config``, enforced.

The limits travel in the collection config (through Raft), so every node of a cluster builds
the same `StrictMode` for a collection; the rate buckets are per node, as Qdrant's are per
replica. A collection without strict mode has ``Collection.strict = None``: the read and write
paths test that one attribute and do nothing else.

Violations are Qdrant's: 403 Forbidden with ``<what>. Help: <how to fix>``, naming the limit
and the value; a used-up rate is 429. Every check runs before anything is read or written.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from node.errors import Forbidden, RateLimited
from router.collection import filter_keys

_DATATYPE_BYTES = {"float32": 4, "float16": 2, "uint8": 1}


def _refuse(error: str, solution: str) -> Forbidden:
    return Forbidden(f"{error}. Help: {solution}")


def _number(value: float) -> str:
    """A number as Qdrant prints it: 3.0 as 3, 2.5 as 2.5."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_limit(value: float | None, limit: float | None, name: str) -> None:
    """Qdrant's check of one numeric limit: ``value`` may not exceed ``limit``."""
    if limit is None or value is None or value <= limit:
        return
    shown = _number(limit)
    raise _refuse(f'Limit exceeded {_number(value)} > {shown} for "{name}"',
                  f'Reduce the "{name}" parameter to or below {shown}.')


class TokenBucket:
    """``per_minute`` tokens a minute, refilled continuously, at most ``per_minute`` held;
    the bucket starts full."""

    def __init__(self, per_minute: int, kind: str) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.kind = kind
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self, cost: int) -> None:
        if cost > self.capacity:
            raise RateLimited(f"{self.kind} rate limit exceeded, operation cost {cost} is "
                              f"larger than the rate limit capacity {int(self.capacity)}")
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= cost:
                self.tokens -= cost
                return
            available = self.tokens
        retry = math.ceil((cost - available) / self.rate)
        raise RateLimited(f"{self.kind} rate limit exceeded: Operation requires {cost} tokens "
                          f"but only {available:.1f} were available. Retry after {retry}s")


class StrictMode:
    """One collection's enabled strict mode."""

    def __init__(self, config: dict) -> None:
        get = config.get
        self.max_query_limit = get("max_query_limit")
        self.max_timeout = get("max_timeout")
        self.unindexed_retrieve = get("unindexed_filtering_retrieve")
        self.unindexed_update = get("unindexed_filtering_update")
        self.max_hnsw_ef = get("search_max_hnsw_ef")
        self.allow_exact = get("search_allow_exact")
        self.max_oversampling = get("search_max_oversampling")
        self.upsert_max_batchsize = get("upsert_max_batchsize")
        self.search_max_batchsize = get("search_max_batchsize")
        self.max_vector_bytes = get("max_collection_vector_size_bytes")
        self.max_payload_bytes = get("max_collection_payload_size_bytes")
        self.max_points = get("max_points_count")
        self.filter_max_conditions = get("filter_max_conditions")
        self.condition_max_size = get("condition_max_size")
        self.max_payload_indexes = get("max_payload_index_count")
        self.multivector = {name: c.get("max_vectors")
                            for name, c in (get("multivector_config") or {}).items()
                            if isinstance(c, dict)}
        self.sparse = {name: c.get("max_length")
                       for name, c in (get("sparse_config") or {}).items()
                       if isinstance(c, dict)}
        read, write = get("read_rate_limit"), get("write_rate_limit")
        self.reads = TokenBucket(read, "Read") if read else None
        self.writes = TokenBucket(write, "Write") if write else None

    @classmethod
    def of(cls, config: dict | None) -> StrictMode | None:
        """The strict mode of a collection config, None when it is off."""
        strict = (config or {}).get("strict_mode_config") or {}
        return cls(strict) if strict.get("enabled") else None

    # -- reads --------------------------------------------------------------------------------
    def read(self, cost: int = 1) -> None:
        if self.reads is not None:
            self.reads.take(cost)

    def check_timeout(self, timeout: int | None) -> None:
        check_limit(timeout, self.max_timeout, "timeout")

    def check_filter(self, filter_: dict | None, payload_schema: dict, write: bool) -> None:
        if not filter_:
            return
        allowed = self.unindexed_update if write else self.unindexed_retrieve
        if allowed is False:
            missing = filter_keys.unindexed(filter_, payload_schema)
            if missing:
                key, schema = missing[0]
                raise _refuse(f'Index required but not found for "{key}" of one of the '
                              f"following types: [{schema}]",
                              "Create an index for this key or use a different filter.")
        if self.filter_max_conditions is not None:
            check_limit(filter_keys.condition_count(filter_), self.filter_max_conditions,
                        "filter_max_conditions")
        if self.condition_max_size is not None:
            check_limit(filter_keys.largest_condition(filter_), self.condition_max_size,
                        "condition_max_size")

    def check_search(self, search: Any, payload_schema: dict) -> None:
        """A Query or an engine Stage (and its prefetches): limit, filter, exact, hnsw_ef,
        oversampling."""
        check_limit(getattr(search, "limit", None), self.max_query_limit, "limit")
        self.check_filter(getattr(search, "filter", None), payload_schema, write=False)
        if self.allow_exact is False and getattr(search, "exact", False):
            raise _refuse("Exact search disabled!", "Set exact=false.")
        check_limit(getattr(search, "hnsw_ef", None), self.max_hnsw_ef, "hnsw_ef")
        quantization = getattr(search, "quantization", None) or {}
        check_limit(quantization.get("oversampling"), self.max_oversampling, "oversampling")
        for inner in getattr(search, "prefetch", None) or ():
            self.check_search(inner, payload_schema)
        stage = getattr(search, "stage", None)  # an engine Request
        if stage is not None:
            self.check_search(stage, payload_schema)

    def check_queries(self, queries: list, payload_schema: dict) -> None:
        """A query or search request, or a batch of them; costs one read per query."""
        check_limit(len(queries), self.search_max_batchsize, "search_max_batchsize")
        for query in queries:
            self.check_search(query, payload_schema)
        self.read(len(queries))

    def check_read(self, filter_: dict | None, limit: int | None, payload_schema: dict) -> None:
        """scroll, count, facet, groups, matrix: a filter and a limit; one read."""
        check_limit(limit, self.max_query_limit, "limit")
        self.check_filter(filter_, payload_schema, write=False)
        self.read()

    # -- writes -------------------------------------------------------------------------------
    def check_update(self, collection: Any, op: dict) -> None:
        """One update operation, before any shard sees it."""
        kind = op["type"]
        schema = collection.payload_schema
        if kind == "upsert":
            check_limit(len(op["ids"]), self.upsert_max_batchsize, "upsert limit")
            self._check_vectors(op["vectors"])
            self._check_growth(collection)
        elif kind == "update_vectors":
            check_limit(len(op["points"]), self.upsert_max_batchsize, "update limit")
            self._check_vectors([vectors for _, vectors in op["points"]])
            self._check_growth(collection)
        elif kind in ("set_payload", "overwrite_payload") and self.max_payload_bytes is not None:
            self._check_payload_size(collection)
        for key in ("filter", "update_filter"):
            self.check_filter(op.get(key), schema, write=True)
        if self.writes is not None:
            self.writes.take(len(op["ids"]) if kind == "upsert" else 1)

    def _check_vectors(self, rows: list) -> None:
        if not self.multivector and not self.sparse:
            return
        for vectors in rows:
            for name, value in (vectors or {}).items():
                if name in self.multivector:
                    check_limit(len(value), self.multivector[name], "max_vectors")
                if name in self.sparse and isinstance(value, tuple):
                    check_limit(len(value[0]), self.sparse[name], "max_length")

    def _check_growth(self, collection: Any) -> None:
        """The size limits, on what is stored now (Qdrant checks before the write)."""
        if self.max_points is None and self.max_vector_bytes is None \
                and self.max_payload_bytes is None:
            return
        points = collection.info()["points_count"]
        if self.max_points is not None and points >= self.max_points:
            raise _refuse(f"Max points count limit of {self.max_points} reached!",
                          "Delete points or increase max_points_count.")
        if self.max_vector_bytes is not None:
            config = collection.shard_config
            per_point = sum(p.size * _DATATYPE_BYTES.get(p.datatype, 4)
                            for p in config.vectors.values())
            if points * per_point >= self.max_vector_bytes:
                raise _refuse(f"Max vector storage size limit of {self.max_vector_bytes} bytes "
                              "reached!", "Delete points or increase "
                              "max_collection_vector_size_bytes.")
        self._check_payload_size(collection)

    def _check_payload_size(self, collection: Any) -> None:
        if self.max_payload_bytes is None:
            return
        if collection.estimated_payload_bytes() >= self.max_payload_bytes:
            raise _refuse(f"Max payload storage size limit of {self.max_payload_bytes} bytes "
                          "reached!", "Delete payloads or increase "
                          "max_collection_payload_size_bytes.")

    def check_new_index(self, payload_schema: dict, field: str) -> None:
        if self.max_payload_indexes is None or field in payload_schema:
            return
        check_limit(len(payload_schema) + 1, self.max_payload_indexes, "max_payload_index_count")
