"""Requests about collections themselves: create and update a collection, alias actions, shard
keys and payload indexes → the REST bodies (or the arguments of the ``TableOfContent`` call
the REST handler makes)."""

from __future__ import annotations

from node.errors import BadRequest
from router.api.grpc.enums import ENUM_NAMES
from router.api.grpc.from_grpc.common import _oneof, _opt
from router.api.grpc.from_grpc.configs import fields
from router.api.grpc.from_grpc.filters import filter_
from router.api.grpc.from_grpc.values import shard_key
from router.api.grpc.messages import pb

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


# -- shard keys --------------------------------------------------------------------------------
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


# -- cluster setup ----------------------------------------------------------------------------
_TRANSFER_METHODS = {pb.ShardTransferMethod.StreamRecords: "stream_records",
                     pb.ShardTransferMethod.Snapshot: "snapshot",
                     pb.ShardTransferMethod.WalDelta: "wal_delta",
                     pb.ShardTransferMethod.ReshardingStreamRecords: "resharding_stream_records"}


def _transfer(msg) -> dict:
    body = {"shard_id": msg.shard_id, "from_peer_id": msg.from_peer_id,
            "to_peer_id": msg.to_peer_id}
    if msg.HasField("to_shard_id"):
        body["to_shard_id"] = msg.to_shard_id
    if "method" in [f.name for f in msg.DESCRIPTOR.fields] and msg.HasField("method"):
        body["method"] = _TRANSFER_METHODS.get(msg.method, str(msg.method))
    return body


def cluster_operation(req: pb.UpdateCollectionClusterSetupRequest) -> tuple[str, dict]:
    """UpdateCollectionClusterSetup → (the key, its body) of POST /collections/{name}/cluster."""
    kind = req.WhichOneof("operation")
    if kind is None:
        raise BadRequest("missing cluster operation")
    msg = getattr(req, kind)
    if kind in ("move_shard", "replicate_shard", "abort_transfer", "restart_transfer"):
        return kind, _transfer(msg)
    if kind == "drop_replica":
        return kind, {"shard_id": msg.shard_id, "peer_id": msg.peer_id}
    if kind == "create_shard_key":
        return "create_sharding_key", create_shard_key(msg)
    if kind == "delete_shard_key":
        return "drop_sharding_key", {"shard_key": shard_key(msg.shard_key)}
    if kind == "replicate_points":
        body = {"from_shard_key": shard_key(msg.from_shard_key),
                "to_shard_key": shard_key(msg.to_shard_key)}
        if msg.HasField("filter"):
            body["filter"] = filter_(msg.filter)
        return kind, body
    return kind, {}


def vector_name_config(req: pb.CreateVectorNameRequest) -> dict:
    """CreateVectorNameRequest → the body of PUT /collections/{name}/vectors/{vector_name}:
    ``{"dense": …}`` or ``{"sparse": …}`` (neither: the shared code's error)."""
    kind = req.WhichOneof("vector_config")
    if kind is None:
        return {}
    return {kind.removesuffix("_config"): fields(getattr(req, kind))}
