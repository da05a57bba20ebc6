"""The metadata state machine's resharding, op by op: start up and down, the refusals, the
stages the peers' reports move it through, and an abort that restores the shard list."""

from __future__ import annotations

import pytest

from consensus.state import MetadataState


@pytest.fixture
def state() -> MetadataState:
    """Peers 1, 2, 3; collection c on the hash ring with shards 0, 1, 2 on peers 1, 2, 3."""
    s = MetadataState()
    for peer in (1, 2, 3):
        assert s.apply({"type": "add_peer", "peer_id": peer, "info": {}}).ok
    assert s.apply({"type": "create_collection", "name": "c", "uuid": "u", "ring": True,
                    "config": {"params": {"shard_number": 3}},
                    "placement": [[1], [2], [3]]}).ok
    return s


def _start(s: MetadataState, direction: str, **extra):
    return s.apply({"type": "start_resharding", "name": "c", "uuid": "u",
                    "direction": direction, **extra})


def _done(s: MetadataState, stage: str, shard_id: int, peer: int):
    return s.apply({"type": "resharding_done", "name": "c", "uuid": "u", "stage": stage,
                    "shard_id": shard_id, "peer_id": peer})


def _migrate(s: MetadataState):
    return s.apply({"type": "resharding_stage", "name": "c", "uuid": "u",
                    "from": "init", "to": "migrating"})


def _entry(s: MetadataState) -> dict:
    return s.collections["c"]


def _ids(s: MetadataState) -> list[int]:
    return [shard["shard_id"] for shard in _entry(s)["shards"]]


def test_up_adds_a_resharding_shard_and_walks_the_stages(state):
    assert _start(state, "up", peer_ids=[2], peer_id=2).ok
    r = _entry(state)["resharding"]
    assert (r["direction"], r["shard_id"], r["peer_id"], r["stage"]) == ("up", 3, 2, "init")
    assert (r["old"], r["new"]) == ([0, 1, 2], [0, 1, 2, 3])
    assert _entry(state)["shards"][3]["replicas"] == {"2": "Resharding"}
    assert not _done(state, "migrating", 3, 2).ok  # not yet migrating
    assert _migrate(state).ok
    assert not _migrate(state).ok  # a second proposal of the same step is dismissed
    assert _entry(state)["resharding"]["stage"] == "migrating"
    for shard_id, peer in ((0, 1), (1, 2), (2, 3)):
        assert _done(state, "migrating", shard_id, peer).ok
        assert _entry(state)["resharding"]["stage"] == "migrating"
    assert _done(state, "migrating", 3, 2).ok
    assert _entry(state)["resharding"]["stage"] == "switched"
    assert _entry(state)["shards"][3]["replicas"] == {"2": "Active"}
    assert not state.apply({"type": "abort_resharding", "name": "c", "uuid": "u"}).ok
    for shard_id, peer in ((0, 1), (1, 2), (2, 3)):
        assert _done(state, "switched", shard_id, peer).ok
    assert _entry(state)["resharding"]["stage"] == "switched"
    assert _done(state, "switched", 3, 2).ok
    assert "resharding" not in _entry(state)
    assert _ids(state) == [0, 1, 2, 3]
    assert _entry(state)["config"]["params"]["shard_number"] == 4


def test_down_removes_the_last_shard_once_cleaned(state):
    assert _start(state, "down").ok
    r = _entry(state)["resharding"]
    assert (r["direction"], r["shard_id"], r["peer_id"]) == ("down", 2, 3)
    assert (r["old"], r["new"]) == ([0, 1, 2], [0, 1])
    assert _migrate(state).ok
    assert _done(state, "migrating", 0, 1).ok
    assert _done(state, "migrating", 1, 2).ok
    assert _entry(state)["resharding"]["stage"] == "switched"
    assert _ids(state) == [0, 1, 2]  # kept until the new ring is clean
    assert _done(state, "switched", 0, 1).ok
    assert _done(state, "switched", 1, 2).ok
    assert "resharding" not in _entry(state)
    assert _ids(state) == [0, 1]
    assert _entry(state)["config"]["params"]["shard_number"] == 2


