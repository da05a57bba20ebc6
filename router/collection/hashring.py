"""Which shard a point id belongs to: a consistent hash ring, identical on every node.

Each shard owns ``VNODES`` points on a 64-bit ring; a point id goes to the first shard point at
or after its hash. Adding a shard to a ring moves only about 1/n of the ids, which is what
resharding and custom shard keys with several shards need. The arithmetic is ``node.ring``'s
(shards evaluate ownership themselves while a collection is resharded). Collections created
before the ring existed keep the plain modulo routing they were written with (``shard_for``).
"""

from __future__ import annotations

import uuid

from node.ids import PointId
from node.ring import VNODES, HashRing, point_hash

__all__ = ["VNODES", "HashRing", "point_hash", "shard_for"]

_MASK = 0xFFFFFFFFFFFFFFFF


def shard_for(point_id: PointId, shard_number: int) -> int:
    """The routing of collections made before the ring (kept so their points stay found)."""
    if shard_number == 1:
        return 0
    key = point_id if isinstance(point_id, int) else uuid.UUID(point_id).int
    key = (key * 0x9E3779B97F4A7C15) & _MASK
    return (key >> 32) % shard_number
