"""Bounds on the sizes a client chooses, checked before anything is allocated or looped over.

Qdrant's own bounds come first: integers are as wide as Qdrant's fields (a shard count is a
u32, a limit a u64), and a dense vector has at most 65,536 dimensions. Where Qdrant sets none,
Tessera does, so that one request cannot take a node down (``shard_number: 100000`` would open
a hundred thousand shards, HNSW ``m: 10**9`` would allocate gigabytes per point); each is a
config key of the ``limits`` section that an operator may raise (deploy/config.yaml lists them).

Sizes that only cap work already bounded by the data (a search's ``limit`` or ``hnsw_ef`` past
the number of points) are not refused: Qdrant accepts them, and the shards clamp them instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.errors import FormatError

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1

#: Qdrant's largest dense vector (its DenseVectorConfig maximum).
MAX_DIMENSION = 65536


@dataclass(frozen=True)
class Limits:
    """Tessera's own bounds (config section ``limits``); the defaults are far above what real
    collections use, and far below what would exhaust a node."""

    #: shards of one collection, or of one shard key (``limits.max_shards_per_collection``)
    max_shards_per_collection: int = 1000
    #: HNSW ``m`` and ``payload_m``: neighbours per point, memory per point grows with it
    max_hnsw_m: int = 1024
    #: HNSW ``ef_construct``: the candidate list of every insertion while an index is built
    max_ef_construct: int = 16384
    #: the estimated answer of one read (``service.max_request_memory_mb``, router/query/budget)
    max_request_memory_mb: int = 1024


DEFAULT = Limits()


def unsigned(value: int, width: str, where: str) -> int:
    """Qdrant's deserialization bound of an unsigned field (``u32``, ``u64``/``usize``): past it
    the body does not deserialize, a 400 naming the field."""
    top = U32_MAX if width == "u32" else U64_MAX
    if value > top:
        raise FormatError(f"invalid value: integer `{value}`, expected {width} at `{where}`")
    return value
