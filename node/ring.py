"""The hash ring's arithmetic: a point id's hash and which shard of a ring owns it.

It lives in ``node`` because a shard evaluates ring ownership itself while a collection is
resharded (the ``tessera_ring`` filter condition: a shard that holds points it no longer, or
not yet, owns must not answer them). ``router.collection.hashring`` routes with the same code,
so both sides agree on every id. This module must stay free of any routing policy.
"""

from __future__ import annotations

import bisect
import hashlib
import uuid
from functools import lru_cache

from node.ids import PointId

VNODES = 100
_MASK = 0xFFFFFFFFFFFFFFFF


def point_hash(point_id: PointId) -> int:
    key = point_id if isinstance(point_id, int) else uuid.UUID(point_id).int
    key = (key ^ (key >> 64)) & _MASK
    # splitmix64 finalizer: sequential and strided ids spread over the whole ring
    key = (key + 0x9E3779B97F4A7C15) & _MASK
    key = ((key ^ (key >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    key = ((key ^ (key >> 27)) * 0x94D049BB133111EB) & _MASK
    return key ^ (key >> 31)


def _vnode_hash(shard_id: int, vnode: int) -> int:
    digest = hashlib.blake2b(f"{shard_id}/{vnode}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class HashRing:
    def __init__(self, shard_ids: list[int]) -> None:
        points = sorted((_vnode_hash(s, v), s) for s in shard_ids for v in range(VNODES))
        self._positions = [p for p, _ in points]
        self._owners = [s for _, s in points]
        self.shard_ids = list(shard_ids)

    def shard(self, point_id: PointId) -> int:
        if len(self.shard_ids) == 1:
            return self.shard_ids[0]
        i = bisect.bisect_left(self._positions, point_hash(point_id))
        return self._owners[i % len(self._owners)]


@lru_cache(maxsize=64)
def ring_of(shard_ids: tuple[int, ...]) -> HashRing:
    """One ring per set of shard ids (building one hashes ``VNODES`` points per shard)."""
    return HashRing(list(shard_ids))
