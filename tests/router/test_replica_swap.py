"""A local replica replaced under writes in flight (snapshot recovery, the snapshot transfer, a
renewed copy): the closed copy refuses every write and leaves its directory, which now holds
its successor, alone; a write held across the swap lands on the successor."""

from __future__ import annotations

import threading
import time

import pytest

from node.errors import ShardClosed
from router.collection.replica_endpoint import ReplicaEndpoint
from router.collection.replica_set import SWAP_GRACE_SECONDS, LocalReplica, ReplicaSet
from tests.support.shards import small_shard, upsert

PEER = 1


def _ids(replica: LocalReplica) -> set:
    return {r.id for r in replica.scroll(None, None, 1000, False, False)}


def _files(path) -> dict:
    return {p.relative_to(path): p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()}


def test_a_closed_shard_refuses_writes_and_writes_nothing_more_to_its_directory(tmp_path):
    shard = small_shard(tmp_path / "s")
    shard.apply(1, upsert(range(300)), True)
    shard.close()
    before = _files(tmp_path / "s")

    with pytest.raises(ShardClosed):
        shard.apply(2, upsert([1000]), True)
    shard.flush()
    assert shard.optimize_step(0.0) is False
    shard._build_graph("")  # a build that began before the close installs nothing after it

    assert _files(tmp_path / "s") == before
    reopened = small_shard(tmp_path / "s")
    try:
        assert reopened.last_op == 1 and reopened.state.live_count == 300
    finally:
        reopened.close()


def test_a_write_held_across_a_swap_lands_on_the_successor(tmp_path):
    old = LocalReplica(small_shard(tmp_path / "old"))
    replica_set = ReplicaSet(0, PEER, {PEER: old})
    endpoint = ReplicaEndpoint(replica_set)  # looked up by a peer call before the swap
    replica_set.apply(1, upsert([1, 2]), True)
    successor = LocalReplica(small_shard(tmp_path / "new"))
    successor.apply(1, upsert([1, 2, 3]), True)

    old.close()  # the swap has begun: the successor opens while writes wait

    def install() -> None:
        time.sleep(0.2)
        replica_set.replicas[PEER] = successor

    installer = threading.Thread(target=install)
    installer.start()
    try:
        endpoint.apply(5, upsert([10]), True)  # a peer's forwarded write
        replica_set.apply(6, upsert([11]), True)  # a write coordinated here
        installer.join()
        assert _ids(successor) == {1, 2, 3, 10, 11}
        assert endpoint.last_op() == successor.last_op()
        assert 10 not in _ids(old) and 11 not in _ids(old)
    finally:
        installer.join()
        successor.close()


def test_a_write_to_a_dropped_replica_set_fails_at_once(tmp_path):
    replica_set = ReplicaSet(0, PEER, {PEER: LocalReplica(small_shard(tmp_path / "s"))})
    replica_set.close(drop=True)
    started = time.monotonic()
    with pytest.raises(ShardClosed):
        replica_set.apply(1, upsert([1]), True)
    assert time.monotonic() - started < SWAP_GRACE_SECONDS / 2  # no wait for a successor
