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
