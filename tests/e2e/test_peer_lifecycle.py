"""A peer's life in a cluster of real nodes on loopback, as Qdrant's behaves: one that lost its
Raft state but kept its data takes its own place again; a fresh one at a gone peer's URI takes
that place only when the gone peer held nothing; a second process with a running peer's URI, or
a fresh one in front of a gone peer's shards, exits with the reason; the origin peer is lost and
rebuilt like any other."""

from __future__ import annotations

import shutil

import httpx
import pytest

from tests.support.cluster import (
    cluster_node,
    cluster_status,
    exact_count,
    replicas_all_active,
    start_cluster,
    wait_peers,
    wait_until,
)
from tests.support.node import Node

POINTS = 120


@pytest.fixture
def cluster(tmp_path):
    nodes = start_cluster(tmp_path, 3)
    first = nodes[0]
    first.http.put("/collections/c", json={
        "vectors": {"size": 4, "distance": "Dot"}, "shard_number": 3, "replication_factor": 2,
    }).raise_for_status()
    wait_until(lambda: all(replicas_all_active(n, "c") for n in nodes), 60, "all Active")
    first.http.put("/collections/c/points", params={"wait": "true"}, json={"points": [
        {"id": i, "vector": [1.0, 2.0, 3.0, float(i)], "payload": {"i": i}}
        for i in range(POINTS)]}).raise_for_status()
    yield nodes
    for node in nodes:
        try:
            node.kill()
        except Exception:
            pass


def _peer_id(node: Node) -> int:
    return int(cluster_status(node)["peer_id"])


def _peers(node: Node) -> set[int]:
    return {int(p) for p in cluster_status(node)["peers"]}


def _holders(node: Node) -> dict[int, int]:
    """Replicas per peer of collection ``c``, as ``node`` sees them."""
    info = node.http.get("/collections/c/cluster").json()["result"]
    counts: dict[int, int] = {}
    for shard in info["remote_shards"]:
        counts[shard["peer_id"]] = counts.get(shard["peer_id"], 0) + 1
    if info["local_shards"]:
        counts[info["peer_id"]] = len(info["local_shards"])
    return counts


def _at_address_of(root, gone: Node, bootstrap: Node, name: str) -> Node:
    """A node with empty storage and the gone node's URI (and so its Raft address)."""
    return cluster_node(root / name, bootstrap=bootstrap, extra_env={
        "QDRANT_URI": f"http://127.0.0.1:{gone.p2p_port}",
        "QDRANT__CLUSTER__P2P__PORT": str(gone.p2p_port),
    })


def _exits_with(node: Node, text: str, timeout: float = 30) -> None:
    assert node.proc is not None
    code = node.proc.wait(timeout)
    assert code != 0
    this_start = node.log_text().rsplit("===== start #", 1)[-1]
    assert text in this_start, this_start


def test_a_peer_that_lost_its_raft_state_but_kept_its_data_takes_its_own_place(cluster):
    first, _, victim = cluster
    old_id = _peer_id(victim)
    held = _holders(first)[old_id]
    victim.kill()
    shutil.rmtree(victim.storage_path / "raft")
    (victim.storage_path / "raft_state.json").unlink()
    victim.start().wait_ready(60)
    new_id = _peer_id(victim)
    assert new_id != old_id
    wait_until(lambda: _peers(first) == {_peer_id(n) for n in cluster}, 30, "old peer replaced")
    assert _holders(first).get(new_id) == held and old_id not in _holders(first)
    wait_until(lambda: all(replicas_all_active(n, "c") for n in cluster), 60, "all Active")
    for node in cluster:
        assert exact_count(node, "c") == POINTS
    records = victim.http.post("/collections/c/points/scroll", params={"consistency": "all"},
                               json={"limit": 1000}).json()["result"]["points"]
    assert sorted(p["id"] for p in records) == list(range(POINTS))


def test_a_fresh_peer_takes_the_place_of_a_gone_peer_that_held_nothing(cluster, tmp_path):
    first = cluster[0]
    spare = cluster_node(tmp_path / "spare", bootstrap=first).start()
    spare.wait_ready(60)
    wait_peers([first, spare], 4)
    spare_id = _peer_id(spare)
    assert spare_id not in _holders(first)
    spare.kill()
    newcomer = _at_address_of(tmp_path, spare, first, "newcomer").start()
    try:
        newcomer.wait_ready(60)
        wait_until(lambda: len(_peers(first)) == 4 and spare_id not in _peers(first), 30,
                   "the gone peer replaced")
        assert _peer_id(newcomer) in _peers(first)
        assert exact_count(newcomer, "c") == POINTS  # it serves the cluster's data
    finally:
        newcomer.kill()


