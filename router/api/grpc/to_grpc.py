"""Internal results → gRPC response messages.

The inputs are what the REST face serializes: ``PointRecord``s, ``UpdateResult``s, the dict of
``Collection.info()`` (its ``config`` in Qdrant's stored JSON shape) and the lists of the table
of contents. The shape decisions the REST face makes (a single unnamed vector vs named vectors)
are taken from ``router.api.rest.serialize`` so both faces show the same thing; this module only
re-encodes that JSON shape as protobuf.

Vectors are written in the ``VectorsOutput``/``VectorOutput`` oneof form (``dense``, ``sparse``,
``multi_dense``) with the deprecated flat fields (``data``, ``indices``, ``vectors_count``) left
empty, as Qdrant 1.19 does; qdrant-client reads the oneof first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from qdrant_client import grpc as pb

from node.shard_config import ShardConfig
from node.shard_search import PointRecord
from router.api.grpc.from_grpc import ENUM_NAMES
from router.api.rest.serialize import vectors_json
from router.collection.collection import UpdateResult

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_NULL = pb.NullValue.NULL_VALUE

# REST name → protobuf number, per enum
ENUM_NUMBERS: dict[str, dict[str, int]] = {
    enum: {name: number for number, name in names.items()} for enum, names in ENUM_NAMES.items()
}

_UPDATE_STATUS = {
    "acknowledged": pb.UpdateStatus.Acknowledged,
    "completed": pb.UpdateStatus.Completed,
    "wait_timeout": pb.UpdateStatus.WaitTimeout,
}


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


# -- points ------------------------------------------------------------------------------------
def _record_kwargs(config: ShardConfig, record: PointRecord) -> dict:
    pid = record.id
    kw: dict = {"id": {"uuid": pid} if isinstance(pid, str) else {"num": int(pid)}}
    if record.payload:
        kw["payload"] = payload_kwargs(record.payload)
    if record.vectors is not None:
        kw["vectors"] = _vectors_kwargs(vectors_json(config, record.vectors))
    key = getattr(record, "shard_key", None)
    if key is not None:
        kw["shard_key"] = shard_key(key)
    return kw


def shard_key(key) -> pb.ShardKey:
    return pb.ShardKey(keyword=key) if isinstance(key, str) else pb.ShardKey(number=key)


def collection_cluster_info_response(info: dict, elapsed: float) -> pb.CollectionClusterInfoResponse:
    """GET /collections/{name}/cluster's answer as gRPC's CollectionClusterInfoResponse."""

    def keyed(entry: dict) -> dict:
        return {"shard_key": shard_key(entry["shard_key"])} if "shard_key" in entry else {}

    return pb.CollectionClusterInfoResponse(
        peer_id=info["peer_id"],
        shard_count=info["shard_count"],
        local_shards=[
            pb.LocalShardInfo(shard_id=e["shard_id"], points_count=e["points_count"],
                              state=pb.ReplicaState.Value(e["state"]), **keyed(e))
            for e in info["local_shards"]
        ],
        remote_shards=[
            pb.RemoteShardInfo(shard_id=e["shard_id"], peer_id=e["peer_id"],
                               state=pb.ReplicaState.Value(e["state"]), **keyed(e))
            for e in info["remote_shards"]
        ],
        shard_transfers=[
            pb.ShardTransferInfo(**{"shard_id": t["shard_id"], "from": t["from"], "to": t["to"],
                                    "sync": t["sync"]})
            for t in info["shard_transfers"]
        ],
        time=elapsed,
    )


def order_value(v: int | float) -> pb.OrderValue:
    """The value a point was ordered by, as REST shows it: an int for integer and datetime
    keys, a float for float keys."""
    if isinstance(v, int) and _INT64_MIN <= v <= _INT64_MAX:
        return pb.OrderValue(int=v)
    return pb.OrderValue(float=float(v))


def retrieved_point(config: ShardConfig, record: PointRecord) -> pb.RetrievedPoint:
    kw = _record_kwargs(config, record)
    if record.order_value is not None:
        kw["order_value"] = order_value(record.order_value)
    return pb.RetrievedPoint(**kw)


def scored_point(config: ShardConfig, record: PointRecord) -> dict:
    """A hit as ScoredPoint's fields: a message's repeated field takes such dicts, and
    building the whole answer from plain dicts in one go is ~2× faster than from messages."""
    kw = _record_kwargs(config, record)
    kw["score"] = float(record.score or 0.0)
    kw["version"] = int(record.version)
    if record.order_value is not None:
        kw["order_value"] = order_value(record.order_value)
    return kw


def update_result(result: UpdateResult) -> pb.UpdateResult:
    return pb.UpdateResult(
        operation_id=result.operation_id,
        status=_UPDATE_STATUS.get(result.status, pb.UpdateStatus.UnknownUpdateStatus),
    )


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


def alias_descriptions(aliases: Iterable[Mapping[str, str]]) -> list[pb.AliasDescription]:
    return [
        pb.AliasDescription(alias_name=a["alias_name"], collection_name=a["collection_name"])
        for a in aliases
    ]


# -- responses ---------------------------------------------------------------------------------
def list_collections_response(names: Iterable[str], elapsed: float) -> pb.ListCollectionsResponse:
    return pb.ListCollectionsResponse(
        collections=[pb.CollectionDescription(name=n) for n in names], time=elapsed
    )


def collection_info_response(
    info: Mapping[str, Any], elapsed: float
) -> pb.GetCollectionInfoResponse:
    return pb.GetCollectionInfoResponse(result=collection_info(info), time=elapsed)


def collection_operation_response(result: bool, elapsed: float) -> pb.CollectionOperationResponse:
    return pb.CollectionOperationResponse(result=bool(result), time=elapsed)


def collection_exists_response(exists: bool, elapsed: float) -> pb.CollectionExistsResponse:
    return pb.CollectionExistsResponse(result=pb.CollectionExists(exists=exists), time=elapsed)


def aliases_response(
    aliases: Iterable[Mapping[str, str]], elapsed: float
) -> pb.ListAliasesResponse:
    return pb.ListAliasesResponse(aliases=alias_descriptions(aliases), time=elapsed)


def points_operation_response(result: UpdateResult, elapsed: float) -> pb.PointsOperationResponse:
    return pb.PointsOperationResponse(result=update_result(result), time=elapsed)


def update_batch_response(
    results: Iterable[UpdateResult], elapsed: float
) -> pb.UpdateBatchResponse:
    return pb.UpdateBatchResponse(result=[update_result(r) for r in results], time=elapsed)


def get_response(
    config: ShardConfig, records: Iterable[PointRecord], elapsed: float
) -> pb.GetResponse:
    return pb.GetResponse(result=[retrieved_point(config, r) for r in records], time=elapsed)


def scroll_response(
    config: ShardConfig, records: Iterable[PointRecord], next_offset: Any, elapsed: float
) -> pb.ScrollResponse:
    out = pb.ScrollResponse(result=[retrieved_point(config, r) for r in records], time=elapsed)
    if next_offset is not None:
        out.next_page_offset.CopyFrom(point_id(next_offset))
    return out


def facet_value(v: Any) -> pb.FacetValue:
    """A facet value (a keyword, an integer or a bool) → FacetValue."""
    if isinstance(v, (bool, np.bool_)):
        return pb.FacetValue(bool_value=bool(v))
    if isinstance(v, (int, np.integer)):
        return pb.FacetValue(integer_value=int(v))
    return pb.FacetValue(string_value=str(v))


def facet_response(hits: Iterable[tuple[Any, int]], elapsed: float) -> pb.FacetResponse:
    """``Collection.facet`` (value, count) pairs → FacetResponse, in the same order."""
    return pb.FacetResponse(
        hits=[pb.FacetHit(value=facet_value(v), count=int(n)) for v, n in hits], time=elapsed
    )


def count_response(count: int, elapsed: float) -> pb.CountResponse:
    return pb.CountResponse(result=pb.CountResult(count=int(count)), time=elapsed)


def scored_points(config: ShardConfig, records: Iterable[PointRecord]) -> list[dict]:
    """ScoredPoint fields of each hit, for a repeated ScoredPoint field."""
    return [scored_point(config, r) for r in records]


def query_response(
    config: ShardConfig, records: Iterable[PointRecord], elapsed: float
) -> pb.QueryResponse:
    return pb.QueryResponse(result=scored_points(config, records), time=elapsed)


def query_batch_response(
    config: ShardConfig, results: Iterable[Iterable[PointRecord]], elapsed: float
) -> pb.QueryBatchResponse:
    return pb.QueryBatchResponse(
        result=[pb.BatchResult(result=scored_points(config, rs)) for rs in results], time=elapsed
    )


def search_response(
    config: ShardConfig, records: Iterable[PointRecord], elapsed: float
) -> pb.SearchResponse:
    return pb.SearchResponse(result=scored_points(config, records), time=elapsed)


def search_batch_response(
    config: ShardConfig, results: Iterable[Iterable[PointRecord]], elapsed: float
) -> pb.SearchBatchResponse:
    return pb.SearchBatchResponse(
        result=[pb.BatchResult(result=scored_points(config, rs)) for rs in results], time=elapsed
    )


def health_check_reply(title: str, version: str, commit: str | None = None) -> pb.HealthCheckReply:
    reply = pb.HealthCheckReply(title=title, version=version)
    if commit is not None:
        reply.commit = commit
    return reply


# -- groups, distance matrix, legacy recommend / discover ------------------------------------
def group_id(value: Any) -> pb.GroupId:
    if isinstance(value, str):
        return pb.GroupId(string_value=value)
    if value >= 0:
        return pb.GroupId(unsigned_value=value)
    return pb.GroupId(integer_value=value)


def groups_result(
    config: ShardConfig, groups: Iterable, lookup_config: ShardConfig | None
) -> pb.GroupsResult:
    out = []
    for group in groups:
        kw: dict = {"id": group_id(group.id), "hits": scored_points(config, group.hits)}
        if group.lookup is not None and lookup_config is not None:
            kw["lookup"] = retrieved_point(lookup_config, group.lookup)
        out.append(pb.PointGroup(**kw))
    return pb.GroupsResult(groups=out)


def matrix_pairs_response(matrix: Any, elapsed: float) -> pb.SearchMatrixPairsResponse:
    pairs = [
        pb.SearchMatrixPair(a=point_id(matrix.ids[i]), b=point_id(matrix.ids[j]), score=float(s))
        for i, j, s in zip(matrix.rows, matrix.cols, matrix.scores, strict=False)
    ]
    return pb.SearchMatrixPairsResponse(result=pb.SearchMatrixPairs(pairs=pairs), time=elapsed)


def matrix_offsets_response(matrix: Any, elapsed: float) -> pb.SearchMatrixOffsetsResponse:
    result = pb.SearchMatrixOffsets(
        offsets_row=list(matrix.rows),
        offsets_col=list(matrix.cols),
        scores=[float(s) for s in matrix.scores],
        ids=[point_id(i) for i in matrix.ids],
    )
    return pb.SearchMatrixOffsetsResponse(result=result, time=elapsed)


def batch_results(
    config: ShardConfig, results: Iterable[Iterable[PointRecord]]
) -> list[pb.BatchResult]:
    return [pb.BatchResult(result=scored_points(config, rs)) for rs in results]
