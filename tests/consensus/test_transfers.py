"""The metadata state machine's shard transfers and replica operations, op by op: what each
kind of transfer does to the replicas when it starts, finishes, is aborted, or loses a peer."""

from __future__ import annotations

import pytest

from consensus.state import MetadataState


@pytest.fixture
def state() -> MetadataState:
    """Peers 1, 2, 3; collection c with shard 0 on peer 1 and shard 1 on peers 1 and 2."""
    s = MetadataState()
    for peer in (1, 2, 3):
        assert s.apply({"type": "add_peer", "peer_id": peer, "info": {}}).ok
    assert s.apply({"type": "create_collection", "name": "c", "uuid": "u",
                    "config": {"params": {}}, "placement": [[1], [1, 2]]}).ok
    return s


def _replicas(s: MetadataState, shard_id: int) -> dict:
    return s.collections["c"]["shards"][shard_id]["replicas"]


def _start(s: MetadataState, kind: str, shard_id: int = 0, source: int = 1, target: int = 3):
    return s.apply({"type": "start_transfer", "name": "c", "uuid": "u", "shard_id": shard_id,
                    "from": source, "to": target, "kind": kind})


def _end(s: MetadataState, how: str, shard_id: int = 0, target: int = 3):
    return s.apply({"type": f"{how}_transfer", "name": "c", "uuid": "u",
                    "shard_id": shard_id, "to": target})


def test_replicate_adds_a_partial_replica_that_finishes_active(state):
    assert _start(state, "replicate").ok
    assert _replicas(state, 0) == {"1": "Active", "3": "Partial"}
    [transfer] = state.collections["c"]["transfers"]
    assert (transfer["from"], transfer["to"], transfer["sync"]) == (1, 3, True)
    assert _end(state, "finish").ok
    assert _replicas(state, 0) == {"1": "Active", "3": "Active"}
    assert state.collections["c"]["transfers"] == []


def test_a_move_keeps_its_source_until_it_is_dropped(state):
    assert _start(state, "move").ok
    assert state.collections["c"]["transfers"][0]["sync"] is False
    assert _end(state, "finish").ok
    assert _replicas(state, 0) == {"1": "Active", "3": "Active"}
    assert state.apply({"type": "drop_replica", "name": "c", "uuid": "u", "shard_id": 0,
                        "peer_id": 1}).ok
    assert _replicas(state, 0) == {"3": "Active"}


def test_abort_removes_a_new_replica_and_kills_an_overwritten_one(state):
    assert _start(state, "replicate").ok
    assert _end(state, "abort").ok
    assert _replicas(state, 0) == {"1": "Active"}
    # replicating onto a replica that exists: an abort leaves it Dead (it was being overwritten)
    assert _start(state, "replicate", shard_id=1, source=1, target=2).ok
    assert _end(state, "abort", shard_id=1, target=2).ok
    assert _replicas(state, 1) == {"1": "Active", "2": "Dead"}


def test_refusals(state):
    assert _start(state, "move", target=9).message == "Peer 9 does not exist"
    assert _start(state, "move", source=2).message == "Shard 0 has no Active replica on peer 2"
    assert _start(state, "move", shard_id=5).message == "Shard 5 of c does not exist"
    assert _start(state, "move", shard_id=1, target=2).message == \
        "Shard 1 is already on peer 2"
    assert _start(state, "replicate").ok
    assert _start(state, "replicate", target=2).message == \
        "Shard 0 is already involved in transfer 1 -> 3"
    drop = {"type": "drop_replica", "name": "c", "uuid": "u", "shard_id": 0, "peer_id": 1}
    assert state.apply(drop).message == \
        "Shard 0 must have at least one active replica after removing 1"
    assert _end(state, "finish", target=2).error_kind == "not_found"


