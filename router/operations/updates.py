"""Write requests (upsert, delete, vectors and payload updates, batches, field indexes) → the
internal operations that ``Collection.update`` applies.

Every builder checks its whole body before it returns, so an operation that reaches a collection
is well formed; a write carries the shard key(s) it is addressed to (custom sharding).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from node.errors import BadRequest, FormatError, ValidationFailed, WrongInput
from node.ids import parse_point_id
from node.payload_index import parse_field_schema
from node.shard_config import ShardConfig
from node.vector_input import prepare_column, prepare_point_vectors
from router.collection.collection import Collection
from router.operations.fields import filter_, names, obj, payload, point_ids, shard_selector

#: Qdrant's UpdateMode besides the default ``upsert``: insert new points only, or update
#: existing ones only (each shard decides by the ids it holds)
UPDATE_MODES = ("insert_only", "update_only")


def upsert_op(config: ShardConfig, body: dict) -> dict:
    """PointInsertOperations (points list or column batch) → an upsert operation."""
    ids: list = []
    vectors: list = []
    payloads: list = []
    if "points" in body and body["points"] is not None:
        points = body["points"]
        if not isinstance(points, list):
            raise FormatError("invalid type: `points` must be a sequence")
        for point in points:
            if not isinstance(point, dict):
                raise FormatError("invalid type: expected struct PointStruct")
            if "id" not in point:
                raise FormatError("missing field `id`")
            ids.append(parse_point_id(point["id"]))
            if "vector" not in point:
                raise FormatError("missing field `vector`")
            payloads.append(payload(point.get("payload")))
        raws = [point["vector"] for point in points]
        if "" in config.vectors and all(isinstance(raw, list) for raw in raws):
            vectors = [{"": row} for row in prepare_column(config, "", raws)]
        else:
            vectors = [prepare_point_vectors(config, raw) for raw in raws]
    elif "batch" in body and body["batch"] is not None:
        batch = obj(body["batch"], "Batch")
        if "ids" not in batch:
            raise FormatError("missing field `ids`")
        ids = point_ids(batch["ids"])
        raw_vectors = batch.get("vectors")
        if raw_vectors is None:
            raise FormatError("missing field `vectors`")
        n = len(ids)
        if isinstance(raw_vectors, dict):
            vectors = [{} for _ in range(n)]
            for name, column in raw_vectors.items():
                if not isinstance(column, list):
                    raise FormatError(f"invalid type: expected a sequence at `vectors.{name}`")
                _same_length(n, column, "vectors")
                present = [i for i, value in enumerate(column) if value is not None]
                rows = prepare_column(config, name, [column[i] for i in present])
                for i, row in zip(present, rows, strict=True):
                    vectors[i][name] = row
        elif isinstance(raw_vectors, (list, np.ndarray)):  # an array: gRPC's dense column
            _same_length(n, raw_vectors, "vectors")
            vectors = [{"": row} for row in prepare_column(config, "", raw_vectors)]
        else:
            raise FormatError("invalid type for `vectors`")
        raw_payloads = batch.get("payloads")
        if raw_payloads is None:
            payloads = [None] * n
        else:
            if not isinstance(raw_payloads, list):
                raise FormatError("invalid type: expected a sequence at `payloads`")
            _same_length(n, raw_payloads, "payloads")
            payloads = [payload(p) for p in raw_payloads]
    else:
        raise FormatError(
            "data did not match any variant of untagged enum PointInsertOperations"
        )
    # the last occurrence of a repeated id wins, as if applied one after another
    op = {
        "type": "upsert",
        "ids": ids,
        "vectors": vectors,
        "payloads": payloads,
        "update_filter": filter_(body.get("update_filter")),
    }
    mode = body.get("update_mode")
    if mode is not None and mode != "upsert":
        if mode not in UPDATE_MODES:
            raise FormatError(f"unknown variant `{mode}`, expected one of `upsert`, "
                              "`insert_only`, `update_only`")
        op["update_mode"] = mode
    return op


def _same_length(ids: int, column, what: str) -> None:
    """A batch's columns have one entry per id: Qdrant's validation (a 422), in its words."""
    if len(column) != ids:
        raise ValidationFailed(
            f"[batch.batch: number of ids and {what} must be equal ({ids} != {len(column)})]")


def selector(body: dict) -> dict:
    """PointsSelector: {"points": [...]} or {"filter": {...}} → {"ids"} / {"filter"}."""
    if body.get("points") is not None:
        return {"ids": point_ids(body["points"])}
    if body.get("filter") is not None:
        return {"filter": filter_(body["filter"])}
    raise FormatError("data did not match any variant of untagged enum PointsSelector")


def _names_points_or_filter(body: dict) -> bool:
    return body.get("points") is not None or body.get("filter") is not None


def payload_selector(body: dict) -> dict:
    """A payload write's points or filter: Qdrant's deserializer refuses a body with neither."""
    if not _names_points_or_filter(body):
        raise FormatError("Either list of point ids or filter must be provided")
    return selector(body)


def update_vectors_op(config: ShardConfig, body: dict) -> dict:
    points = body.get("points")
    if not isinstance(points, list):
        raise FormatError("missing field `points`")
    items = []
    for point in points:
        point = obj(point, "PointVectors")
        if "id" not in point or "vector" not in point:
            raise FormatError("missing field `id` or `vector`")
        items.append((parse_point_id(point["id"]), prepare_point_vectors(config, point["vector"])))
    return {
        "type": "update_vectors",
        "points": items,
        "update_filter": filter_(body.get("update_filter")),
    }


def delete_vectors_op(config: ShardConfig, body: dict) -> dict:
    if body.get("vector") is None:
        raise FormatError("missing field `vector`")
    vector_names = names(body["vector"], "vector")
    if not _names_points_or_filter(body):  # Qdrant's handler finds nothing to do, before names
        raise BadRequest("No filter or points provided")
    for name in vector_names:
        if name not in config.vectors and name not in config.sparse_vectors:
            raise WrongInput(f"Not existing vector name error: {name}")
    return {"type": "delete_vectors", "names": vector_names, **selector(body)}


def set_payload_op(body: dict, kind: str) -> dict:
    value = body.get("payload")
    if not isinstance(value, dict):
        raise FormatError("missing field `payload`")
    op = {"type": kind, "payload": value, **payload_selector(body)}
    if kind == "set_payload" and body.get("key") is not None:
        if not isinstance(body["key"], str):
            raise FormatError("invalid type: expected a string at `key`")
        op["key"] = body["key"]
    return op


def delete_payload_op(body: dict) -> dict:
    if body.get("keys") is None:
        raise FormatError("missing field `keys`")
    keys = names(body["keys"], "keys")
    return {"type": "delete_payload", "keys": keys, **payload_selector(body)}


def clear_payload_op(body: dict) -> dict:
    return {"type": "clear_payload", **selector(body)}


def delete_op(body: dict) -> dict:
    return {"type": "delete", **selector(body)}


BATCH_KINDS = {
    "upsert": lambda c, b: upsert_op(c.shard_config, b),
    "delete": lambda c, b: delete_op(b),
    "set_payload": lambda c, b: set_payload_op(b, "set_payload"),
    "overwrite_payload": lambda c, b: set_payload_op(b, "overwrite_payload"),
    "delete_payload": lambda c, b: delete_payload_op(b),
    "clear_payload": lambda c, b: clear_payload_op(b),
    "update_vectors": lambda c, b: update_vectors_op(c.shard_config, b),
    "delete_vectors": lambda c, b: delete_vectors_op(c.shard_config, b),
}


def batch_ops(collection: Collection, operations: Any) -> list[dict]:
    """UpdateOperations.operations → a list of internal operations, in order."""
    if not isinstance(operations, list):
        raise FormatError("missing field `operations`")
    ops = []
    for item in operations:
        item = obj(item, "UpdateOperation")
        kinds = [k for k in item if k in BATCH_KINDS]
        if len(kinds) != 1:
            raise FormatError("data did not match any variant of untagged enum UpdateOperation")
        kind = kinds[0]
        inner = obj(item[kind], kind)
        ops.append(keyed(BATCH_KINDS[kind](collection, inner), inner))
    return ops


def keyed(op: dict, body: dict) -> dict:
    """A write operation carries the shard key(s) it is addressed to (custom sharding)."""
    selector = shard_selector(body)
    if isinstance(selector, dict):
        raise FormatError("a write takes a shard key or a list of them, not a fallback")
    if selector is not None:
        op["shard_key"] = selector
    return op


def field_index(body: dict) -> tuple[str, dict]:
    """CreateFieldIndex: field_name and field_schema → (field, schema). A schema given as an
    object is remembered as such, so that collection info shows its params as Qdrant does."""
    field = body.get("field_name")
    if not isinstance(field, str) or not field:
        raise FormatError("missing field `field_name`")
    raw_schema = body.get("field_schema")
    if raw_schema is None:
        raise BadRequest(f"Can't auto-detect field type for `{field}`: field_schema is required")
    schema = parse_field_schema(raw_schema)
    if isinstance(raw_schema, dict):
        schema["_given_as_object"] = True
    return field, schema


def _keyed_builder(build):
    """A write-operation builder whose operation carries the body's shard key."""

    @functools.wraps(build)
    def with_key(*args):
        body = args[0] if isinstance(args[0], dict) else args[1]
        return keyed(build(*args), body)

    return with_key


upsert_op = _keyed_builder(upsert_op)
update_vectors_op = _keyed_builder(update_vectors_op)
delete_vectors_op = _keyed_builder(delete_vectors_op)
set_payload_op = _keyed_builder(set_payload_op)
delete_payload_op = _keyed_builder(delete_payload_op)
clear_payload_op = _keyed_builder(clear_payload_op)
delete_op = _keyed_builder(delete_op)
