"""The state machine's side of a peer taking a gone peer's place (``add_peer`` with
``replaces``): dropped when it held nothing, adopted when the newcomer kept its storage,
refused otherwise, and never touching a peer at another address."""

from __future__ import annotations

import pytest

from consensus.state import MetadataState


@pytest.fixture
def state() -> MetadataState:
    """Peers 1, 2, 3 at a1..a3; collection c: shard 0 on 1 and 2, shard 1 on 2 only (RF 1), a
    transfer of shard 0 from 2 to 3 running (replicate)."""
    s = MetadataState()
    for peer in (1, 2, 3):
        assert s.apply({"type": "add_peer", "peer_id": peer, "info": {"raft": f"a{peer}"}}).ok
    assert s.apply({"type": "create_collection", "name": "c", "uuid": "u",
                    "config": {"params": {}}, "placement": [[1, 2], [2]]}).ok
    assert s.apply({"type": "start_transfer", "name": "c", "uuid": "u", "shard_id": 0,
                    "from": 2, "to": 3, "kind": "replicate"}).ok
    return s


def _add(s: MetadataState, peer: int, address: str, adopt: bool = False):
    return s.apply({"type": "add_peer", "peer_id": peer, "info": {"raft": address},
                    "replaces": address, "adopt": adopt})


def _replicas(s: MetadataState, shard_id: int) -> dict:
    return s.collections["c"]["shards"][shard_id]["replicas"]


def test_a_gone_peer_that_held_nothing_is_dropped(state):
    assert state.apply({"type": "abort_transfer", "name": "c", "uuid": "u", "shard_id": 0,
                        "to": 3}).ok
    assert "3" not in _replicas(state, 0)
    assert _add(state, 9, "a3").ok
    assert set(state.peers) == {"1", "2", "9"}


def test_a_newcomer_without_data_is_refused_where_the_gone_peer_holds_replicas(state):
    result = _add(state, 9, "a2")
    assert not result.ok and result.error_kind == "refused"
    assert "Peer 2 at a2 still holds 2 replicas" in result.message
    assert set(state.peers) == {"1", "2", "3"}
    assert _replicas(state, 0) == {"1": "Active", "2": "Active", "3": "Partial"}
    assert _replicas(state, 1) == {"2": "Active"}


def test_a_newcomer_with_the_old_storage_adopts_its_replicas(state):
    assert _add(state, 9, "a2", adopt=True).ok
    assert set(state.peers) == {"1", "3", "9"}
    # another Active copy exists: Dead, to recover from it; the only copy keeps its state
    assert _replicas(state, 0) == {"1": "Active", "9": "Dead"}  # the copy it sent: dropped
    assert _replicas(state, 1) == {"9": "Active"}
    assert state.collections["c"].get("transfers", []) == []  # its transfer is aborted


def test_a_peer_refreshing_its_own_record_or_at_a_new_address_replaces_nobody(state):
    assert _add(state, 2, "a2").ok  # its own address: a refresh
    assert _add(state, 7, "a7").ok  # no one there
    assert set(state.peers) == {"1", "2", "3", "7"}
    assert _replicas(state, 1) == {"2": "Active"}