def test_dropping_a_replica_aborts_its_transfers(state):
    assert _start(state, "replicate", shard_id=1, source=2, target=3).ok
    assert state.apply({"type": "drop_replica", "name": "c", "uuid": "u", "shard_id": 1,
                        "peer_id": 2}).ok
    assert _replicas(state, 1) == {"1": "Active"}  # the new replica went with its source
    assert state.collections["c"]["transfers"] == []


def test_removing_a_peer_aborts_its_transfers(state):
    assert _start(state, "replicate", shard_id=1, source=2, target=3).ok
    assert state.apply({"type": "remove_peer", "peer_id": 2}).ok
    assert _replicas(state, 1) == {"1": "Active"}
    assert state.collections["c"]["transfers"] == []
    # a recovery's target loses its source: it stays, Dead, to recover from another peer
    assert state.apply({"type": "set_replica_state", "name": "c", "uuid": "u", "shard_id": 0,
                        "peer_id": 1, "state": "Active"}).ok
    s = state
    assert s.apply({"type": "start_transfer", "name": "c", "uuid": "u", "shard_id": 0,
                    "from": 1, "to": 3, "kind": "replicate"}).ok
    assert _end(s, "finish").ok
    assert s.apply({"type": "set_replica_state", "name": "c", "uuid": "u", "shard_id": 0,
                    "peer_id": 3, "state": "Dead"}).ok
    assert s.apply({"type": "start_transfer", "name": "c", "uuid": "u", "shard_id": 0,
                    "from": 1, "to": 3}).ok  # a recovery
    assert s.apply({"type": "remove_peer", "peer_id": 1}).ok
    assert _replicas(s, 0) == {"3": "Dead"}


def test_an_end_names_its_transfer_not_a_later_one_between_the_same_peers(state):
    assert _start(state, "replicate").ok
    first = state.collections["c"]["transfers"][0]["tid"]
    assert _end(state, "abort").ok
    assert _start(state, "replicate").ok  # restarted
    late = {"type": "finish_transfer", "name": "c", "uuid": "u", "shard_id": 0, "to": 3,
            "tid": first}
    assert state.apply(late).error_kind == "not_found"  # the first copy's late finish
    assert _replicas(state, 0) == {"1": "Active", "3": "Partial"}


def _points(s: MetadataState, shard_id: int = 0, to_shard: int = 1, source: int = 1,
            target: int = 2):
    return s.apply({"type": "start_transfer", "kind": "points", "name": "c", "uuid": "u",
                    "shard_id": shard_id, "to_shard_id": to_shard, "from": source,
                    "to": target, "filter": {"must": []}})


def test_replicate_points_lists_a_transfer_and_leaves_the_replicas_alone(state):
    """Shard 0 (peer 1) into shard 1 (peers 1, 2), copied by peer 2: no replica changes state
    when it starts, finishes or is aborted."""
    before = {0: dict(_replicas(state, 0)), 1: dict(_replicas(state, 1))}
    assert _points(state).ok
    [transfer] = state.collections["c"]["transfers"]
    assert (transfer["shard_id"], transfer["to_shard_id"], transfer["kind"]) == (0, 1, "points")
    assert transfer["filter"] == {"must": []}
    assert {0: _replicas(state, 0), 1: _replicas(state, 1)} == before
    assert not _points(state).ok  # one transfer of these shards at a time
    assert not _start(state, "replicate").ok
    assert _end(state, "abort", target=2).ok
    assert {0: _replicas(state, 0), 1: _replicas(state, 1)} == before
    assert _points(state).ok
    assert _end(state, "finish", target=2).ok
    assert {0: _replicas(state, 0), 1: _replicas(state, 1)} == before
    assert state.collections["c"]["transfers"] == []


def test_replicate_points_needs_active_replicas_at_both_ends(state):
    assert _points(state, source=2).message == "Shard 0 has no Active replica on peer 2"
    assert _points(state, target=3).message == "Shard 1 has no Active replica on peer 3"
    assert _points(state, to_shard=7).message == "Shard 7 of c does not exist"
    assert state.collections["c"]["transfers"] == []
