"""Shard key requests (CreateShardingKey, DropShardingKey) → checked values for the table of
contents. Every size is bounded here, before placement loops over it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.errors import BadRequest, ValidationFailed
from router.collection.limits import DEFAULT, Limits, unsigned
from router.operations.fields import obj, shard_key_value, uint

_INITIAL_STATES = ("Active", "Partial")


@dataclass(frozen=True)
class CreateShardKey:
    key: Any
    shards_number: int | None
    replication_factor: int | None
    placement: list[int] | None
    initial_state: str | None


def parse_create(body: Any, limits: Limits = DEFAULT) -> CreateShardKey:
    body = obj(body, "CreateShardingKey")
    key = shard_key_value(body.get("shard_key"), "shard_key")
    initial_state = body.get("initial_state")
    if initial_state is not None and initial_state not in _INITIAL_STATES:
        raise BadRequest(
            "Initial state cannot be Dead, only Active or Partial are allowed"
            if initial_state == "Dead"
            else f"Initial state cannot be {initial_state}, only Active or Partial are allowed"
        )
    shards_number = _count(body.get("shards_number"), "shards_number")
    if shards_number is not None and shards_number > limits.max_shards_per_collection:
        raise ValidationFailed(
            f"[shards_number: value {shards_number} invalid, must be "
            f"{limits.max_shards_per_collection} or smaller]"
        )
    replication = _count(body.get("replication_factor"), "replication_factor")
    placement = body.get("placement")
    if placement is not None:
        if not isinstance(placement, list) or not placement:
            raise BadRequest("Placement cannot be empty")
        placement = [uint(peer, "placement", None) for peer in placement]
    return CreateShardKey(key, shards_number, replication, placement, initial_state)


def parse_drop(body: Any) -> Any:
    body = obj(body, "DropShardingKey")
    return shard_key_value(body.get("shard_key"), "shard_key")


def _count(raw: Any, name: str) -> int | None:
    """A u32 count of at least 1, or None when not given."""
    value = uint(raw, name, None)
    if value is None:
        return None
    unsigned(value, "u32", name)
    if value < 1:
        raise ValidationFailed(f"[{name}: value {value} invalid, must be 1 or larger]")
    return value
