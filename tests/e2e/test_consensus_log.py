"""The Raft log is compacted (``cluster.consensus.compact_wal_entries``): past that many
entries a snapshot of the metadata replaces them, and a peer that joins later catches up from
the snapshot."""

from __future__ import annotations

import httpx
import pytest

from tests.support.cluster import cluster_node, wait_peers, wait_until

pytestmark = pytest.mark.slow

COMPACT = "QDRANT__CLUSTER__CONSENSUS__COMPACT_WAL_ENTRIES"


def _aliases(node) -> set[str]:
    resp = httpx.get(f"{node.url}/aliases", timeout=10)
    return {a["alias_name"] for a in resp.json()["result"]["aliases"]}


def test_a_late_joiner_catches_up_from_a_compacted_log(tmp_path):
    first = cluster_node(tmp_path / "p0")
    first.extra_env[COMPACT] = "20"
    first.start().wait_ready(60)
    wait_peers([first], 1)
    nodes = [first]
    try:
        second = cluster_node(tmp_path / "p1", bootstrap=first)
        second.extra_env[COMPACT] = "20"
        nodes.append(second.start())
        second.wait_ready(90)
        wait_peers(nodes, 2)
        resp = httpx.put(f"{first.url}/collections/c", timeout=60,
                         json={"vectors": {"size": 4, "distance": "Dot"}})
        assert resp.status_code == 200, resp.text
        for i in range(60):  # one Raft entry each
            actions = [{"create_alias": {"alias_name": f"a{i}", "collection_name": "c"}}]
            resp = httpx.post(f"{nodes[i % 2].url}/collections/aliases", timeout=30,
                              json={"actions": actions})
            assert resp.status_code == 200, resp.text
        wanted = {f"a{i}" for i in range(60)}
        for node in nodes:  # each node compacted its log into a snapshot on disk
            wait_until(lambda node=node: (node.storage_path / "raft" / "dump").exists(), 30,
                       "a snapshot of the metadata")
        third = cluster_node(tmp_path / "p2", bootstrap=first)
        nodes.append(third.start())
        third.wait_ready(90)
        wait_peers(nodes, 3)
        wait_until(lambda: _aliases(third) == wanted, 30, "the joiner has every alias")
        info = httpx.get(f"{third.url}/collections/c", timeout=10)
        assert info.status_code == 200
    finally:
        for node in nodes:
            node.kill()
