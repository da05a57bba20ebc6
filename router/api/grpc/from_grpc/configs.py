"""Config-like messages (collection configs and their diffs, search params, index params, …) →
their REST JSON, field by field under the same names (``fields``, ``message``); the messages
whose REST shape differs have their own conversion in ``_SPECIAL``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from router.api.grpc.enums import ENUM_NAMES
from router.api.grpc.from_grpc.common import _oneof
from router.api.grpc.from_grpc.filters import filter_, timestamp
from router.api.grpc.from_grpc.values import (
    f32,
    payload,
    point_id,
    shard_key,
    shard_key_selector,
    value,
)
from router.api.grpc.messages import pb


# -- generic messages (configs, params): field by field, same names as REST ---------------------
def _scalar(fd: FieldDescriptor, v: Any) -> Any:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        return message(v)
    if fd.type == FieldDescriptor.TYPE_ENUM:
        return ENUM_NAMES.get(fd.enum_type.full_name, {}).get(v)
    if fd.type == FieldDescriptor.TYPE_FLOAT:
        return f32(v)
    return v


def fields(msg: Message, skip: tuple = (), rename: Mapping[str, str] | None = None) -> dict:
    """The fields a client set, as a dict with REST names.

    Fields with presence count when set; plain proto3 scalars always count (as Qdrant reads
    them); repeated fields and maps count when not empty. Enum numbers without a REST name (the
    ``Unknown…``/``Default`` zeros) are left out."""
    out: dict = {}
    for fd in msg.DESCRIPTOR.fields:
        name = fd.name
        if name in skip:
            continue
        if fd.is_repeated:
            container = getattr(msg, name)
            if not len(container):
                continue
            if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
                value_fd = fd.message_type.fields_by_name["value"]
                converted: Any = {k: _scalar(value_fd, v) for k, v in container.items()}
            else:
                converted = [_scalar(fd, v) for v in container]
        elif fd.has_presence and not msg.HasField(name):
            continue
        else:
            converted = _scalar(fd, getattr(msg, name))
        if converted is None:
            continue
        out[rename.get(name, name) if rename else name] = converted
    return out


def _quantization(q: Message) -> Any:
    kind, inner = _oneof(q, "quantization")
    if kind is None:
        return None
    if kind == "disabled":
        return "Disabled"
    body = fields(inner)
    if kind == "scalar":
        body["type"] = ENUM_NAMES["qdrant.QuantizationType"].get(inner.type, "int8")
    return {"turbo" if kind == "turboquant" else kind: body}


def _max_threads(m: pb.MaxOptimizationThreads) -> Any:
    kind, inner = _oneof(m, "variant")
    if kind == "value":
        return inner
    if kind == "setting":
        return ENUM_NAMES["qdrant.MaxOptimizationThreads.Setting"].get(inner, "auto")
    return None


def _optimizers(o: pb.OptimizersConfigDiff) -> dict:
    out = fields(o, skip=("deprecated_max_optimization_threads", "max_optimization_threads"))
    if o.HasField("max_optimization_threads"):
        out["max_optimization_threads"] = _max_threads(o.max_optimization_threads)
    elif o.HasField("deprecated_max_optimization_threads"):
        out["max_optimization_threads"] = o.deprecated_max_optimization_threads
    return out


def _vectors_config(v: pb.VectorsConfig) -> Any:
    """VectorsConfig → REST ``vectors``: one unnamed VectorParams, or {name: VectorParams}."""
    kind, inner = _oneof(v, "config")
    if kind == "params":
        return message(inner)
    if kind == "params_map":
        return {name: message(p) for name, p in inner.map.items()}
    return None


def _vectors_config_diff(v: pb.VectorsConfigDiff) -> Any:
    """VectorsConfigDiff → REST ``vectors`` of a PATCH: always a map, "" for the unnamed one."""
    kind, inner = _oneof(v, "config")
    if kind == "params":
        return {"": message(inner)}
    if kind == "params_map":
        return {name: message(p) for name, p in inner.map.items()}
    return None


def _query_encoding(e: pb.BinaryQuantizationQueryEncoding) -> Any:
    kind, inner = _oneof(e, "variant")
    if kind == "setting":
        return ENUM_NAMES["qdrant.BinaryQuantizationQueryEncoding.Setting"].get(inner)
    return None


def _idf(i: pb.IdfParams) -> Any:
    return {"corpus": filter_(i.corpus)} if i.HasField("corpus") else "global"


def _start_from(s: pb.StartFrom) -> Any:
    kind, inner = _oneof(s, "value")
    if kind == "timestamp":
        return timestamp(inner)
    return inner


def _stopwords(s: pb.StopwordsSet) -> Any:
    """StopwordsSet → REST ``stopwords``: one language alone is its name (as a REST body gives
    it), anything else {languages, custom} with the empty lists left out."""
    if len(s.languages) == 1 and not len(s.custom):
        return s.languages[0]
    return fields(s)


def _stemmer(s: pb.StemmingAlgorithm) -> Any:
    """StemmingAlgorithm → REST ``stemmer``: {"type": "snowball", "language"} / {"type": "none"}."""
    kind, inner = _oneof(s, "stemming_params")
    if kind == "snowball":
        return {"type": "snowball", "language": inner.language}
    if kind == "disabled":
        return {"type": "none"}
    return None


def _lookup_location(loc: pb.LookupLocation) -> dict:
    return fields(
        loc,
        rename={
            "collection_name": "collection",
            "vector_name": "vector",
            "shard_key_selector": "shard_key",
        },
    )


_SPECIAL: dict[str, Callable[[Any], Any]] = {
    "qdrant.Value": value,
    "qdrant.Struct": lambda s: payload(s.fields),
    "qdrant.PointId": point_id,
    "qdrant.Filter": filter_,
    "qdrant.ShardKey": shard_key,
    "qdrant.ShardKeySelector": shard_key_selector,
    "qdrant.QuantizationConfig": _quantization,
    "qdrant.QuantizationConfigDiff": _quantization,
    "qdrant.OptimizersConfigDiff": _optimizers,
    "qdrant.MaxOptimizationThreads": _max_threads,
    "qdrant.VectorsConfig": _vectors_config,
    "qdrant.VectorsConfigDiff": _vectors_config_diff,
    "qdrant.SparseVectorConfig": lambda s: {name: message(p) for name, p in s.map.items()},
    "qdrant.StrictModeMultivectorConfig": lambda s: {
        name: message(p) for name, p in s.multivector_config.items()
    },
    "qdrant.StrictModeSparseConfig": lambda s: {
        name: message(p) for name, p in s.sparse_config.items()
    },
    "qdrant.BinaryQuantizationQueryEncoding": _query_encoding,
    "qdrant.IdfParams": _idf,
    "qdrant.StartFrom": _start_from,
    "qdrant.StopwordsSet": _stopwords,
    "qdrant.StemmingAlgorithm": _stemmer,
    # an empty message whose presence is REST's `"prefix": true`
    "qdrant.KeywordPrefixParams": lambda _: True,
    "qdrant.LookupLocation": _lookup_location,
    "google.protobuf.Timestamp": timestamp,
}


def message(msg: Message) -> Any:
    """Any config-like message → its REST JSON form (special shapes by message type)."""
    special = _SPECIAL.get(msg.DESCRIPTOR.full_name)
    if special is not None:
        return special(msg)
    return fields(msg)