def test_a_fresh_peer_in_front_of_a_gone_peers_shards_exits_and_changes_nothing(cluster,
                                                                                tmp_path):
    first, second, victim = cluster
    old_id = _peer_id(victim)
    before = _holders(first)
    victim.kill()
    shutil.rmtree(victim.workdir / "storage")
    newcomer = _at_address_of(tmp_path, victim, first, "newcomer").start()
    _exits_with(newcomer, f"Peer {old_id} at 127.0.0.1:{victim.p2p_port} still holds")
    assert old_id in _peers(first) and _holders(first) == before
    newcomer.start()  # started again as it is, it is refused again
    _exits_with(newcomer, f"Peer {old_id} at 127.0.0.1:{victim.p2p_port} still holds")
    # the operator removes the gone peer; then the fresh one joins in its place
    removed = httpx.delete(f"{first.url}/cluster/peer/{old_id}", params={"force": "true"},
                           timeout=30)
    assert removed.status_code == 200, removed.text
    newcomer.start()
    try:
        newcomer.wait_ready(60)
        wait_peers([first, second, newcomer], 3)
        assert old_id not in _peers(first)
    finally:
        newcomer.kill()


def test_a_second_process_with_a_running_peers_uri_exits(cluster, tmp_path):
    first, _, running = cluster
    peers = _peers(first)
    duplicate = _at_address_of(tmp_path, running, first, "duplicate").start()
    _exits_with(duplicate, "another process holds this peer's address")
    assert _peers(first) == peers
    assert exact_count(running, "c") == POINTS


def test_the_origin_peer_is_lost_and_rebuilt_like_any_other(cluster, tmp_path):
    origin, second, third = cluster
    origin_id = _peer_id(origin)
    origin.kill()
    removed = httpx.delete(f"{second.url}/cluster/peer/{origin_id}", params={"force": "true"},
                           timeout=30)
    assert removed.status_code == 200, removed.text
    wait_peers([second, third], 2)
    rebuilt = cluster_node(tmp_path / "rebuilt", bootstrap=second).start()
    try:
        rebuilt.wait_ready(60)
        wait_peers([second, third, rebuilt], 3)
        info = second.http.get("/collections/c/cluster").json()["result"]
        shard = info["local_shards"][0]["shard_id"] if info["local_shards"] else \
            info["remote_shards"][0]["shard_id"]
        answer = second.http.post("/collections/c/cluster", json={"replicate_shard": {
            "shard_id": shard, "from_peer_id": _holders_of(second, shard)[0],
            "to_peer_id": _peer_id(rebuilt)}})
        assert answer.status_code == 200, answer.text
        wait_until(lambda: _peer_id(rebuilt) in _holders(second)
                   and replicas_all_active(second, "c"), 60, "the rebuilt peer holds a replica")
        assert exact_count(rebuilt, "c") == exact_count(second, "c")
    finally:
        rebuilt.kill()


def _holders_of(node: Node, shard_id: int) -> list[int]:
    info = node.http.get("/collections/c/cluster").json()["result"]
    peers = [s["peer_id"] for s in info["remote_shards"] if s["shard_id"] == shard_id]
    if any(s["shard_id"] == shard_id for s in info["local_shards"]):
        peers.append(info["peer_id"])
    return peers


def test_recover_brings_a_restarted_peer_up_to_the_clusters_metadata(cluster):
    first, _, lagging = cluster
    lagging.kill()
    first.http.put("/collections/while_down", json={
        "vectors": {"size": 4, "distance": "Dot"}, "shard_number": 1}).raise_for_status()
    lagging.start().wait_ready(60)
    answer = lagging.http.post("/cluster/recover")
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] is True
    def names(node: Node) -> set[str]:
        return {c["name"] for c in node.http.get("/collections").json()["result"]["collections"]}

    assert names(lagging) == names(first) == {"c", "while_down"}


def test_recover_on_a_single_node_is_refused(http):
    answer = http.post("/cluster/recover")
    assert answer.status_code == 400
    assert answer.json()["status"]["error"] == (
        "Bad request: Distributed mode disabled: this node runs in standalone mode")


def test_cluster_operations_on_a_single_node_answer_in_qdrants_words(http):
    """Qdrant refuses both with a 400 before it looks anything up: the peer removal with a full
    stop ending its text, the collection's cluster operation (even for a collection that does
    not exist) without one; clients match these texts."""
    answer = http.delete("/cluster/peer/7")
    assert answer.status_code == 400
    assert answer.json()["status"]["error"] == "Bad request: Distributed mode disabled."
    answer = http.post("/collections/nowhere/cluster",
                       json={"move_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 2}})
    assert answer.status_code == 400
    assert answer.json()["status"]["error"] == "Bad request: Distributed mode disabled"
