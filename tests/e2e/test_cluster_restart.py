"""A whole cluster stopped and started again acts only on the complete metadata.

pysyncobj stores a node's commit index once a second, so after a restart every node may
remember an older commit than the cluster had reached. A node that acted on the state at that
older index (a state without the newest collection) removed the collection's directories as
"unknown". The tests make the lag certain by rewinding each stopped node's stored commit index.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
import pytest
from pysyncobj.pickle import dumps, loads

from tests.support.cluster import (
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
