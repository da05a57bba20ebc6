"""Collection configs and collection info → protobuf: a JSON-shaped dict (REST names) filled into
a message field by field (``fill``); the messages whose REST shape differs have their own writer
in ``_WRITERS``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from router.api.grpc.enums import ENUM_NUMBERS
from router.api.grpc.messages import pb
from router.api.grpc.to_grpc.values import point_id, value

# -- generic: a JSON-shaped dict → a message, field by field (configs, collection info) ---------
_RENAMES: dict[str, dict[str, str]] = {
    "qdrant.CollectionParams": {
        "vectors": "vectors_config",
        "sparse_vectors": "sparse_vectors_config",
    },
}


def _scalar(fd: FieldDescriptor, v: Any) -> Any:
    """A JSON scalar converted for a protobuf field, or None when it does not fit the field."""
    kind = fd.type
    if kind == FieldDescriptor.TYPE_ENUM:
        return ENUM_NUMBERS.get(fd.enum_type.full_name, {}).get(v) if isinstance(v, str) else None
    if kind == FieldDescriptor.TYPE_BOOL:
        return v if isinstance(v, bool) else None
    if kind == FieldDescriptor.TYPE_STRING:
        return v if isinstance(v, str) else None
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int):
        return None
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64) and v < 0:
        return None
    return v


def _into(target: Message, v: Any) -> None:
    """Fill a (sub)message from its JSON form and mark it present."""
    special = _WRITERS.get(target.DESCRIPTOR.full_name)
    if special is not None:
        special(target, v)
    elif isinstance(v, Mapping):
        fill(target, v)
    target.SetInParent()


def _set(msg: Message, fd: FieldDescriptor, v: Any) -> None:
    name = fd.name
    if fd.is_repeated:
        container = getattr(msg, name)
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            if not isinstance(v, Mapping):
                return
            value_fd = fd.message_type.fields_by_name["value"]
            for key, item in v.items():
                if item is None and value_fd.message_type is None:
                    continue
                if value_fd.type == FieldDescriptor.TYPE_MESSAGE:
                    _into(container[str(key)], item)
                else:
                    converted = _scalar(value_fd, item)
                    if converted is not None:
                        container[str(key)] = converted
            return
        if not isinstance(v, (list, tuple)):
            return
        for item in v:
            if fd.type == FieldDescriptor.TYPE_MESSAGE:
                _into(container.add(), item)
            else:
                converted = _scalar(fd, item)
                if converted is not None:
                    container.append(converted)
        return
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        _into(getattr(msg, name), v)
        return
    converted = _scalar(fd, v)
    if converted is not None:
        try:
            setattr(msg, name, converted)
        except (ValueError, TypeError):  # out of the field's range: leave it unset
            pass


def fill(msg: Message, data: Mapping[str, Any]) -> Message:
    """Set every field of ``msg`` that ``data`` (a JSON object with REST names) has a value for;
    keys without a field are ignored, as are nulls."""
    desc = msg.DESCRIPTOR
    rename = _RENAMES.get(desc.full_name, {})
    for key, v in data.items():
        if v is None:
            continue
        fd = desc.fields_by_name.get(rename.get(key, key))
        if fd is not None:
            _set(msg, fd, v)
    return msg


def _write_value(target: pb.Value, v: Any) -> None:
    target.CopyFrom(value(v))


def _write_vectors_config(target: pb.VectorsConfig, v: Any) -> None:
    if not isinstance(v, Mapping):
        return
    if "size" in v and "distance" in v:
        fill(target.params, v)
        target.params.SetInParent()
        return
    target.params_map.SetInParent()
    for name, params in v.items():
        if isinstance(params, Mapping):
            fill(target.params_map.map[name], params)


def _write_map_of(field: str) -> Callable[[Message, Any], None]:
    def write(target: Message, v: Any) -> None:
        if isinstance(v, Mapping):
            container = getattr(target, field)
            for name, item in v.items():
                _into(container[name], item if item is not None else {})

    return write


def _write_quantization(target: Message, v: Any) -> None:
    if v == "Disabled" and "disabled" in target.DESCRIPTOR.fields_by_name:
        target.disabled.SetInParent()
        return
    if not isinstance(v, Mapping):
        return
    for key, body in v.items():
        field = "turboquant" if key == "turbo" else key
        if field in target.DESCRIPTOR.fields_by_name and isinstance(body, Mapping):
            _into(getattr(target, field), body)
            return


def _write_max_threads(target: pb.MaxOptimizationThreads, v: Any) -> None:
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        target.value = v
    elif isinstance(v, str) and v in ENUM_NUMBERS["qdrant.MaxOptimizationThreads.Setting"]:
        target.setting = ENUM_NUMBERS["qdrant.MaxOptimizationThreads.Setting"][v]


def _write_optimizers(target: pb.OptimizersConfigDiff, v: Any) -> None:
    if isinstance(v, Mapping):
        fill(target, v)
    if not target.HasField("max_optimization_threads"):  # null: chosen automatically
        target.max_optimization_threads.setting = pb.MaxOptimizationThreads.Setting.Auto


def _write_optimizer_status(target: pb.OptimizerStatus, v: Any) -> None:
    if v == "ok":
        target.ok = True
    elif isinstance(v, Mapping) and "error" in v:
        target.ok = False
        target.error = str(v["error"])


def _write_query_encoding(target: pb.BinaryQuantizationQueryEncoding, v: Any) -> None:
    number = ENUM_NUMBERS["qdrant.BinaryQuantizationQueryEncoding.Setting"].get(v)
    if number is not None:
        target.setting = number


def _index_params_fields(v: Mapping[str, Any]) -> dict:
    """A stored index schema (REST JSON: {"type", **params}) → the fields of its *IndexParams
    message, where REST and protobuf shapes differ: keyword ``prefix: true`` is the presence of
    an empty message; text ``scoring: true`` is BM25; a ``stopwords`` language name is a set of
    one; ``stemmer`` {"type": "snowball", "language"} / {"type": "none"} is a oneof. False
    flags are left out (protobuf has no way to say them)."""
    out = {k: x for k, x in v.items() if k not in ("type", "prefix", "scoring", "stemmer")}
    if v.get("prefix") is True:
        out["prefix"] = {}
    scoring = v.get("scoring")
    if scoring is True:
        out["scoring"] = {"type": "bm25"}
    elif isinstance(scoring, Mapping):
        out["scoring"] = scoring
    if isinstance(v.get("stopwords"), str):
        out["stopwords"] = {"languages": [v["stopwords"]]}
    stemmer = v.get("stemmer")
    if isinstance(stemmer, Mapping):
        if stemmer.get("type") == "snowball":
            out["stemmer"] = {"snowball": {"language": stemmer.get("language")}}
        elif stemmer.get("type") == "none":
            out["stemmer"] = {"disabled": {}}
    return out


def _write_index_params(target: pb.PayloadIndexParams, v: Any) -> None:
    if not isinstance(v, Mapping) or not isinstance(v.get("type"), str):
        return
    field = f"{v['type']}_index_params"
    if field in target.DESCRIPTOR.fields_by_name:
        _into(getattr(target, field), _index_params_fields(v))


def _write_shard_key(target: pb.ShardKey, v: Any) -> None:
    if isinstance(v, str):
        target.keyword = v
    elif isinstance(v, int) and not isinstance(v, bool):
        target.number = v


def _write_point_id(target: pb.PointId, v: Any) -> None:
    target.CopyFrom(point_id(v))


def _write_timestamp(target, v: Any) -> None:
    if isinstance(v, str):
        try:
            target.FromJsonString(v)
        except ValueError:
            pass


_WRITERS: dict[str, Callable[[Any, Any], None]] = {
    "qdrant.Value": _write_value,
    "qdrant.PointId": _write_point_id,
    "qdrant.ShardKey": _write_shard_key,
    "qdrant.VectorsConfig": _write_vectors_config,
    "qdrant.SparseVectorConfig": _write_map_of("map"),
    "qdrant.StrictModeMultivectorConfig": _write_map_of("multivector_config"),
    "qdrant.StrictModeSparseConfig": _write_map_of("sparse_config"),
    "qdrant.QuantizationConfig": _write_quantization,
    "qdrant.QuantizationConfigDiff": _write_quantization,
    "qdrant.MaxOptimizationThreads": _write_max_threads,
    "qdrant.OptimizersConfigDiff": _write_optimizers,
    "qdrant.OptimizerStatus": _write_optimizer_status,
    "qdrant.BinaryQuantizationQueryEncoding": _write_query_encoding,
    "qdrant.PayloadIndexParams": _write_index_params,
    "google.protobuf.Timestamp": _write_timestamp,
}


# -- collections -------------------------------------------------------------------------------
def collection_config(config: Mapping[str, Any]) -> pb.CollectionConfig:
    """A stored collection config (Qdrant's CollectionConfig JSON) → CollectionConfig."""
    out = pb.CollectionConfig()
    _into(out, config)
    return out


def collection_info(info: Mapping[str, Any]) -> pb.CollectionInfo:
    """``Collection.info()`` (the REST ``result`` of GET /collections/{name}) → CollectionInfo."""
    out = pb.CollectionInfo()
    _into(out, info)
    return out
