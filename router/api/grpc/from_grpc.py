"""gRPC request messages → the JSON-shaped dicts the REST face hands to ``router.operations``
and ``TableOfContent``.

Every function here is a pure conversion: it maps one protobuf message onto exactly the JSON body
Qdrant's REST API would take for the same request, and decides nothing. Whether a value is
allowed (a vector's dimension, a limit of 0, a query kind not supported yet) is left to the code
both faces share, so both answer with the same error. Only a message that cannot be expressed as
JSON at all (a oneof with nothing set where one is required) raises here, as ``BadRequest``.

Conventions:

* a field the client did not set (no presence, an empty repeated field or map) is left out of the
  dict, so the shared parser applies the same default as for a REST body without it;
* protobuf ``float`` (32 bit) fields become the shortest decimal that round-trips through float32
  (a client that sent ``0.1`` is seen as having sent ``0.1``, as over REST);
* payload values keep their kind: ``integer_value`` → ``int``, ``double_value`` → ``float``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from qdrant_client import grpc as pb

from node.errors import BadRequest

# -- enum names: protobuf enum full name → {number: REST name} ------------------------------------
# (to_grpc reverses these tables for the responses)
ENUM_NAMES: dict[str, dict[int, str]] = {
    "qdrant.Distance": {1: "Cosine", 2: "Euclid", 3: "Dot", 4: "Manhattan"},
    "qdrant.Datatype": {
        1: "float32",
        2: "uint8",
        3: "float16",
        4: "turbo4",
        5: "turbo8",
        6: "turbo16",
    },
    "qdrant.Memory": {1: "cold", 2: "cached", 3: "pinned"},
    "qdrant.Modifier": {0: "none", 1: "idf"},
    "qdrant.MultiVectorComparator": {0: "max_sim"},
    "qdrant.ShardingMethod": {0: "auto", 1: "custom"},
    "qdrant.QuantizationType": {1: "int8"},
    "qdrant.CompressionRatio": {0: "x4", 1: "x8", 2: "x16", 3: "x32", 4: "x64"},
    "qdrant.BinaryQuantizationEncoding": {0: "one_bit", 1: "two_bits", 2: "one_and_half_bits"},
    "qdrant.BinaryQuantizationQueryEncoding.Setting": {
        0: "default",
        1: "binary",
        2: "scalar4bits",
        3: "scalar8bits",
    },
    "qdrant.TurboQuantBitSize": {0: "bits1", 1: "bits1_5", 2: "bits2", 3: "bits4", 4: "bits8"},
    "qdrant.MaxOptimizationThreads.Setting": {0: "auto"},
    "qdrant.UpdateMode": {0: "upsert", 1: "insert_only", 2: "update_only"},
    "qdrant.Direction": {0: "asc", 1: "desc"},
    "qdrant.RecommendStrategy": {0: "average_vector", 1: "best_score", 2: "sum_scores"},
    "qdrant.Fusion": {0: "rrf", 1: "dbsf"},
    "qdrant.Sample": {0: "random"},
    "qdrant.ReadConsistencyType": {0: "all", 1: "majority", 2: "quorum"},
    "qdrant.WriteOrderingType": {0: "weak", 1: "medium", 2: "strong"},
    "qdrant.CollectionStatus": {1: "green", 2: "yellow", 3: "red", 4: "grey"},
    "qdrant.PayloadSchemaType": {
        1: "keyword",
        2: "integer",
        3: "float",
        4: "geo",
        5: "text",
        6: "bool",
        7: "datetime",
        8: "uuid",
    },
    "qdrant.FieldType": {
        0: "keyword",
        1: "integer",
        2: "float",
        3: "geo",
        4: "text",
        5: "bool",
        6: "datetime",
        7: "uuid",
    },
    "qdrant.TokenizerType": {1: "prefix", 2: "whitespace", 3: "word", 4: "multilingual", 5: "code"},
    "qdrant.TextScoringType": {0: "bm25"},
    "qdrant.ReplicaState": {
        0: "Active",
        1: "Dead",
        2: "Partial",
        3: "Initializing",
        4: "Listener",
        5: "PartialSnapshot",
        6: "Recovery",
        7: "Resharding",
        8: "ReshardingScaleDown",
        9: "ActiveRead",
        10: "ManualRecovery",
    },
    "qdrant.ShardTransferMethod": {
        0: "stream_records",
        1: "snapshot",
        2: "wal_delta",
        3: "resharding_stream_records",
    },
}


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


def create_shard_key(req: pb.CreateShardKey) -> dict:
    """CreateShardKey → the body of PUT /collections/{name}/shards."""
    body: dict = {"shard_key": shard_key(req.shard_key)}
    if req.HasField("shards_number"):
        body["shards_number"] = req.shards_number
    if req.HasField("replication_factor"):
        body["replication_factor"] = req.replication_factor
    if req.placement:
        body["placement"] = list(req.placement)
    if req.HasField("initial_state"):
        body["initial_state"] = pb.ReplicaState.Name(req.initial_state)
    return body


def shard_key_selector(s: pb.ShardKeySelector) -> Any:
    """ShardKeySelector → REST ``shard_key``: a key, a list of keys, or {target, fallback}."""
    keys = [shard_key(k) for k in s.shard_keys]
    target: Any = keys[0] if len(keys) == 1 else keys
    if s.HasField("fallback"):
        return {"target": target, "fallback": shard_key(s.fallback)}
    return target


# -- vectors -----------------------------------------------------------------------------------
def floats(values) -> list:
    """A repeated float field → list of python floats (through numpy: ~5× faster than list())."""
    return np.array(values, dtype=np.float32).tolist()


def query_floats(values) -> np.ndarray:
    """A plain nearest query's dense vector as float32 straight away: `Query.vector` takes an
    array (router.collection.search_plan), which spares a list of python floats per query."""
    return np.array(values, dtype=np.float32)


def _dense(d: pb.DenseVector) -> list:
    return floats(d.data)


def _sparse(s: pb.SparseVector) -> dict:
    return {"indices": list(s.indices), "values": floats(s.values)}


def _multi(m: pb.MultiDenseVector) -> list:
    return [floats(d.data) for d in m.vectors]


def document(d: pb.Document) -> dict:
    out: dict = {"text": d.text, "model": d.model}
    if len(d.options):
        out["options"] = payload(d.options)
    return out


def image(i: pb.Image) -> dict:
    out: dict = {"image": value(i.image), "model": i.model}
    if len(i.options):
        out["options"] = payload(i.options)
    return out


def inference_object(o: pb.InferenceObject) -> dict:
    out: dict = {"object": value(o.object), "model": o.model}
    if len(o.options):
        out["options"] = payload(o.options)
    return out


def vector(v: pb.Vector | pb.VectorOutput) -> Any:
    """Vector → a dense list, a sparse {indices, values}, a multi-vector (list of lists) or an
    inference object. The deprecated flat form (``data`` with ``indices`` or ``vectors_count``) is
    read when no oneof variant is set."""
    kind = v.WhichOneof("vector")
    if kind == "dense":
        return _dense(v.dense)
    if kind == "sparse":
        return _sparse(v.sparse)
    if kind == "multi_dense":
        return _multi(v.multi_dense)
    if kind == "document":
        return document(v.document)
    if kind == "image":
        return image(v.image)
    if kind == "object":
        return inference_object(v.object)
    # deprecated flat form
    data = floats(v.data)
    if v.HasField("indices"):
        return {"indices": list(v.indices.data), "values": data}
    if v.HasField("vectors_count"):
        count = v.vectors_count
        if count == 0 or not data:
            raise BadRequest(
                "Unable to convert to multi-dense vector: "
                f"empty multi-vector data with vectors count: {count}"
            )
        if len(data) % count:
            raise BadRequest(
                "Unable to convert to multi-dense vector: data length is not divisible by "
                f"vectors count. Data length: {len(data)}, vectors count: {count}"
            )
        dim = len(data) // count
        return [data[i : i + dim] for i in range(0, len(data), dim)]
    return data


def vectors(v: pb.Vectors | pb.VectorsOutput) -> Any:
    """Vectors → REST ``vector`` of a point: one unnamed vector or {name: vector}."""
    kind = v.WhichOneof("vectors_options")
    if kind == "vector":
        return vector(v.vector)
    if kind == "vectors":
        return {name: vector(item) for name, item in v.vectors.vectors.items()}
    raise BadRequest("No Vector Provided")


def vector_input(v: pb.VectorInput) -> Any:
    """VectorInput (queries) → a point id, a vector or an inference object."""
    kind = v.WhichOneof("variant")
    if kind == "id":
        return point_id(v.id)
    if kind == "dense":
        return _dense(v.dense)
    if kind == "sparse":
        return _sparse(v.sparse)
    if kind == "multi_dense":
        return _multi(v.multi_dense)
    if kind == "document":
        return document(v.document)
    if kind == "image":
        return image(v.image)
    if kind == "object":
        return inference_object(v.object)
    raise BadRequest("Malformed VectorInput: no variant is set")


def point_struct(p: pb.PointStruct) -> dict:
    out: dict = {"id": point_id(p.id)}
    if p.HasField("vectors"):
        out["vector"] = vectors(p.vectors)
    out["payload"] = payload(p.payload)
    return out


def point_vectors(p: pb.PointVectors) -> dict:
    out: dict = {"id": point_id(p.id)}
    if p.HasField("vectors"):
        out["vector"] = vectors(p.vectors)
    return out


# -- filters -----------------------------------------------------------------------------------
def _geo_point(g: pb.GeoPoint) -> dict:
    return {"lon": g.lon, "lat": g.lat}


def _line(line: pb.GeoLineString) -> dict:
    return {"points": [_geo_point(p) for p in line.points]}


def _bounds(msg: Message, convert: Callable[[Any], Any] = lambda x: x) -> dict:
    return {k: convert(getattr(msg, k)) for k in ("lt", "gt", "gte", "lte") if msg.HasField(k)}


def timestamp(ts) -> str:
    """google.protobuf.Timestamp → RFC 3339 text (UTC, ``Z``), as a REST body writes it."""
    return ts.ToJsonString()


def match(m: pb.Match) -> dict:
    kind = m.WhichOneof("match_value")
    if kind in ("keyword", "integer", "boolean"):
        return {"value": getattr(m, kind)}
    if kind in ("text", "phrase", "text_any", "prefix", "substring"):
        return {kind: getattr(m, kind)}
    if kind == "keywords":
        return {"any": list(m.keywords.strings)}
    if kind == "integers":
        return {"any": list(m.integers.integers)}
    if kind == "except_keywords":
        return {"except": list(m.except_keywords.strings)}
    if kind == "except_integers":
        return {"except": list(m.except_integers.integers)}
    raise BadRequest("Malformed Match condition: no match value is set")


def field_condition(c: pb.FieldCondition) -> dict:
    out: dict = {"key": c.key}
    if c.HasField("match"):
        out["match"] = match(c.match)
    if c.HasField("range"):
        out["range"] = _bounds(c.range)
    if c.HasField("datetime_range"):
        out["range"] = _bounds(c.datetime_range, timestamp)
    if c.HasField("geo_bounding_box"):
        box = c.geo_bounding_box
        out["geo_bounding_box"] = {
            "top_left": _geo_point(box.top_left),
            "bottom_right": _geo_point(box.bottom_right),
        }
    if c.HasField("geo_radius"):
        out["geo_radius"] = {
            "center": _geo_point(c.geo_radius.center),
            "radius": f32(c.geo_radius.radius),
        }
    if c.HasField("geo_polygon"):
        polygon: dict = {"exterior": _line(c.geo_polygon.exterior)}
        if len(c.geo_polygon.interiors):
            polygon["interiors"] = [_line(line) for line in c.geo_polygon.interiors]
        out["geo_polygon"] = polygon
    if c.HasField("values_count"):
        out["values_count"] = _bounds(c.values_count)
    if c.HasField("is_empty"):
        out["is_empty"] = c.is_empty
    if c.HasField("is_null"):
        out["is_null"] = c.is_null
    return out


def condition(c: pb.Condition) -> dict:
    kind = c.WhichOneof("condition_one_of")
    if kind == "field":
        return field_condition(c.field)
    if kind == "filter":
        return filter_(c.filter)
    if kind == "is_empty":
        return {"is_empty": {"key": c.is_empty.key}}
    if kind == "is_null":
        return {"is_null": {"key": c.is_null.key}}
    if kind == "has_id":
        return {"has_id": point_ids(c.has_id.has_id)}
    if kind == "has_vector":
        return {"has_vector": c.has_vector.has_vector}
    if kind == "nested":
        return {"nested": {"key": c.nested.key, "filter": filter_(c.nested.filter)}}
    if kind == "slice":
        return {"slice": {"total": c.slice.total, "index": c.slice.index}}
    raise BadRequest("Malformed Condition: no condition kind is set")


def filter_(f: pb.Filter) -> dict:
    out: dict = {}
    for clause in ("must", "should", "must_not"):
        conditions = getattr(f, clause)
        if len(conditions):
            out[clause] = [condition(c) for c in conditions]
    if f.HasField("min_should"):
        out["min_should"] = {
            "conditions": [condition(c) for c in f.min_should.conditions],
            "min_count": f.min_should.min_count,
        }
    return out


def optional_filter(msg: Message, field: str = "filter") -> dict | None:
    return filter_(getattr(msg, field)) if msg.HasField(field) else None


# -- selectors ---------------------------------------------------------------------------------
def with_payload(s: pb.WithPayloadSelector) -> Any:
    """WithPayloadSelector → REST ``with_payload`` (None when nothing is chosen: the default)."""
    kind = s.WhichOneof("selector_options")
    if kind == "enable":
        return s.enable
    if kind == "include":
        return {"include": list(s.include.fields)}
    if kind == "exclude":
        return {"exclude": list(s.exclude.fields)}
    return None


def with_vectors(s: pb.WithVectorsSelector) -> Any:
    kind = s.WhichOneof("selector_options")
    if kind == "enable":
        return s.enable
    if kind == "include":
        return list(s.include.names)
    return None


def points_selector(s: pb.PointsSelector) -> dict:
    """PointsSelector → the REST body fields ``points`` or ``filter`` (empty when neither)."""
    kind = s.WhichOneof("points_selector_one_of")
    if kind == "points":
        return {"points": point_ids(s.points.ids)}
    if kind == "filter":
        return {"filter": filter_(s.filter)}
    return {}


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


def _oneof(msg: Message, group: str) -> tuple[str | None, Any]:
    kind = msg.WhichOneof(group)
    return kind, (getattr(msg, kind) if kind else None)


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


def _put(out: dict, key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _opt(msg: Message, field: str, convert: Callable[[Any], Any] = lambda x: x) -> Any:
    return convert(getattr(msg, field)) if msg.HasField(field) else None


# -- collections -------------------------------------------------------------------------------
_COLLECTION_RENAMES = {"vectors_config": "vectors", "sparse_vectors_config": "sparse_vectors"}


def create_collection(req: pb.CreateCollection) -> tuple[str, dict]:
    """CreateCollection → (name, the body of PUT /collections/{name})."""
    body = fields(req, skip=("collection_name", "timeout"), rename=_COLLECTION_RENAMES)
    return req.collection_name, body


def update_collection(req: pb.UpdateCollection) -> tuple[str, dict]:
    """UpdateCollection → (name, the body of PATCH /collections/{name})."""
    body = fields(req, skip=("collection_name", "timeout"), rename=_COLLECTION_RENAMES)
    return req.collection_name, body


def alias_actions(req: pb.ChangeAliases) -> list[dict]:
    """ChangeAliases → the actions ``TableOfContent.change_aliases`` applies (the same dicts the
    REST handler builds from ``{"actions": [...]}``)."""
    actions = []
    for action in req.actions:
        kind, op = _oneof(action, "action")
        if kind == "create_alias":
            actions.append(
                {
                    "kind": "create",
                    "collection_name": op.collection_name,
                    "alias_name": op.alias_name,
                }
            )
        elif kind == "delete_alias":
            actions.append({"kind": "delete", "alias_name": op.alias_name})
        elif kind == "rename_alias":
            actions.append(
                {
                    "kind": "rename",
                    "old_alias_name": op.old_alias_name,
                    "new_alias_name": op.new_alias_name,
                }
            )
        else:
            raise BadRequest("Malformed AliasOperations: no action is set")
    return actions


# -- payload indexes ---------------------------------------------------------------------------
#: PayloadIndexParams oneof field → the schema type its params are for
INDEX_PARAMS_TYPES = {
    "keyword_index_params": "keyword",
    "integer_index_params": "integer",
    "float_index_params": "float",
    "geo_index_params": "geo",
    "text_index_params": "text",
    "bool_index_params": "bool",
    "datetime_index_params": "datetime",
    "uuid_index_params": "uuid",
}


def payload_index_params(p: pb.PayloadIndexParams) -> dict | None:
    """PayloadIndexParams → REST field_schema params object ({"type": ..., **params}), or None
    when no variant is set."""
    kind, inner = _oneof(p, "index_params")
    if kind is None:
        return None
    return {"type": INDEX_PARAMS_TYPES[kind], **fields(inner)}


def create_field_index(req: pb.CreateFieldIndexCollection) -> tuple[str, dict]:
    """CreateFieldIndexCollection → (name, the body of PUT /collections/{name}/index).

    ``field_schema`` is the type name when only ``field_type`` is given, and the params object
    (with its ``type``) when ``field_index_params`` are given too, as a REST client writes them.
    Neither set leaves ``field_schema`` out (the shared code then answers as for REST). A
    combination no REST body can say is rejected as Qdrant rejects it: params without a type,
    or params of another type than ``field_type``."""
    body: dict = {"field_name": req.field_name}
    field_type = None
    if req.HasField("field_type"):
        field_type = ENUM_NAMES["qdrant.FieldType"].get(req.field_type)
        if field_type is None:
            raise BadRequest("cannot convert field_type")
    params = _opt(req, "field_index_params", payload_index_params)
    if params is not None or req.HasField("field_index_params"):
        if field_type is None:
            raise BadRequest("field type is missing")
    if params is not None:
        if params["type"] != field_type:
            raise BadRequest(
                f"field_type ({field_type.capitalize()}) and field_index_params do not match"
            )
        body["field_schema"] = params
    elif field_type is not None:
        body["field_schema"] = field_type
    return req.collection_name, body


def delete_field_index(req: pb.DeleteFieldIndexCollection) -> tuple[str, str]:
    """DeleteFieldIndexCollection → (name, field) of DELETE /collections/{name}/index/{field}."""
    return req.collection_name, req.field_name


# -- point writes: the REST bodies ---------------------------------------------------------------
def wait(req: Message) -> bool:
    return req.wait if req.HasField("wait") else False


def upsert_body(
    points,
    update_filter: pb.Filter | None = None,
    update_mode: int | None = None,
    shard_keys: pb.ShardKeySelector | None = None,
) -> dict:
    body: dict = {"points": [point_struct(p) for p in points]}
    _put(body, "update_filter", filter_(update_filter) if update_filter is not None else None)
    _put(
        body,
        "update_mode",
        ENUM_NAMES["qdrant.UpdateMode"].get(update_mode) if update_mode is not None else None,
    )
    _put(body, "shard_key", shard_key_selector(shard_keys) if shard_keys is not None else None)
    return body


def upsert_points(req: pb.UpsertPoints) -> dict:
    """UpsertPoints → the body of PUT /collections/{name}/points."""
    return upsert_body(
        req.points,
        req.update_filter if req.HasField("update_filter") else None,
        req.update_mode if req.HasField("update_mode") else None,
        req.shard_key_selector if req.HasField("shard_key_selector") else None,
    )


def _with_shard_key(body: dict, msg: Message) -> dict:
    if msg.HasField("shard_key_selector"):
        body["shard_key"] = shard_key_selector(msg.shard_key_selector)
    return body


def delete_points(req: pb.DeletePoints) -> dict:
    """DeletePoints → the body of POST /collections/{name}/points/delete."""
    return _with_shard_key(points_selector(req.points), req)


def update_vectors(req: pb.UpdatePointVectors | pb.PointsUpdateOperation.UpdateVectors) -> dict:
    body: dict = {"points": [point_vectors(p) for p in req.points]}
    _put(body, "update_filter", optional_filter(req, "update_filter"))
    return _with_shard_key(body, req)


def delete_vectors(req: pb.DeletePointVectors | pb.PointsUpdateOperation.DeleteVectors) -> dict:
    body = points_selector(req.points_selector)
    body["vector"] = list(req.vectors.names)
    return _with_shard_key(body, req)


def set_payload(req: pb.SetPayloadPoints | pb.PointsUpdateOperation.SetPayload) -> dict:
    body: dict = {"payload": payload(req.payload)}
    if req.HasField("points_selector"):
        body.update(points_selector(req.points_selector))
    _put(body, "key", _opt(req, "key"))
    return _with_shard_key(body, req)


def delete_payload(req: pb.DeletePayloadPoints | pb.PointsUpdateOperation.DeletePayload) -> dict:
    body: dict = {"keys": list(req.keys)}
    if req.HasField("points_selector"):
        body.update(points_selector(req.points_selector))
    return _with_shard_key(body, req)


def clear_payload(req: pb.ClearPayloadPoints | pb.PointsUpdateOperation.ClearPayload) -> dict:
    return _with_shard_key(points_selector(req.points), req)


def update_operation(op: pb.PointsUpdateOperation) -> dict:
    """One PointsUpdateOperation → one item of REST ``{"operations": [...]}``."""
    kind, inner = _oneof(op, "operation")
    if kind == "upsert":
        body = upsert_body(
            inner.points,
            inner.update_filter if inner.HasField("update_filter") else None,
            inner.update_mode if inner.HasField("update_mode") else None,
            inner.shard_key_selector if inner.HasField("shard_key_selector") else None,
        )
        return {"upsert": body}
    if kind == "delete_points":
        return {"delete": _with_shard_key(points_selector(inner.points), inner)}
    if kind == "delete_deprecated":
        return {"delete": points_selector(inner)}
    if kind == "clear_payload":
        return {"clear_payload": clear_payload(inner)}
    if kind == "clear_payload_deprecated":
        return {"clear_payload": points_selector(inner)}
    if kind == "set_payload":
        return {"set_payload": set_payload(inner)}
    if kind == "overwrite_payload":
        return {"overwrite_payload": set_payload(inner)}
    if kind == "delete_payload":
        return {"delete_payload": delete_payload(inner)}
    if kind == "update_vectors":
        return {"update_vectors": update_vectors(inner)}
    if kind == "delete_vectors":
        return {"delete_vectors": delete_vectors(inner)}
    raise BadRequest("Malformed PointsUpdateOperation: no operation is set")


def update_batch(req: pb.UpdateBatchPoints) -> dict:
    """UpdateBatchPoints → the body of POST /collections/{name}/points/batch."""
    return {"operations": [update_operation(op) for op in req.operations]}


# -- point reads: the REST bodies ---------------------------------------------------------------
def get_points(req: pb.GetPoints) -> dict:
    """GetPoints → the body of POST /collections/{name}/points."""
    body: dict = {"ids": point_ids(req.ids)}
    _put(body, "with_payload", _opt(req, "with_payload", with_payload))
    _put(body, "with_vector", _opt(req, "with_vectors", with_vectors))
    return _with_shard_key(body, req)


def order_by(o: pb.OrderBy) -> dict:
    return fields(o)


def scroll_points(req: pb.ScrollPoints) -> dict:
    """ScrollPoints → the body of POST /collections/{name}/points/scroll."""
    body: dict = {}
    _put(body, "filter", optional_filter(req))
    _put(body, "offset", _opt(req, "offset", point_id))
    _put(body, "limit", _opt(req, "limit"))
    _put(body, "with_payload", _opt(req, "with_payload", with_payload))
    _put(body, "with_vector", _opt(req, "with_vectors", with_vectors))
    _put(body, "order_by", _opt(req, "order_by", order_by))
    return _with_shard_key(body, req)


def facet_counts(req: pb.FacetCounts) -> dict:
    """FacetCounts → the body of POST /collections/{name}/facet."""
    body: dict = {"key": req.key}
    _put(body, "filter", optional_filter(req))
    _put(body, "limit", _opt(req, "limit"))
    _put(body, "exact", _opt(req, "exact"))
    return _with_shard_key(body, req)


def count_points(req: pb.CountPoints) -> dict:
    """CountPoints → the body of POST /collections/{name}/points/count."""
    body: dict = {}
    _put(body, "filter", optional_filter(req))
    _put(body, "exact", _opt(req, "exact"))
    return _with_shard_key(body, req)


# -- queries -----------------------------------------------------------------------------------
def _context_pairs(pairs) -> list:
    return [
        {"positive": vector_input(p.positive), "negative": vector_input(p.negative)} for p in pairs
    ]


def expression(e: pb.Expression) -> Any:
    """Formula Expression → REST expression (numbers, keys, conditions and operator objects)."""
    kind, inner = _oneof(e, "variant")
    if kind == "constant":
        return f32(inner)
    if kind == "variable":
        return inner
    if kind == "condition":
        return condition(inner)
    if kind == "geo_distance":
        return {"geo_distance": {"origin": _geo_point(inner.origin), "to": inner.to}}
    if kind in ("datetime", "datetime_key"):
        return {kind: inner}
    if kind in ("mult", "sum", "max", "min"):
        return {kind: [expression(x) for x in getattr(inner, kind)]}
    if kind in ("neg", "abs", "sqrt", "exp", "log10", "ln", "acosh"):
        return {kind: expression(inner)}
    if kind == "div":
        div: dict = {"left": expression(inner.left), "right": expression(inner.right)}
        _put(div, "by_zero_default", _opt(inner, "by_zero_default", f32))
        return {"div": div}
    if kind == "pow":
        return {"pow": {"base": expression(inner.base), "exponent": expression(inner.exponent)}}
    if kind in ("exp_decay", "gauss_decay", "lin_decay"):
        decay: dict = {"x": expression(inner.x)}
        _put(decay, "target", _opt(inner, "target", expression))
        _put(decay, "scale", _opt(inner, "scale", f32))
        _put(decay, "midpoint", _opt(inner, "midpoint", f32))
        return {kind: decay}
    raise BadRequest("Malformed Expression: no variant is set")


def query(q: pb.Query) -> Any:
    """Query → REST ``query`` (QueryInterface): {"nearest": ...}, {"recommend": ...}, …"""
    kind, inner = _oneof(q, "variant")
    if kind == "nearest":
        if inner.WhichOneof("variant") == "dense":
            return {"nearest": query_floats(inner.dense.data)}
        return {"nearest": vector_input(inner)}
    if kind == "nearest_with_mmr":
        out: dict = {"nearest": vector_input(inner.nearest)}
        if inner.HasField("mmr"):
            out["mmr"] = fields(inner.mmr)
        return out
    if kind == "recommend":
        rec: dict = {}
        if len(inner.positive):
            rec["positive"] = [vector_input(v) for v in inner.positive]
        if len(inner.negative):
            rec["negative"] = [vector_input(v) for v in inner.negative]
        _put(rec, "strategy", _opt(inner, "strategy", ENUM_NAMES["qdrant.RecommendStrategy"].get))
        return {"recommend": rec}
    if kind == "discover":
        return {
            "discover": {
                "target": vector_input(inner.target),
                "context": _context_pairs(inner.context.pairs),
            }
        }
    if kind == "context":
        return {"context": _context_pairs(inner.pairs)}
    if kind == "order_by":
        return {"order_by": order_by(inner)}
    if kind == "fusion":
        return {"fusion": ENUM_NAMES["qdrant.Fusion"].get(inner)}
    if kind == "rrf":
        return {"rrf": fields(inner)}
    if kind == "sample":
        return {"sample": ENUM_NAMES["qdrant.Sample"].get(inner)}
    if kind == "formula":
        formula: dict = {"formula": expression(inner.expression)}
        if len(inner.defaults):
            formula["defaults"] = payload(inner.defaults)
        return formula
    if kind == "relevance_feedback":
        feedback: dict = {
            "target": vector_input(inner.target),
            "feedback": [
                {"example": vector_input(item.example), "score": f32(item.score)}
                for item in inner.feedback
            ],
        }
        if inner.HasField("strategy") and inner.strategy.HasField("naive"):
            feedback["strategy"] = {"naive": fields(inner.strategy.naive)}
        return {"relevance_feedback": feedback}
    if kind == "text":
        if inner.HasField("bm25"):
            return {"text": {"query": inner.query, "scoring": {"bm25": fields(inner.bm25)}}}
        return {"text": inner.query}
    raise BadRequest("Malformed Query: no variant is set")


def prefetch(p: pb.PrefetchQuery) -> dict:
    body: dict = {}
    if len(p.prefetch):
        body["prefetch"] = [prefetch(x) for x in p.prefetch]
    _put(body, "query", _opt(p, "query", query))
    _put(body, "using", _opt(p, "using"))
    _put(body, "filter", optional_filter(p))
    _put(body, "params", _opt(p, "params", message))
    _put(body, "score_threshold", _opt(p, "score_threshold", f32))
    _put(body, "limit", _opt(p, "limit"))
    _put(body, "lookup_from", _opt(p, "lookup_from", _lookup_location))
    return body


def query_points(req: pb.QueryPoints) -> dict:
    """QueryPoints → the body of POST /collections/{name}/points/query (a QueryRequest)."""
    body = prefetch(req)  # the shared fields have the same names and meaning
    _put(body, "offset", _opt(req, "offset"))
    _put(body, "with_vector", _opt(req, "with_vectors", with_vectors))
    _put(body, "with_payload", _opt(req, "with_payload", with_payload))
    return _with_shard_key(body, req)


def query_batch(req: pb.QueryBatchPoints) -> dict:
    """QueryBatchPoints → the body of POST /collections/{name}/points/query/batch."""
    return {"searches": [query_points(q) for q in req.query_points]}


def search_points(req: pb.SearchPoints) -> dict:
    """SearchPoints (deprecated) → the QueryRequest of the same nearest-neighbour search."""
    if req.HasField("sparse_indices"):
        target: Any = {"indices": list(req.sparse_indices.data), "values": floats(req.vector)}
    else:
        target = query_floats(req.vector)
    body: dict = {"query": {"nearest": target}, "limit": req.limit}
    _put(body, "using", _opt(req, "vector_name"))
    _put(body, "filter", optional_filter(req))
    _put(body, "params", _opt(req, "params", message))
    _put(body, "score_threshold", _opt(req, "score_threshold", f32))
    _put(body, "offset", _opt(req, "offset"))
    _put(body, "with_payload", _opt(req, "with_payload", with_payload))
    _put(body, "with_vector", _opt(req, "with_vectors", with_vectors))
    return _with_shard_key(body, req)


# -- groups, distance matrix, legacy recommend / discover ------------------------------------
def with_lookup(w: pb.WithLookup) -> dict:
    out: dict = {"collection": w.collection}
    _put(out, "with_payload", _opt(w, "with_payload", with_payload))
    _put(out, "with_vectors", _opt(w, "with_vectors", with_vectors))
    return out


def _group_fields(body: dict, req: Message) -> dict:
    body["group_by"] = req.group_by
    _put(
        body,
        "group_size",
        _opt(req, "group_size")
        if req.DESCRIPTOR.fields_by_name["group_size"].has_presence
        else req.group_size,
    )
    _put(body, "with_lookup", _opt(req, "with_lookup", with_lookup))
    return body


def query_point_groups(req: pb.QueryPointGroups) -> dict:
    """QueryPointGroups → the body of POST /collections/{name}/points/query/groups."""
    body = prefetch(req)
    _put(body, "with_vector", _opt(req, "with_vectors", with_vectors))
    _put(body, "with_payload", _opt(req, "with_payload", with_payload))
    return _with_shard_key(_group_fields(body, req), req)


def search_matrix_points(req: pb.SearchMatrixPoints) -> dict:
    body: dict = {}
    _put(body, "filter", optional_filter(req))
    _put(body, "sample", _opt(req, "sample"))
    _put(body, "limit", _opt(req, "limit"))
    _put(body, "using", _opt(req, "using"))
    return _with_shard_key(body, req)


def _examples(ids, vecs) -> list:
    return [point_id(i) for i in ids] + [vector(v) for v in vecs]


def _vector_example(e: pb.VectorExample) -> Any:
    kind = e.WhichOneof("example")
    if kind == "id":
        return point_id(e.id)
    if kind == "vector":
        return vector(e.vector)
    raise BadRequest("Malformed VectorExample: no variant is set")


def _legacy_common(body: dict, req: Message) -> dict:
    names = req.DESCRIPTOR.fields_by_name
    _put(body, "filter", optional_filter(req))
    _put(body, "params", _opt(req, "params", message))
    if "score_threshold" in names:
        _put(body, "score_threshold", _opt(req, "score_threshold", f32))
    if "offset" in names:
        _put(body, "offset", _opt(req, "offset"))
    _put(body, "with_payload", _opt(req, "with_payload", with_payload))
    _put(body, "with_vector", _opt(req, "with_vectors", with_vectors))
    if "using" in names:
        _put(body, "using", _opt(req, "using"))
    if "lookup_from" in names:
        _put(body, "lookup_from", _opt(req, "lookup_from", _lookup_location))
    return body


def recommend_points(req: pb.RecommendPoints | pb.RecommendPointGroups) -> dict:
    """RecommendPoints (deprecated) → a RecommendRequest body (Qdrant 1.12 REST shape)."""
    body: dict = {
        "positive": _examples(req.positive, req.positive_vectors),
        "negative": _examples(req.negative, req.negative_vectors),
        "limit": req.limit,
    }
    _put(body, "strategy", _opt(req, "strategy", ENUM_NAMES["qdrant.RecommendStrategy"].get))
    return _legacy_common(body, req)


def recommend_point_groups(req: pb.RecommendPointGroups) -> dict:
    return _group_fields(recommend_points(req), req)


def discover_points(req: pb.DiscoverPoints) -> dict:
    """DiscoverPoints (deprecated) → a DiscoverRequest body (Qdrant 1.12 REST shape)."""
    body: dict = {
        "context": [
            {"positive": _vector_example(p.positive), "negative": _vector_example(p.negative)}
            for p in req.context
        ],
        "limit": req.limit,
    }
    if req.HasField("target"):
        body["target"] = _vector_example(req.target.single)
    return _legacy_common(body, req)


def search_point_groups(req: pb.SearchPointGroups) -> dict:
    """SearchPointGroups (deprecated) → a SearchGroupsRequest body."""
    if req.HasField("sparse_indices"):
        target: Any = {"indices": list(req.sparse_indices.data), "values": floats(req.vector)}
    else:
        target = query_floats(req.vector)
    if req.HasField("vector_name"):
        target = {"name": req.vector_name, "vector": target}
    body: dict = {"vector": target, "limit": req.limit}
    _put(body, "filter", optional_filter(req))
    _put(body, "params", _opt(req, "params", message))
    _put(body, "score_threshold", _opt(req, "score_threshold", f32))
    _put(body, "with_payload", _opt(req, "with_payload", with_payload))
    _put(body, "with_vector", _opt(req, "with_vectors", with_vectors))
    return _group_fields(body, req)
