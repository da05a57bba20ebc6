"""A shard as the peer service reaches it on this node (``router.cluster.toc``)."""

from __future__ import annotations

from router.collection.replica_set import LocalReplica, ReplicaSet


class ReplicaEndpoint:
    """What the peer service calls on this node for one shard: the local replica's methods,
    on the replica as it is when the call runs (``ReplicaSet.on_local``), and ``coordinate``
    (a write this node leads for medium/strong ordering)."""

    def __init__(self, replica_set: ReplicaSet) -> None:
        self._set = replica_set

    def coordinate(self, op_num: int, op: dict, wait: bool) -> None:
        self._set.coordinate(op_num, op, wait)

    def __getattr__(self, name: str):
        if not callable(getattr(LocalReplica, name, None)):
            return getattr(self._set.local, name)

        def call(*args, **kwargs):
            return self._set.on_local(lambda local: getattr(local, name)(*args, **kwargs))
        return call
