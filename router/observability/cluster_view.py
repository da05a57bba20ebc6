"""The figures /metrics and /telemetry report of each collection, read from the table of
contents (passed in; this room imports none of the others): points, vectors by name, running
optimizations, replica states and shard transfers as this peer sees them."""

from __future__ import annotations


def collection_figures(toc) -> list[dict]:
    """One dict per collection, in name order; a collection dropped meanwhile is left out."""
    found = []
    for name in sorted(toc.list_names()):
        try:
            collection = toc.get(name)
            info = collection.info()
            cluster = toc.collection_cluster_info(name)
        except Exception:  # dropped or unreachable between the listing and now
            continue
        points = info["points_count"]
        config = collection.shard_config
        names = list(config.vectors) + list(config.sparse_vectors)
        active = [sum(state == "Active" for state in shard.states.values())
                  for shard in collection.shards] or [0]
        peer = cluster["peer_id"]
        transfers = cluster["shard_transfers"]
        found.append({
            "name": name,
            "points": points,
            "vectors": {vector: points for vector in names},
            "running_optimizations": int(info["status"] == "yellow"),
            "active_replicas_min": min(active),
            "active_replicas_max": max(active),
            "dead_replicas": sum(state == "Dead" for shard in collection.shards
                                 for state in shard.states.values()),
            "shard_transfer_incoming": sum(t["to"] == peer for t in transfers),
            "shard_transfer_outgoing": sum(t["from"] == peer for t in transfers),
            "update_queue_length": 0,
        })
    return found
