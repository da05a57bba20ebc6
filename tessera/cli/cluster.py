"""`tessera cluster status`: the peers as consensus knows them, who leads, Raft term and
commit, pending operations, and whether each peer answers; exit code 1 when the cluster has no
leader or a peer cannot be reached.

Reachability is probed from where the CLI runs: a TCP connection to each peer's URI (its
peer-to-peer address in ``GET /cluster``), the same address the other peers use.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import typer

from tessera.cli.client import FAILED
from tessera.cli.output import session, table

app = typer.Typer(help="The cluster as a whole.", no_args_is_help=True)

PROBE_TIMEOUT = 2.0


def reachable(uri: str, timeout: float = PROBE_TIMEOUT) -> bool:
    parts = urlsplit(uri if "//" in uri else f"//{uri}")
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 6335)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def status_document(status: dict, probe: bool = True) -> dict:
    """The JSON of `cluster status` from Qdrant's ClusterStatus."""
    if status.get("status") != "enabled":
        return {"enabled": False, "healthy": True, "peer_id": None, "leader": None,
                "term": None, "commit": None, "pending_operations": 0, "consensus": None,
                "peers": [], "problems": []}
    raft = status.get("raft_info", {})
    me, leader = status.get("peer_id"), raft.get("leader")
    peers = sorted(status.get("peers", {}).items(), key=lambda item: int(item[0]))
    uris = [info.get("uri", "") for _, info in peers]
    with ThreadPoolExecutor(max_workers=max(1, len(uris))) as pool:
        answers = list(pool.map(reachable, uris)) if probe else [None] * len(uris)
    rows, problems = [], []
    for (peer, info), answer in zip(peers, answers, strict=True):
        pid = int(peer)
        rows.append({
            "id": pid,
            "uri": info.get("uri"),
            "role": raft.get("role") if pid == me else ("Leader" if pid == leader else "Follower"),
            "is_leader": pid == leader,
            "is_voter": raft.get("is_voter") if pid == me else None,
            "this_node": pid == me,
            "reachable": answer,
        })
        if answer is False:
            problems.append(f"peer {pid} ({info.get('uri')}) is unreachable")
    thread = status.get("consensus_thread_status", {}).get("consensus_thread_status")
    if leader is None:
        problems.insert(0, "the cluster has no leader")
    if thread not in (None, "working"):
        problems.append(f"consensus thread on peer {me} is {thread}")
    for uri, failure in (status.get("message_send_failures") or {}).items():
        problems.append(f"sending to {uri} failed {failure.get('count')} times: "
                        f"{failure.get('latest_error')}")
    return {"enabled": True, "healthy": not problems, "peer_id": me, "leader": leader,
            "term": raft.get("term"), "commit": raft.get("commit"),
            "pending_operations": raft.get("pending_operations", 0), "consensus": thread,
            "peers": rows, "problems": problems}


@app.command("status", epilog="Example: tessera cluster status -o json")
def status(ctx: typer.Context) -> None:
    """Peers, leader, Raft term/commit, pending operations, reachability (exit 1 if unhealthy)."""
    s = session(ctx)
    doc = status_document(s.api.get("/cluster"))

    def human() -> None:
        if not doc["enabled"]:
            s.out.print("cluster mode is off: this is a standalone node")
            return
        s.out.print(f"answered by peer {doc['peer_id']} · leader {doc['leader']} · "
                    f"term {doc['term']} · commit {doc['commit']} · "
                    f"pending operations {doc['pending_operations']} · "
                    f"consensus {doc['consensus']}")
        rows = [("*" if p["is_leader"] else "", p["id"], p["uri"], p["role"],
                 {True: "yes", False: "NO", None: "?"}[p["reachable"]],
                 "(this node)" if p["this_node"] else "") for p in doc["peers"]]
        s.out.print(table(None, ["", "PEER", "URI", "ROLE", "REACHABLE", ""], rows))
        for problem in doc["problems"]:
            s.err.print(f"problem: {problem}")
        s.out.print("healthy" if doc["healthy"] else "UNHEALTHY")

    s.emit(doc, human)
    if not doc["healthy"]:
        raise typer.Exit(FAILED)
