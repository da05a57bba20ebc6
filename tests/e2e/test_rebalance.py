"""The leader's rebalancing on real nodes: a joining peer gets its share of replicas, a drained
peer gives all of its replicas away and can be removed without force, and a peer lost for
longer than the repair delay has its replicas replaced on the others."""

from __future__ import annotations

import random

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

pytestmark = pytest.mark.slow

DIM = 4
ON = {"QDRANT__CLUSTER__REBALANCE__ENABLED": "true"}


def _ok(resp: httpx.Response):
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


def _load(node, name: str, shards: int, factor: int, count: int) -> None:
    _ok(httpx.put(f"{node.url}/collections/{name}", timeout=60, json={
        "vectors": {"size": DIM, "distance": "Dot"}, "shard_number": shards,
        "replication_factor": factor}))
    wait_until(lambda: replicas_all_active(node, name), 30, "all Active")
    rng = random.Random(4)
    points = [{"id": i, "vector": [rng.random() for _ in range(DIM)]} for i in range(count)]
    _ok(httpx.put(f"{node.url}/collections/{name}/points", params={"wait": "true"},
                  json={"points": points}, timeout=60))


def _held(nodes, name: str) -> dict[int, int]:
    """peer id -> Active replicas of the collection it holds, as it reports them itself."""
    out = {}
    for node in nodes:
        info = _ok(httpx.get(f"{node.url}/collections/{name}/cluster", timeout=10))
        out[info["peer_id"]] = sum(s["state"] == "Active" for s in info["local_shards"])
    return out


def _settled(nodes, name: str, expected: dict[int, int]):
    def check() -> bool:
        info = _ok(httpx.get(f"{nodes[0].url}/collections/{name}/cluster", timeout=10))
        return not info["shard_transfers"] and _held(nodes, name) == expected
    return check


def test_a_joining_peer_gets_its_share_and_a_drained_one_gives_all_away(tmp_path):
    nodes = start_cluster(tmp_path, 2, extra_env=ON)
    try:
        _load(nodes[0], "spread", shards=6, factor=2, count=300)
        assert sorted(_held(nodes, "spread").values()) == [6, 6]
        third = cluster_node(tmp_path / "peer-2", bootstrap=nodes[0], extra_env=ON)
        nodes.append(third.start())
        third.wait_ready(90)
        wait_peers(nodes, 3)
        ids = [cluster_status(n)["peer_id"] for n in nodes]
        wait_until(_settled(nodes, "spread", dict.fromkeys(ids, 4)), 120,
                   "four replicas on each peer")
        for node in nodes:
            assert exact_count(node, "spread") == 300
        assert _ok(httpx.get(f"{nodes[0].url}/cluster/rebalance", timeout=10)) == \
            {"enabled": True, "steps": []}

        _ok(httpx.post(f"{nodes[0].url}/cluster/peer/{ids[1]}/drain", timeout=30))
        wait_until(_settled(nodes, "spread", {ids[0]: 6, ids[1]: 0, ids[2]: 6}), 120,
                   "the drained peer empty")
        assert _ok(httpx.delete(f"{nodes[0].url}/cluster/peer/{ids[1]}", timeout=30)) is True
        nodes[1].kill()
        for node in (nodes[0], nodes[2]):
            assert exact_count(node, "spread") == 300
    finally:
        for node in nodes:
            node.kill()


def test_a_lost_peer_has_its_replicas_replaced_and_the_factor_stays_exact(tmp_path):
    env = {**ON, "QDRANT__CLUSTER__REPLICA_REPAIR_AFTER_SEC": "2"}
    nodes = start_cluster(tmp_path, 3, extra_env=env)
    try:
        _load(nodes[0], "healed", shards=3, factor=2, count=240)
        ids = [cluster_status(n)["peer_id"] for n in nodes]
        victim = nodes[2]
        victim.kill()
        survivors = nodes[:2]

        def back_at_two() -> bool:
            info = _ok(httpx.get(f"{survivors[0].url}/collections/healed/cluster", timeout=10))
            if info["shard_transfers"]:
                return False
            held = _held(survivors, "healed")
            replicas = len(info["local_shards"]) + len(info["remote_shards"])
            return sum(held.values()) == 6 and replicas == 6

        wait_until(back_at_two, 90, "every shard at two Active replicas on the survivors")
        for node in survivors:
            assert exact_count(node, "healed") == 240
        victim.start().wait_ready(90)
        wait_until(_settled(nodes, "healed", dict.fromkeys(ids, 2)), 120,
                   "two replicas on each peer again")
        for node in nodes:
            assert exact_count(node, "healed") == 240
    finally:
        for node in nodes:
            node.kill()

