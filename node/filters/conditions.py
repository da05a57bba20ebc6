"""The conditions that are not field conditions, except ``nested``.

Owns ``is_empty {key}``, ``is_null {key}``, ``has_id``, ``has_vector`` and ``slice``, with
the slice hash (SipHash-2-4 with a zero key over the point id's bytes, as Qdrant computes it)
and ``slice_of``. ``nested`` recurses into a whole filter, so it lives with the filter
structure in ``node.filters.compiler``.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from node.errors import FormatError
from node.filters.base import (
    HasVector,
    PointId,
    _always_false,
    _always_true,
    _Cond,
    _Ctx,
    _key_path,
    _require,
    _require_dict,
    _type_name,
)
from node.ids import parse_point_id
from node.payload_path import make_getter
from node.ring import ring_of

_U32_MAX = 2**32 - 1


# ---------------------------------------------------------------------------------------------
# slice (SipHash-2-4, zero key)

_M64 = 0xFFFFFFFFFFFFFFFF


def _siphash24_zero_key(data: bytes) -> int:
    v0 = 0x736F6D6570736575
    v1 = 0x646F72616E646F6D
    v2 = 0x6C7967656E657261
    v3 = 0x7465646279746573

    def rounds(v0: int, v1: int, v2: int, v3: int, count: int) -> tuple[int, int, int, int]:
        for _ in range(count):
            v0 = (v0 + v1) & _M64
            v1 = ((v1 << 13) | (v1 >> 51)) & _M64
            v1 ^= v0
            v0 = ((v0 << 32) | (v0 >> 32)) & _M64
            v2 = (v2 + v3) & _M64
            v3 = ((v3 << 16) | (v3 >> 48)) & _M64
            v3 ^= v2
            v0 = (v0 + v3) & _M64
            v3 = ((v3 << 21) | (v3 >> 43)) & _M64
            v3 ^= v0
            v2 = (v2 + v1) & _M64
            v1 = ((v1 << 17) | (v1 >> 47)) & _M64
            v1 ^= v2
            v2 = ((v2 << 32) | (v2 >> 32)) & _M64
        return v0, v1, v2, v3

    length = len(data)
    full = length - length % 8
    for off in range(0, full, 8):
        m = int.from_bytes(data[off : off + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    last = int.from_bytes(data[full:], "little") | ((length & 0xFF) << 56)
    v3 ^= last
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
    v0 ^= last
    v2 ^= 0xFF
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


@lru_cache(maxsize=1 << 17)
def _id_hash(point_id: PointId) -> int:
    if isinstance(point_id, int):
        data = point_id.to_bytes(8, "little")
    else:
        data = uuid.UUID(point_id).bytes
    return _siphash24_zero_key(data)


def slice_of(point_id: PointId, total: int) -> int:
    """The slice (out of ``total``) a point id falls into."""
    return _id_hash(point_id) % total


# ---------------------------------------------------------------------------------------------
# is_empty, is_null, has_id, has_vector, slice


def _payload_field_key(c: dict, field: str) -> tuple:
    inner = c[field]
    if not isinstance(inner, dict):
        raise FormatError(f"invalid type: {_type_name(inner)} for `{field}`, expected {{key}}")
    if "key" not in inner:
        raise FormatError(f"missing field `key` in `{field}`")
    return _key_path(inner)


def _compile_is_empty(c: dict, ctx: _Ctx, where: str) -> _Cond:
    get = make_getter(_payload_field_key(c, "is_empty"))

    def is_empty_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        for value in get(payload):
            if value is None:
                continue
            if isinstance(value, list) and not value:
                continue
            return False
        return True

    return is_empty_pred


def _compile_is_null(c: dict, ctx: _Ctx, where: str) -> _Cond:
    get = make_getter(_payload_field_key(c, "is_null"))

    def is_null_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        for value in get(payload):
            if value is None:
                return True
            if isinstance(value, list):
                for element in value:
                    if element is None:
                        return True
        return False

    return is_null_pred


def _parse_has_id(c: dict) -> frozenset:
    ids = c["has_id"]
    if not isinstance(ids, list):
        raise FormatError(f"invalid type: {_type_name(ids)} for `has_id`, expected a list of ids")
    return frozenset(parse_point_id(x) for x in ids)


def _compile_has_id(c: dict, ctx: _Ctx, where: str) -> _Cond:
    ids = _parse_has_id(c)
    if ctx.in_nested or not ids:
        return _always_false

    def has_id_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        return pid in ids

    return has_id_pred


def _compile_has_vector(c: dict, ctx: _Ctx, where: str) -> _Cond:
    name = c["has_vector"]
    if not isinstance(name, str):
        raise FormatError(f"invalid type: {_type_name(name)} for `has_vector`, expected a string")
    if ctx.in_nested:
        return _always_false

    def has_vector_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        return hv is not None and bool(hv(name))

    return has_vector_pred


def _u32(value: Any, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(f"invalid type: {_type_name(value)} for `{field}`, expected an integer")
    if value < minimum or value > _U32_MAX:
        expected = "a nonzero u32" if minimum else "u32"
        raise FormatError(f"invalid value: integer `{value}` for `{field}`, expected {expected}")
    return value


def _compile_slice(c: dict, ctx: _Ctx, where: str) -> _Cond:
    s = _require_dict(c["slice"], "a slice {total, index}")
    total = _u32(_require(s, "total"), "slice.total", 1)
    index = _u32(_require(s, "index"), "slice.index", 0)
    if index >= total:
        ctx.invalid.append(
            f"{where}.slice.index: value {index} invalid, must be less than total ({total})"
        )
        return _always_false
    if ctx.in_nested:
        return _always_false
    if total == 1:
        return _always_true

    def slice_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        return _id_hash(pid) % total == index

    return slice_pred


# ---------------------------------------------------------------------------------------------
# tessera_ring (Tessera's own, sent between peers while a collection is resharded)


def _compile_ring(c: dict, ctx: _Ctx, where: str) -> _Cond:
    """``{"tessera_ring": {"shards": [ids], "shard": id}}``: the points the hash ring of those
    shards gives to ``shard``. A shard being resharded holds points it does not own (yet, or
    any more); reads ask it for only those it owns, so no point is answered twice."""
    r = _require_dict(c["tessera_ring"], "a ring {shards, shard}")
    shards, shard = _require(r, "shards"), _require(r, "shard")
    if not isinstance(shards, list) or not shards or \
            not all(isinstance(s, int) and not isinstance(s, bool) for s in shards) or \
            isinstance(shard, bool) or not isinstance(shard, int):
        raise FormatError("invalid `tessera_ring`: expected {shards: [u32], shard: u32}")
    if ctx.in_nested:
        return _always_false
    ring = ring_of(tuple(sorted(shards)))
    owner = ring.shard

    def ring_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        return owner(pid) == shard

    return ring_pred
