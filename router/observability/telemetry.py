"""GET /telemetry and GET /cluster/telemetry: what the node is, what it holds and how it has
been answering (Qdrant's TelemetryData and DistributedTelemetryData).

Filled in: the app (name, version, startup, features at the highest detail), the collections
(their number; from detail level 1 their ids, from level 2 each shard's replicas with the
local one's points and status), the cluster section (status, peers, each peer's version) and
the requests section (REST by ``METHOD template`` and status, gRPC by method path and status
code: count, failures, average/min/max/total duration, last answer). ``anonymize`` replaces
collection names with stable hashes.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from router.observability import responses
from router.observability.metrics import anonymized
from router.version import VERSION

_STARTED = datetime.now(timezone.utc)
_ID = str(uuid.uuid4())


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def telemetry(toc, details_level: int = 0, anonymize: bool = False,
              per_collection: bool = False) -> dict:
    app: dict = {"name": "qdrant", "version": VERSION, "startup": _iso(_STARTED)}
    if details_level >= 10:
        app["features"] = {"debug": False, "service_debug_feature": False,
                           "recovery_mode": False, "gpu": False, "rocksdb": False,
                           "staging": False}
    names = sorted(toc.list_names())
    collections: dict = {"number_of_collections": len(names)}
    if details_level >= 1:
        collections["collections"] = [
            _collection(toc, name, details_level, anonymize) for name in names
        ]
    return {"id": _ID, "app": app, "collections": collections, "cluster": _cluster(toc),
            "requests": requests_section(per_collection, anonymize)}


def requests_section(per_collection: bool = False, anonymize: bool = False) -> dict:
    """Qdrant's RequestsTelemetry: every endpoint answered so far, by status; with
    ``per_collection`` also by collection."""
    rest: dict[str, dict] = {}
    for (method, endpoint, status), stats in responses.REST.grouped():
        rest.setdefault(f"{method} {endpoint}", {})[str(status)] = stats.telemetry()
    grpc: dict[str, dict] = {}
    for (endpoint, code), stats in responses.GRPC.grouped():
        grpc.setdefault(endpoint, {})[str(code)] = stats.telemetry()
    section = {"rest": {"responses": rest}, "grpc": {"responses": grpc}}
    if per_collection:
        by_rest: dict[str, dict] = {}
        for (method, endpoint, status, name), stats in responses.REST.grouped(True):
            by_rest.setdefault(_name(name, anonymize), {}).setdefault(
                f"{method} {endpoint}", {})[str(status)] = stats.telemetry()
        by_grpc: dict[str, dict] = {}
        for (endpoint, code, name), stats in responses.GRPC.grouped(True):
            by_grpc.setdefault(_name(name, anonymize), {}).setdefault(
                endpoint, {})[str(code)] = stats.telemetry()
        section["rest"]["per_collection_responses"] = by_rest
        section["grpc"]["per_collection_responses"] = by_grpc
    return section


def _name(name: str, anonymize: bool) -> str:
    return anonymized(name) if anonymize else name


def _collection(toc, name: str, details_level: int, anonymize: bool) -> dict:
    found: dict = {"id": _name(name, anonymize)}
    if details_level < 2:
        return found
    try:
        collection = toc.get(name)
    except Exception:  # dropped since the listing
        return found
    peer = toc.collection_cluster_info(name)["peer_id"]
    shards = []
    for shard in collection.shards:
        entry: dict = {"id": shard.shard_id, "key": shard.shard_key,
                       "remote": [{"shard_id": shard.shard_id, "peer_id": p}
                                  for p in sorted(shard.states) if p != peer],
                       "replicate_states": {str(p): s for p, s in sorted(shard.states.items())}}
        if shard.local is not None:
            info = shard.local.info()
            entry["local"] = {
                "variant_name": "local_shard",
                "status": "yellow" if info["optimizing"] else "green",
                "total_optimized_points": info["indexed_vectors_count"],
                "num_points": info["points_count"],
                "num_vectors": info["points_count"] * len(collection.shard_config.vectors),
            }
        shards.append(entry)
    found["shards"] = shards
    return found


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
        "metadata": dict(toc.consensus.state.cluster_metadata),
        "resharding_enabled": bool(getattr(toc, "resharding_enabled", False)),
    }


def cluster_telemetry(toc, details_level: int = 0) -> dict:
    """GET /cluster/telemetry: every collection's shards and replicas as consensus knows
    them, and the peers (Qdrant's DistributedTelemetryData)."""
    collections = {}
    for name in sorted(toc.list_names()):
        try:
            collection = toc.get(name)
            cluster = toc.collection_cluster_info(name)
        except Exception:
            continue
        local_points = {s["shard_id"]: s["points_count"] for s in cluster["local_shards"]}
        shards = []
        for shard in collection.shards:
            replicas = []
            for peer, state in sorted(shard.states.items()):
                replica: dict = {"peer_id": peer, "state": state}
                if peer == cluster["peer_id"] and shard.shard_id in local_points:
                    replica["num_points"] = local_points[shard.shard_id]
                replicas.append(replica)
            shards.append({"id": shard.shard_id, "key": shard.shard_key, "replicas": replicas})
        entry: dict = {"id": name}
        if details_level >= 1:
            entry["shards"] = shards
            entry["shard_transfers"] = cluster["shard_transfers"]
        collections[name] = entry
    status = toc.cluster_status()
    if status.get("status") != "enabled":
        peers = {"0": {"uri": "", "responsive": True}}
    else:
        peers = {str(p): {"uri": info["uri"], "responsive": True}
                 for p, info in status["peers"].items()}
    return {"collections": collections,
            "cluster": {"enabled": status.get("status") == "enabled",
                        "number_of_peers": len(peers), "peers": peers}}
