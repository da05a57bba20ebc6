"""Which shard a point id belongs to: a consistent hash ring, identical on every node.

Each shard owns ``VNODES`` points on a 64-bit ring; a point id goes to the first shard point at
or after its hash. Adding a shard to a ring moves only about 1/n of the ids, which is what
resharding and custom shard keys with several shards need. Collections created before the
ring existed keep the plain modulo routing they were written with (``shard_for``).
"""

from __future__ import annotations

import bisect
import hashlib
import uuid

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


def shard_for(point_id: PointId, shard_number: int) -> int:
    """The routing of collections made before the ring (kept so their points stay found)."""
    if shard_number == 1:
        return 0
    key = point_id if isinstance(point_id, int) else uuid.UUID(point_id).int
    key = (key * 0x9E3779B97F4A7C15) & _MASK
    return (key >> 32) % shard_number
