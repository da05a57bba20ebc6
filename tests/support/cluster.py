"""Several Tessera nodes forming one cluster, on loopback, for end-to-end tests.

Nodes are started the way Qdrant's own consensus tests start Qdrant: cluster mode and ports from
``QDRANT__…`` variables, the first peer with ``QDRANT_URI`` only, every other one with
``QDRANT_BOOTSTRAP`` (the first peer's p2p URI) and ``QDRANT_URI``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.node import Node, free_port


def cluster_node(workdir: Path, bootstrap: Node | None = None,
                 extra_env: dict[str, str] | None = None) -> Node:
    """A node in cluster mode with its own p2p port (not started); ``extra_env`` adds to (or
    overrides) its environment. The leader's rebalancing is off unless a test turns it on:
    Qdrant's behaviour, which most tests check, leaves replicas where they were put."""
    p2p = free_port()
    env = {
        "QDRANT__CLUSTER__ENABLED": "true",
        "QDRANT__CLUSTER__P2P__PORT": str(p2p),
        "QDRANT_URI": f"http://127.0.0.1:{p2p}",
        "QDRANT__LOG_LEVEL": "TRACE,raft::raft=info,actix_http=info,tonic=info",
        "QDRANT__CLUSTER__REBALANCE__ENABLED": "false",
        # one key for the Raft ports of every test cluster (a node without one refuses to start)
        "QDRANT__CLUSTER__P2P__SECRET": "tessera-test-cluster",
    }
    if bootstrap is not None:
        env["QDRANT_BOOTSTRAP"] = f"http://127.0.0.1:{bootstrap.p2p_port}"
    env.update(extra_env or {})
    node = Node(workdir, env=env, grpc_port=None)
    node.p2p_port = p2p  # type: ignore[attr-defined]
    return node


def cluster_status(node: Node) -> dict:
    return httpx.get(f"{node.url}/cluster", timeout=5).json()["result"]


def wait_until(predicate, timeout: float = 30.0, what: str = "condition", interval=0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def wait_peers(nodes: list[Node], count: int, timeout: float = 60.0) -> int:
    """Until every node sees ``count`` peers and one leader; returns that leader's peer id."""

    def agreed():
        statuses = [cluster_status(n) for n in nodes]
        leaders = {s["raft_info"]["leader"] for s in statuses}
        if all(len(s["peers"]) == count for s in statuses) and len(leaders) == 1 \
                and None not in leaders:
            return leaders.pop()
        return None

    return wait_until(agreed, timeout, f"{count} peers and one leader")


def start_cluster(root: Path, size: int, extra_env: dict[str, str] | None = None) -> list[Node]:
    first = cluster_node(root / "peer-0", extra_env=extra_env)
    first.start().wait_ready(60)
    wait_peers([first], 1)
    nodes = [first]
    for i in range(1, size):
        node = cluster_node(root / f"peer-{i}", bootstrap=first, extra_env=extra_env)
        nodes.append(node.start())
    for node in nodes[1:]:
        node.wait_ready(90)
    wait_peers(nodes, size)
    return nodes


def replicas_all_active(node: Node, collection: str) -> bool:
    info = httpx.get(f"{node.url}/collections/{collection}/cluster", timeout=5).json()["result"]
    states = [s["state"] for s in info["local_shards"] + info["remote_shards"]]
    return bool(states) and all(s == "Active" for s in states)


def exact_count(node: Node, collection: str) -> int:
    resp = httpx.post(f"{node.url}/collections/{collection}/points/count",
                      json={"exact": True}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]["count"]
