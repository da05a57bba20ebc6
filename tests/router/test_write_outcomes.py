"""What a client is told when a write reached some replicas and not others.

The local replica is a real shard. The other replica stands for a peer that fails in one of
the two ways gRPC reports: the call's deadline passed (the peer may have applied it), or no
connection (it never got there). Whenever the write may be applied anywhere, the answer says
that its consistency is not guaranteed, as Qdrant's answers do.
"""

from __future__ import annotations

import numpy as np
import pytest

from node.errors import ServiceError, Timeout
from node.shard import LocalShard
from node.shard_config import ShardConfig
from router.collection.remote_replica import ReplicaUnavailable
from router.collection.replica_set import LocalReplica, ReplicaSet

LOCAL, OTHER = 1, 2


class FailingPeer:
    """A remote replica whose every write fails as a peer call does."""

    def __init__(self, timed_out: bool) -> None:
        self.timed_out = timed_out

    def apply(self, op_num: int, op: dict, wait: bool) -> None:
        code = "DEADLINE_EXCEEDED" if self.timed_out else "UNAVAILABLE"
        raise ReplicaUnavailable(f"peer other:6334 is unavailable: {code}",
                                 timed_out=self.timed_out)


@pytest.fixture
def local(tmp_path):
    config = ShardConfig.from_collection(
        {"params": {"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 1}})
    replica = LocalReplica(LocalShard(tmp_path / "shard", config))
    yield replica
    replica.close()


def _upsert(point_id: int) -> dict:
    return {"type": "upsert", "ids": [point_id],
            "vectors": [{"": np.array([1.0, 2.0], np.float32)}], "payloads": [{}],
            "update_filter": None}


def _replica_set(local, peer, factor: int, report_dead=None) -> ReplicaSet:
    return ReplicaSet(0, LOCAL, {LOCAL: local, OTHER: peer}, report_dead=report_dead,
                      write_consistency_factor=factor)


def _stored(local, point_id: int) -> bool:
    return bool(local.retrieve([point_id], False, False))


def test_a_peer_timeout_short_of_the_factor_is_qdrants_timeout(local):
    replicas = _replica_set(local, FailingPeer(timed_out=True), factor=2)
    with pytest.raises(Timeout) as caught:
        replicas.apply(1, _upsert(7), wait=True)
    assert caught.value.message.startswith("Timeout error: Operation 'update' on shard 0")
    assert "not guaranteed" in caught.value.message
    assert _stored(local, 7)  # the answer was right to say it may be applied


def test_an_unreachable_peer_short_of_the_factor_says_where_it_was_applied(local):
    replicas = _replica_set(local, FailingPeer(timed_out=False), factor=2)
    with pytest.raises(ServiceError) as caught:
        replicas.apply(1, _upsert(8), wait=True)
    message = caught.value.message
    assert message.startswith("Service internal error: peer other:6334 is unavailable")
    assert "applied on 1 of 2 replicas" in message and "not guaranteed" in message
    assert _stored(local, 8)


def test_a_deactivation_that_does_not_commit_is_qdrants_message(local):
    reported = []
    replicas = _replica_set(local, FailingPeer(timed_out=False), factor=1,
                            report_dead=lambda shard, peer, state: reported.append(peer))
    replicas.deactivation_timeout = 0.2  # consensus never answers: the state stays Active
    with pytest.raises(ServiceError) as caught:
        replicas.apply(1, _upsert(9), wait=True)
    assert reported == [OTHER]
    assert caught.value.message.startswith(
        "Service internal error: Some replica of shard 0 failed to apply operation and "
        "deactivation timed out after 0.2 seconds. Consistency of this update is not "
        "guaranteed. Please retry.")


def test_the_factor_met_once_the_replica_is_deactivated_acknowledges(local):
    def deactivate(shard: int, peer: int, state: str) -> None:
        replicas.set_states({LOCAL: "Active", OTHER: "Dead"})

    replicas = _replica_set(local, FailingPeer(timed_out=True), factor=1,
                            report_dead=deactivate)
    replicas.apply(1, _upsert(10), wait=True)
    assert _stored(local, 10)


def test_nothing_applied_is_a_plain_failure(local):
    replicas = ReplicaSet(0, LOCAL, {OTHER: FailingPeer(timed_out=False)},
                          write_consistency_factor=1)
    with pytest.raises(ServiceError) as caught:
        replicas.apply(1, _upsert(11), wait=True)
    assert "not guaranteed" not in caught.value.message
