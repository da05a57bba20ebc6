"""Request bodies and query parameters → the internal operations of the collection layer.

No pydantic on these paths: bodies are parsed with orjson and checked field by field, with
Qdrant's error kinds (400 for what does not deserialize, 422 for values out of range).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from node.errors import FormatError, ValidationFailed
from node.ids import PointId, parse_point_id
from node.shard_config import ShardConfig
from node.vector_input import prepare_named, prepare_point_vectors


async def json_body(request: Request, required: bool = True) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise FormatError("EOF while parsing a value at line 1 column 0")
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FormatError(str(exc)) from None


def obj(body: Any, what: str) -> dict:
    if not isinstance(body, dict):
        raise FormatError(f"invalid type: expected struct {what}")
    return body


def wait_param(request: Request) -> bool:
    value = request.query_params.get("wait")
    if value is None:
        return False
    if value in ("true", "1", ""):
        return True
    if value in ("false", "0"):
        return False
    raise FormatError(f"Query deserialize error: invalid value for wait: {value}")


def ordering_param(request: Request) -> str:
    value = request.query_params.get("ordering", "weak")
    if value not in ("weak", "medium", "strong"):
        raise FormatError(
            f"Query deserialize error: unknown variant `{value}`, expected one of "
            "`weak`, `medium`, `strong`"
        )
    return value


def uint(value: Any, name: str, default: int | None, minimum: int = 0, prefix: str = "") -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise FormatError(f"invalid type: {value!r}, expected an unsigned integer at `{name}`")
    if value < 0:
        raise FormatError(f"invalid value: integer `{value}`, expected usize at `{name}`")
    if value < minimum:
        raise ValidationFailed(f"[{prefix}{name}: value {value} invalid, must be {minimum} or larger]")
    return value


def point_ids(raw: Any) -> list[PointId]:
    if not isinstance(raw, list):
        raise FormatError("invalid type: expected a sequence of point ids")
    return [parse_point_id(v) for v in raw]


def with_payload(raw: Any, default: bool) -> Any:
    """→ True, False, or ("include"|"exclude", [keys])."""
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, list):
        return ("include", [str(k) for k in raw])
    if isinstance(raw, dict):
        if "include" in raw:
            keys = raw["include"]
            return ("include", keys if isinstance(keys, list) else [keys])
        if "exclude" in raw:
            keys = raw["exclude"]
            return ("exclude", keys if isinstance(keys, list) else [keys])
    raise FormatError("invalid type for `with_payload`")


def with_vector(raw: Any, default: bool = False) -> Any:
    """→ True, False or a list of names."""
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        return raw
    raise FormatError("invalid type for `with_vector`")


def filter_(raw: Any) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FormatError("invalid type: expected struct Filter")
    from node.filters import compile_filter  # validates the whole filter up front

    compile_filter(raw)
    return raw


def payload(raw: Any) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FormatError("invalid type: expected a payload object")
    return raw


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
            vectors.append(prepare_point_vectors(config, point["vector"]))
            payloads.append(payload(point.get("payload")))
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
                if not isinstance(column, list) or len(column) != n:
                    raise FormatError(f"vectors `{name}` must have one entry per id")
                for i, value in enumerate(column):
                    if value is not None:
                        vectors[i][name] = prepare_named(config, name, value)
        elif isinstance(raw_vectors, list):
            if len(raw_vectors) != n:
                raise FormatError("vectors must have one entry per id")
            vectors = [{"": prepare_named(config, "", v)} for v in raw_vectors]
        else:
            raise FormatError("invalid type for `vectors`")
        raw_payloads = batch.get("payloads")
        if raw_payloads is None:
            payloads = [None] * n
        else:
            if not isinstance(raw_payloads, list) or len(raw_payloads) != n:
                raise FormatError("payloads must have one entry per id")
            payloads = [payload(p) for p in raw_payloads]
    else:
        raise FormatError(
            "data did not match any variant of untagged enum PointInsertOperations"
        )
    # the last occurrence of a repeated id wins, as if applied one after another
    return {
        "type": "upsert",
        "ids": ids,
        "vectors": vectors,
        "payloads": payloads,
        "update_filter": filter_(body.get("update_filter")),
    }


def selector(body: dict) -> dict:
    """PointsSelector: {"points": [...]} or {"filter": {...}} → {"ids"} / {"filter"}."""
    if body.get("points") is not None:
        return {"ids": point_ids(body["points"])}
    if body.get("filter") is not None:
        return {"filter": filter_(body["filter"])}
    raise FormatError("data did not match any variant of untagged enum PointsSelector")


def optional_selector(body: dict) -> dict:
    if body.get("points") is None and body.get("filter") is None:
        raise FormatError("either `points` or `filter` is required")
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
    names = body.get("vector")
    if not isinstance(names, list):
        raise FormatError("missing field `vector`")
    from node.errors import WrongInput

    for name in names:
        if name not in config.vectors and name not in config.sparse_vectors:
            raise WrongInput(f"Not existing vector name error: {name}")
    return {"type": "delete_vectors", "names": names, **optional_selector(body)}


def set_payload_op(body: dict, kind: str) -> dict:
    value = body.get("payload")
    if not isinstance(value, dict):
        raise FormatError("missing field `payload`")
    op = {"type": kind, "payload": value, **optional_selector(body)}
    if kind == "set_payload" and body.get("key") is not None:
        op["key"] = body["key"]
    return op


def delete_payload_op(body: dict) -> dict:
    keys = body.get("keys")
    if not isinstance(keys, list):
        raise FormatError("missing field `keys`")
    return {"type": "delete_payload", "keys": keys, **optional_selector(body)}


def clear_payload_op(body: dict) -> dict:
    return {"type": "clear_payload", **selector(body)}


def delete_op(body: dict) -> dict:
    return {"type": "delete", **selector(body)}
