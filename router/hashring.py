"""Which shard a point id belongs to (auto sharding).

A fixed function of the id and the shard count, identical on every node.
"""

from __future__ import annotations

import uuid

from node.ids import PointId


def shard_for(point_id: PointId, shard_number: int) -> int:
    if shard_number == 1:
        return 0
    key = point_id if isinstance(point_id, int) else uuid.UUID(point_id).int
    # mix the bits so that sequential ids spread evenly and strided ids do too
    key = (key * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    return (key >> 32) % shard_number
