"""The copies of one shard, local or remote, behind one interface.

A ``Replica`` is anything that can validate, apply and answer shard operations; ``LocalReplica``
wraps a ``node.shard.LocalShard`` in this process (a remote replica, speaking the peer gRPC
service, will implement the same methods). The ``ReplicaSet`` sends updates to every replica and
reads from one, so the collection above never knows where a shard lives.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from node.search_batcher import SearchBatcher
from node.shard import LocalShard
from node.shard_search import PointRecord, SearchRequest


class Replica(Protocol):
    def check(self, op: dict) -> None: ...
    def apply(self, op_num: int, op: dict, wait: bool) -> None: ...
    def retrieve(self, ids: list, with_payload, with_vector) -> list[PointRecord]: ...
    def scroll(self, filter_, start, limit: int, with_payload, with_vector) -> list[PointRecord]: ...
    def count(self, filter_) -> int: ...
    def scroll_ordered(self, filter_, order_by: dict, limit: int, with_payload, with_vector) -> list[PointRecord]: ...
    def facet(self, key: str, filter_) -> dict: ...
    def payload_schema_counts(self) -> dict: ...
    def search(self, requests: list[SearchRequest]) -> list[list[PointRecord]]: ...
    def search_future(self, requests: list[SearchRequest]) -> Future: ...
    def info(self) -> dict: ...
    def last_op(self) -> int: ...


class LocalReplica:
    """A replica held by this node."""

    def __init__(self, shard: LocalShard) -> None:
        self.shard = shard
        self.batcher = SearchBatcher(shard.search, name=f"search-{shard.path.name}")

    def check(self, op: dict) -> None:
        with self.shard.lock:
            self.shard._check(op)

    def apply(self, op_num: int, op: dict, wait: bool) -> None:
        self.shard.apply(op_num, op, wait)

    def retrieve(self, ids, with_payload, with_vector):
        return self.shard.retrieve(ids, with_payload, with_vector)

    def scroll(self, filter_, start, limit, with_payload, with_vector):
        return self.shard.scroll(filter_, start, limit, with_payload, with_vector)

    def count(self, filter_) -> int:
        return self.shard.count(filter_)

    def scroll_ordered(self, filter_, order_by, limit, with_payload, with_vector):
        return self.shard.scroll_ordered(filter_, order_by, limit, with_payload, with_vector)

    def facet(self, key: str, filter_) -> dict:
        return self.shard.facet(key, filter_)

    def payload_schema_counts(self) -> dict:
        return self.shard.payload_schema_counts()

    def search(self, requests):
        return self.batcher.submit(requests).result()

    def search_future(self, requests) -> Future:
        """Concurrent searches are coalesced into batched index calls."""
        return self.batcher.submit(requests)

    def close(self, drop: bool = False) -> None:
        self.batcher.close()
        self.shard.drop() if drop else self.shard.close()

    def info(self) -> dict:
        return self.shard.info()

    def last_op(self) -> int:
        return self.shard.last_op


class ReplicaSet:
    def __init__(self, shard_id: int, replicas: list[Replica]) -> None:
        self.shard_id = shard_id
        self.replicas = replicas

    def check(self, op: dict) -> None:
        self.replicas[0].check(op)

    def apply(self, op_num: int, op: dict, wait: bool) -> None:
        for replica in self.replicas:
            replica.apply(op_num, op, wait)

    @property
    def reader(self) -> Replica:
        return self.replicas[0]
