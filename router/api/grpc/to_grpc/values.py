"""Payload values, point ids and vectors → protobuf: as messages, or as the constructor arguments
of one (``…_kwargs``), from which protobuf builds a whole message tree in one call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from node.shard_config import ShardConfig
from router.api.grpc.messages import pb
from router.api.rest.serialize import vectors_json

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_NULL = pb.NullValue.NULL_VALUE


# -- payload values ----------------------------------------------------------------------------
def _value_kwargs(v: Any) -> dict:
    """The constructor arguments of a protobuf Value for a python (JSON) value. Nested messages
    are given as dicts of arguments: protobuf builds the whole tree in one call."""
    t = type(v)
    if t is str:
        return {"string_value": v}
    if t is bool:
        return {"bool_value": v}
    if t is int:
        if _INT64_MIN <= v <= _INT64_MAX:
            return {"integer_value": v}
        return {"double_value": float(v)}  # u64 above i64::MAX: a JSON number, as Qdrant sends it
    if t is float:
        return {"double_value": v}
    if v is None:
        return {"null_value": _NULL}
    if isinstance(v, dict):
        return {"struct_value": {"fields": payload_kwargs(v)}}
    if isinstance(v, (list, tuple)):
        return {"list_value": {"values": [_value_kwargs(x) for x in v]}}
    if isinstance(v, (bool, np.bool_)):
        return {"bool_value": bool(v)}
    if isinstance(v, (int, np.integer)):
        return _value_kwargs(int(v))
    if isinstance(v, (float, np.floating)):
        return {"double_value": float(v)}
    if isinstance(v, str):
        return {"string_value": str(v)}
    if isinstance(v, np.ndarray):
        return _value_kwargs(v.tolist())
    return {"string_value": str(v)}


def payload_kwargs(d: Mapping[str, Any]) -> dict:
    return {str(k): _value_kwargs(v) for k, v in d.items()}


def value(v: Any) -> pb.Value:
    """python (JSON) value → protobuf Value; ``int`` → integer_value, ``float`` → double_value."""
    return pb.Value(**_value_kwargs(v))


def payload(d: Mapping[str, Any]) -> dict[str, pb.Value]:
    """A payload dict → the value of a ``map<string, Value>`` field."""
    return {str(k): value(v) for k, v in d.items()}


def struct(d: Mapping[str, Any]) -> pb.Struct:
    return pb.Struct(fields=payload_kwargs(d))


# -- ids and vectors ---------------------------------------------------------------------------
def point_id(pid: int | str) -> pb.PointId:
    if isinstance(pid, str):
        return pb.PointId(uuid=pid)
    return pb.PointId(num=int(pid))


def _floats(values: Any) -> list:
    if isinstance(values, np.ndarray):
        return values.astype(np.float32, copy=False).tolist()
    return [float(x) for x in values]


def _vector_kwargs(v: Any) -> dict:
    """One vector in the REST output shape → VectorOutput constructor arguments."""
    if isinstance(v, dict):
        return {
            "sparse": {"indices": [int(i) for i in v["indices"]], "values": _floats(v["values"])}
        }
    if isinstance(v, tuple):  # (indices, values) as a shard holds a sparse vector
        return {"sparse": {"indices": [int(i) for i in v[0]], "values": _floats(v[1])}}
    array = np.asarray(v, dtype=np.float32)
    if array.ndim == 2:
        return {"multi_dense": {"vectors": [{"data": row.tolist()} for row in array]}}
    return {"dense": {"data": array.reshape(-1).tolist()}}


def vector_output(v: Any) -> pb.VectorOutput:
    return pb.VectorOutput(**_vector_kwargs(v))


def _vectors_kwargs(shaped: Any) -> dict:
    """REST ``vector`` of a record (a vector, or {name: vector}) → VectorsOutput arguments."""
    if isinstance(shaped, dict):  # vectors_json gives a bare vector only for unnamed ones
        return {"vectors": {"vectors": {name: _vector_kwargs(v) for name, v in shaped.items()}}}
    return {"vector": _vector_kwargs(shaped)}


def vectors_output(config: ShardConfig, vectors: dict) -> pb.VectorsOutput:
    """The stored vectors of a record → VectorsOutput, single or named as REST shows them."""
    return pb.VectorsOutput(**_vectors_kwargs(vectors_json(config, vectors)))