def test_abort_of_up_restores_the_shard_list(state):
    assert _start(state, "up", peer_ids=[1]).ok
    assert _migrate(state).ok
    assert _done(state, "migrating", 3, 1).ok
    assert state.apply({"type": "abort_resharding", "name": "c", "uuid": "u"}).ok
    assert _entry(state)["resharding"]["stage"] == "aborting"
    assert not _done(state, "migrating", 0, 1).ok  # a copy that ends late is dismissed
    for shard_id, peer in ((0, 1), (1, 2), (2, 3)):
        assert _done(state, "aborting", shard_id, peer).ok
    assert "resharding" not in _entry(state)
    assert _ids(state) == [0, 1, 2]
    assert _entry(state)["config"]["params"]["shard_number"] == 3


def test_abort_of_down_keeps_every_shard(state):
    assert _start(state, "down").ok
    assert state.apply({"type": "abort_resharding", "name": "c", "uuid": "u"}).ok
    for shard_id, peer in ((0, 1), (1, 2), (2, 3)):
        assert _done(state, "aborting", shard_id, peer).ok
    assert "resharding" not in _entry(state)
    assert _ids(state) == [0, 1, 2]


def test_a_dead_replica_of_the_new_shard_aborts(state):
    assert _start(state, "up", peer_ids=[2]).ok
    assert _migrate(state).ok
    assert state.apply({"type": "set_replica_state", "name": "c", "uuid": "u", "shard_id": 3,
                        "peer_id": 2, "state": "Dead", "from_state": "Resharding"}).ok
    assert _entry(state)["resharding"]["stage"] == "aborting"
    for shard_id, peer in ((0, 1), (1, 2), (2, 3)):
        assert _done(state, "aborting", shard_id, peer).ok
    assert "resharding" not in _entry(state)
    assert _ids(state) == [0, 1, 2]


def test_refusals(state):
    assert not _start(state, "sideways").ok
    unknown = _start(state, "up", peer_ids=[9], peer_id=9)
    assert (unknown.ok, unknown.error_kind, unknown.message) == \
        (False, "bad_request", "Peer 9 does not exist")
    none = state.apply({"type": "abort_resharding", "name": "c", "uuid": "u"})
    assert (none.ok, none.error_kind) == (False, "bad_request")
    assert _start(state, "up", peer_ids=[1]).ok
    second = _start(state, "down")
    assert (second.ok, second.error_kind) == (False, "bad_request")
    assert second.message == "another resharding is in progress"
    missing = state.apply({"type": "start_resharding", "name": "nope", "direction": "up",
                           "peer_ids": [1]})
    assert (missing.ok, missing.error_kind) == (False, "not_found")


def test_down_below_one_shard_is_refused():
    s = MetadataState()
    assert s.apply({"type": "add_peer", "peer_id": 1, "info": {}}).ok
    assert s.apply({"type": "create_collection", "name": "c", "uuid": "u", "ring": True,
                    "config": {"params": {}}, "placement": [[1]]}).ok
    refused = _start(s, "down")
    assert (refused.ok, refused.error_kind, refused.message) == (
        False, "bad_request", "cannot remove shard 0 by resharding down, it is the last shard")
    assert "resharding" not in s.collections["c"]


def test_shard_keys_are_checked_as_qdrant_does(state):
    auto = _start(state, "up", peer_ids=[1], key="invalid")
    assert (auto.ok, auto.message) == (
        False, 'sharding key "invalid" does not exist for collection c')
    assert state.apply({"type": "create_collection", "name": "k", "uuid": "v", "ring": True,
                        "config": {"params": {"sharding_method": "custom"}},
                        "placement": []}).ok
    bare = state.apply({"type": "start_resharding", "name": "k", "uuid": "v",
                        "direction": "down"})
    assert (bare.ok, bare.message) == (
        False, "must specify shard key on collection with custom sharding")


def test_transfers_wait_for_the_resharding(state):
    assert _start(state, "up", peer_ids=[1]).ok
    moved = state.apply({"type": "start_transfer", "name": "c", "uuid": "u", "shard_id": 0,
                         "from": 1, "to": 2, "kind": "move"})
    assert (moved.ok, moved.error_kind) == (False, "bad_request")
