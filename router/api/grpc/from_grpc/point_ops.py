"""Point writes and reads: upsert, delete, vector and payload updates and batches of them; get,
scroll, count and facet → the REST bodies."""

from __future__ import annotations

from google.protobuf.message import Message

from node.errors import BadRequest
from router.api.grpc.enums import ENUM_NAMES
from router.api.grpc.from_grpc.common import _oneof, _opt, _put, _with_shard_key
from router.api.grpc.from_grpc.configs import fields
from router.api.grpc.from_grpc.filters import (
    filter_,
    optional_filter,
    points_selector,
    with_payload,
    with_vectors,
)
from router.api.grpc.from_grpc.values import payload, point_id, point_ids, shard_key_selector
from router.api.grpc.from_grpc.vectors import dense_matrix, vectors
from router.api.grpc.messages import pb


# -- point writes: the REST bodies ---------------------------------------------------------------
def wait(req: Message) -> bool:
    return req.wait if req.HasField("wait") else False


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


def upsert_body(
    points,
    update_filter: pb.Filter | None = None,
    update_mode: int | None = None,
    shard_keys: pb.ShardKeySelector | None = None,
    columns: bool = False,
) -> dict:
    """`columns`: unnamed dense vectors may come as the column form (the Upsert RPC's fast
    path); batches keep the points form their REST twin has."""
    matrix = dense_matrix(points) if columns else None
    if matrix is not None:  # the common bulk load: the column form, built without lists
        body: dict = {"batch": {
            "ids": [point_id(p.id) for p in points],
            "vectors": matrix,
            "payloads": [payload(p.payload) for p in points],
        }}
    else:
        body = {"points": [point_struct(p) for p in points]}
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
        columns=True,
    )


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
