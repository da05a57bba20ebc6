"""A wait=true write is fsynced before it is acknowledged, but after the shard's lock is
released: searches take that lock, so an fsync under it (5-100 ms on a busy disk) stalls them
(group commit, ``node.wal.deferred_syncs``)."""

from __future__ import annotations

from node import wal as wal_module
from router.collection.replica_endpoint import ReplicaEndpoint
from router.collection.replica_set import LocalReplica, ReplicaSet
from tests.support.shards import small_shard, upsert


def test_wait_writes_are_fsynced_outside_the_shard_lock(tmp_path, monkeypatch):
    shard = small_shard(tmp_path / "s")
    replica_set = ReplicaSet(0, 1, {1: LocalReplica(shard)})
    replica_set.apply(1, upsert([0]), True)  # the WAL file opened before counting
    under_lock: list[bool] = []
    real = wal_module.os.fsync

    def observed(fd: int) -> None:
        under_lock.append(shard.lock._is_owned())
        real(fd)

    monkeypatch.setattr(wal_module.os, "fsync", observed)
    replica_set.apply(2, upsert([1, 2]), True)  # coordinated on this node
    ReplicaEndpoint(replica_set).apply(3, upsert([3]), True)  # a peer's write
    monkeypatch.undo()
    assert under_lock == [False, False]
    shard.close()
    reopened = small_shard(tmp_path / "s")
    try:
        assert reopened.state.live_count == 4
    finally:
        reopened.close()
