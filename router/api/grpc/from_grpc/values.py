"""Payload values, point ids and shard keys: the scalars the other request conversions build on,
and ``f32``, a protobuf ``float`` read as the decimal a REST client would have sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from node.errors import BadRequest
from router.api.grpc.messages import pb


def f32(value: float) -> float:
    """A protobuf float as the shortest decimal that is the same float32 (0.1f → 0.1)."""
    return float(str(np.float32(value)))


# -- payload values ----------------------------------------------------------------------------
def value(v: pb.Value) -> Any:
    """protobuf Value → python (JSON) value; integers stay ``int``, doubles are ``float``."""
    kind = v.WhichOneof("kind")
    if kind == "string_value":
        return v.string_value
    if kind == "integer_value":
        return v.integer_value
    if kind == "double_value":
        return v.double_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "struct_value":
        return payload(v.struct_value.fields)
    if kind == "list_value":
        return [value(item) for item in v.list_value.values]
    return None  # null_value, or nothing set: JSON null either way


def payload(fields: Mapping[str, pb.Value]) -> dict:
    """A ``map<string, Value>`` (or ``Struct.fields``) → dict."""
    return {key: value(v) for key, v in fields.items()}


# -- ids ---------------------------------------------------------------------------------------
def point_id(p: pb.PointId) -> int | str:
    """PointId → the id as a REST body holds it (checked later by ``parse_point_id``)."""
    kind = p.WhichOneof("point_id_options")
    if kind == "num":
        return p.num
    if kind == "uuid":
        return p.uuid
    raise BadRequest("Malformed PointId: neither `num` nor `uuid` is set")


def point_ids(ids) -> list:
    return [point_id(p) for p in ids]


def shard_key(k: pb.ShardKey) -> Any:
    kind = k.WhichOneof("key")
    if kind is None:
        raise BadRequest("Malformed ShardKey: neither `keyword` nor `number` is set")
    return getattr(k, kind)


def shard_key_selector(s: pb.ShardKeySelector) -> Any:
    """ShardKeySelector → REST ``shard_key``: a key, a list of keys, or {target, fallback}."""
    keys = [shard_key(k) for k in s.shard_keys]
    target: Any = keys[0] if len(keys) == 1 else keys
    if s.HasField("fallback"):
        return {"target": target, "fallback": shard_key(s.fallback)}
    return target
