"""Where a new collection's (or shard key's) shards go: computed by the proposing peer, never
inside Raft, so that applying the operation is deterministic on every peer."""

from __future__ import annotations

import heapq
import random


def place_shards(shard_number: int, replication_factor: int, peers: list[int]) -> list[list[int]]:
    """Each shard on ``replication_factor`` distinct peers, the least loaded first (random
    tie-break), so replicas spread evenly."""
    load = [(0, random.random(), peer) for peer in peers]
    heapq.heapify(load)
    placement = []
    for _ in range(shard_number):
        chosen = [heapq.heappop(load) for _ in range(min(replication_factor, len(peers)))]
        placement.append([peer for _, _, peer in chosen])
        for count, _, peer in chosen:
            heapq.heappush(load, (count + 1, random.random(), peer))
    return placement


def recovered_placement(shards: list[dict], replication_factor: int, here: int,
                        peers: list[int]) -> list[dict]:
    """Where the shards of a collection recovered on peer ``here`` from a snapshot go, as
    ``{"shard_id", "key", "replicas": {peer: state}}``.

    Each shard gets ``replication_factor`` replicas, spread as a new collection's are. A shard
    the snapshot holds keeps its replica ``here`` (Active: the data is there) and its other
    replicas start Dead, so they refill from it; a shard it lacks (it lived on other peers of
    the cluster the snapshot came from) starts empty, Initializing, wherever placement puts it.
    """
    factor = max(1, min(replication_factor, len(peers)))
    others = [p for p in peers if p != here]
    spread = place_shards(len(shards), factor - 1, others) if others and factor > 1 \
        else [[] for _ in shards]
    fresh = place_shards(len(shards), factor, peers)
    out = []
    for shard, extra, empty in zip(shards, spread, fresh, strict=True):
        if shard["included"]:
            replicas = {str(here): "Active", **{str(p): "Dead" for p in extra}}
        else:
            replicas = {str(p): "Initializing" for p in empty}
        out.append({"shard_id": shard["shard_id"], "key": shard.get("key"),
                    "replicas": replicas})
    return out
