"""Clusters of real nodes stopped and started again: the whole cluster at once, a node on new
ports, custom shard keys; nothing of the metadata or the points is lost.

pysyncobj stores a node's commit index once a second, so after a restart every node may
remember an older commit than the cluster had reached. A node that acted on the state at that
older index (a state without the newest collection) removed the collection's directories as
"unknown"; one test makes the lag certain by rewinding each stopped node's stored commit index.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
import pytest
from pysyncobj.pickle import dumps, loads

from tests.e2e.test_cluster import (
    _cluster_info,
    _create,
    _points,
    _replica_counts,
    _replicated,
    _stop_all,
    _upsert,
)
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
ALIASES = 30


def _meta_path(node) -> Path:
    return node.workdir / "storage" / "raft" / "journal.meta"


def _stored_commit_index(node) -> int:
    """The commit index a node has saved (pysyncobj writes the file whole, then renames it)."""
    return loads(_meta_path(node).read_bytes()).get("raftCommitIndex", 1)


def _rewind_commit_index(node, index: int) -> None:
    """Make a stopped node remember ``index`` as its commit index, as if it had died before
    the once-a-second save of everything committed since."""
    meta = loads(_meta_path(node).read_bytes())
    meta["raftCommitIndex"] = index
    _meta_path(node).write_bytes(dumps(meta))


def _restart(nodes) -> None:
    threads = [threading.Thread(target=n.start) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for node in nodes:
        node.wait_ready(90)


def test_a_restart_with_stale_commit_indexes_loses_no_collection_and_no_point(tmp_path):
    rng = random.Random(3)
    nodes = start_cluster(tmp_path, 3)
    try:
        resp = httpx.put(f"{nodes[0].url}/collections/other", timeout=60, json={
            "vectors": {"size": DIM, "distance": "Dot"}})
        assert resp.status_code == 200, resp.text
        time.sleep(1.5)  # every node has saved a commit index from before what follows
        before = [_stored_commit_index(node) for node in nodes]
        # many operations between that index and the collection's creation: replaying them
        # takes a while after the restart, and every state on the way lacks the collection
        for i in range(ALIASES):
            resp = httpx.post(f"{nodes[i % 3].url}/collections/aliases", timeout=30, json={
                "actions": [{"create_alias": {"collection_name": "other",
                                              "alias_name": f"other-{i}"}}]})
            assert resp.status_code == 200, resp.text
        resp = httpx.put(f"{nodes[0].url}/collections/fresh", timeout=60, json={
            "vectors": {"size": DIM, "distance": "Dot"}, "shard_number": 3,
            "replication_factor": 2})
        assert resp.status_code == 200, resp.text
        wait_until(lambda: replicas_all_active(nodes[0], "fresh"), 30, "all Active")
        points = [{"id": i, "vector": [rng.uniform(-1, 1) for _ in range(DIM)]}
                  for i in range(120)]
        resp = httpx.put(f"{nodes[1].url}/collections/fresh/points", params={"wait": "true"},
                         json={"points": points}, timeout=60)
        assert resp.status_code == 200, resp.text
        peer_ids = [cluster_status(n)["peer_id"] for n in nodes]
        time.sleep(1.5)  # pysyncobj's once-a-second save: the rewind below undoes it
        for node in nodes:
            node.kill()
        for node, index in zip(nodes, before, strict=True):
            assert _stored_commit_index(node) > index  # the rewind undoes something
            _rewind_commit_index(node, index)

        _restart(nodes)
        wait_peers(nodes, 3)
        assert [cluster_status(n)["peer_id"] for n in nodes] == peer_ids
        for node in nodes:
            assert exact_count(node, "fresh") == 120
            aliases = httpx.get(f"{node.url}/aliases", timeout=30).json()["result"]["aliases"]
            assert len(aliases) == ALIASES
        wait_until(lambda: replicas_all_active(nodes[2], "fresh"), 30, "all Active again")
        for node in nodes:  # still all of them once every replica is Active again
            assert exact_count(node, "fresh") == 120
    finally:
        for node in nodes:
            node.kill()


def test_whole_cluster_restart_keeps_metadata_and_points(tmp_path):
    rng = random.Random(11)
    nodes = start_cluster(tmp_path, 3)
    try:
        _create(nodes[0], "keep", shard_number=3, replication_factor=2)
        wait_until(lambda: replicas_all_active(nodes[0], "keep"), 30, "all Active")
        points = _points(range(150), rng)
        assert _upsert(nodes[1], "keep", points).status_code == 200
        alias = httpx.post(f"{nodes[2].url}/collections/aliases", json={
            "actions": [{"create_alias": {"collection_name": "keep", "alias_name": "kept"}}]},
            timeout=30)
        assert alias.status_code == 200, alias.text
        peer_ids = [cluster_status(n)["peer_id"] for n in nodes]
        _stop_all(nodes)

        _restart(nodes)
        wait_peers(nodes, 3)
        assert [cluster_status(n)["peer_id"] for n in nodes] == peer_ids
        for node in nodes:
            assert exact_count(node, "kept") == 150
            # no version check: its background thread could outlive the nodes stopped below
            client = node.client(prefer_grpc=True, check_compatibility=False)
            got = client.retrieve("keep", ids=[0, 75, 149], with_vectors=True)
            assert sorted(p.id for p in got) == [0, 75, 149]
            by_id = {p.id: p for p in got}
            assert by_id[75].vector == pytest.approx(points[75]["vector"], rel=1e-5)
    finally:
        _stop_all(nodes)


def test_a_node_restarted_on_new_ports_keeps_its_identity_and_data(tmp_path):
    rng = random.Random(13)
    nodes = start_cluster(tmp_path, 3)
    try:
        _replicated(nodes, "r", 90, rng)
        old = nodes[2]
        peer_id = cluster_status(old)["peer_id"]
        old.kill()
        moved = cluster_node(old.workdir)  # same storage, new p2p/http/grpc ports, no bootstrap
        assert moved.p2p_port != old.p2p_port
        nodes[2] = moved
        moved.start().wait_ready(90)
        wait_peers(nodes, 3)  # the old entry already counts: its new uri comes through Raft
        new_uri = f"http://127.0.0.1:{moved.p2p_port}/"
        wait_until(
            lambda: cluster_status(nodes[0])["peers"].get(str(peer_id), {}).get("uri") == new_uri,
            60, "the moved peer's new uri on peer 0",
        )
        status = cluster_status(nodes[0])
        assert str(peer_id) in status["peers"]
        assert status["peers"][str(peer_id)]["uri"] == new_uri
        assert cluster_status(moved)["peer_id"] == peer_id
        for node in nodes:
            wait_until(lambda node=node: replicas_all_active(node, "r"), 60, "all Active")
        assert _upsert(moved, "r", _points(range(90, 120), rng)).status_code == 200
        for node in nodes:
            assert exact_count(node, "r") == 120
        for counts in _replica_counts(nodes, "r").values():
            assert len(counts) == 1
    finally:
        _stop_all(nodes)


def test_custom_sharding_across_peers_keeps_key_types_over_restart(tmp_path):
    rng = random.Random(17)
    nodes = start_cluster(tmp_path, 3)
    try:
        _create(nodes[0], "tenants", sharding_method="custom", replication_factor=2)
        for key, shards in (("acme", 1), (42, 2)):
            resp = httpx.put(f"{nodes[1].url}/collections/tenants/shards",
                             json={"shard_key": key, "shards_number": shards}, timeout=60)
            assert resp.status_code == 200, resp.text
        for node in nodes:
            wait_until(lambda node=node: replicas_all_active(node, "tenants"), 30, "Active")
        info = _cluster_info(nodes[2], "tenants")
        keys = [s["shard_key"] for s in info["local_shards"] + info["remote_shards"]]
        assert sorted(map(repr, keys)) == sorted(map(repr, ["acme"] * 2 + [42] * 4))
        acme, numbered = _points(range(40), rng), _points(range(30, 90), rng)
        assert _upsert(nodes[0], "tenants", acme, ).status_code == 400  # no key
        resp = httpx.put(f"{nodes[0].url}/collections/tenants/points?wait=true",
                         json={"points": acme, "shard_key": "acme"}, timeout=60)
        assert resp.status_code == 200, resp.text
        resp = httpx.put(f"{nodes[2].url}/collections/tenants/points?wait=true",
                         json={"points": numbered, "shard_key": 42}, timeout=60)
        assert resp.status_code == 200, resp.text

        def listing(node, key):
            resp = httpx.post(f"{node.url}/collections/tenants/points/scroll",
                              json={"limit": 100, "shard_key": key}, timeout=30).json()
            return [(p["id"], p["shard_key"]) for p in resp["result"]["points"]]

        for node in nodes:
            assert listing(node, "acme") == [(i, "acme") for i in range(40)]
            assert listing(node, 42) == [(i, 42) for i in range(30, 90)]
            assert exact_count(node, "tenants") == 100

        _stop_all(nodes)
        _restart(nodes)
        for node in nodes:
            keys = httpx.get(f"{node.url}/collections/tenants/shards").json()["result"]
            assert sorted(map(repr, (k["key"] for k in keys["shard_keys"]))) == ["'acme'", "42"]
            assert listing(node, 42) == [(i, 42) for i in range(30, 90)]
        # the cluster-operations endpoint creates and drops keys too; a move names real peers
        resp = httpx.post(f"{nodes[0].url}/collections/tenants/cluster",
                          json={"create_sharding_key": {"shard_key": "temp"}}, timeout=60)
        assert resp.status_code == 200, resp.text
        resp = httpx.post(f"{nodes[0].url}/collections/tenants/cluster",
                          json={"drop_sharding_key": {"shard_key": "temp"}}, timeout=60)
        assert resp.status_code == 200, resp.text
        moved = httpx.post(f"{nodes[0].url}/collections/tenants/cluster", json={
            "move_shard": {"shard_id": 1, "from_peer_id": 1, "to_peer_id": 2}}, timeout=30)
        assert moved.status_code == 400
        assert moved.json()["status"]["error"] == "Bad request: Peer 1 does not exist"
        # dropping a key leaves shard ids with gaps: the rest is still served everywhere
        dropped = httpx.post(f"{nodes[2].url}/collections/tenants/shards/delete",
                             json={"shard_key": "acme"}, timeout=30)
        assert dropped.status_code == 200, dropped.text
        more = _points(range(200, 230), rng)
        resp = httpx.put(f"{nodes[1].url}/collections/tenants/points?wait=true",
                         json={"points": more, "shard_key": 42}, timeout=60)
        assert resp.status_code == 200, resp.text
        for node in nodes:
            assert exact_count(node, "tenants") == 90
            assert listing(node, 42)[-1] == (229, 42)
    finally:
        _stop_all(nodes)
