"""GET /telemetry: what the node is and how its cluster looks (Qdrant's TelemetryData).

Only the parts operators and Qdrant's tooling read are filled in: the app (name, version,
startup, features at the highest detail), the number of collections (and their names from
detail level 1), and the cluster section (status, peers, each peer's version).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from router.version import VERSION

_STARTED = datetime.now(timezone.utc)
_ID = str(uuid.uuid4())


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def telemetry(toc, details_level: int = 0) -> dict:
    app: dict = {"name": "qdrant", "version": VERSION, "startup": _iso(_STARTED)}
    if details_level >= 10:
        app["features"] = {"debug": False, "service_debug_feature": False,
                           "recovery_mode": False, "gpu": False, "rocksdb": False,
                           "staging": False}
    names = toc.list_names()
    collections: dict = {"number_of_collections": len(names)}
    if details_level >= 1:
        collections["collections"] = [{"id": name} for name in sorted(names)]
    return {"id": _ID, "app": app, "collections": collections, "cluster": _cluster(toc)}


def _cluster(toc) -> dict:
    if not toc.cluster_enabled:
        return {"enabled": False}
    status = toc.cluster_status()
    raft = status["raft_info"]
    peers = status["peers"]
    return {
        "enabled": True,
        "status": {
            "number_of_peers": len(peers),
            "term": raft["term"],
            "commit": raft["commit"],
            "pending_operations": raft["pending_operations"],
            "role": raft["role"],
            "is_voter": raft["is_voter"],
            "peer_id": status["peer_id"],
            "consensus_thread_status": status["consensus_thread_status"],
        },
        "config": {
            "grpc_timeout_ms": 30000,
            "p2p": {"connection_pool_size": 1},
            "consensus": {"max_message_queue_size": 100000, "tick_period_ms": 50,
                          "bootstrap_timeout_sec": 120},
        },
        "peers": peers,
        "peer_metadata": {peer: {"version": VERSION} for peer in peers},
        "metadata": {},
        "resharding_enabled": False,
    }
