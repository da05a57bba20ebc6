"""The shape of each REST operation's body, as qdrant-client's models of Qdrant's schemas say.

The parsers in ``router.operations`` and ``router.query`` check every field they use and answer
in Qdrant's words. Should a body of a shape they did not foresee still reach code that trips
over it, the REST face's last-resort handler asks here before it answers 500: a body that does
not fit its operation's schema is the client's error, a 400 that names the field. Only that
path pays for the models (pydantic, imported on first use); the hot paths never come here.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

#: (method, Tessera's route template) -> name of the body's model in qdrant_client.http.models
BODY_MODELS = {
    ("PUT", "/collections/{name}"): "CreateCollection",
    ("PATCH", "/collections/{name}"): "UpdateCollection",
    ("POST", "/collections/{name}/cluster"): "ClusterOperations",
    ("PUT", "/collections/{name}/shards"): "CreateShardingKey",
    ("POST", "/collections/{name}/shards/delete"): "DropShardingKey",
    ("PUT", "/collections/{name}/index"): "CreateFieldIndex",
    ("POST", "/collections/aliases"): "ChangeAliasesOperation",
    ("PUT", "/collections/{name}/points"): "PointInsertOperations",
    ("POST", "/collections/{name}/points"): "PointRequest",
    ("POST", "/collections/{name}/points/delete"): "PointsSelector",
    ("PUT", "/collections/{name}/points/vectors"): "UpdateVectors",
    ("POST", "/collections/{name}/points/vectors/delete"): "DeleteVectors",
    ("POST", "/collections/{name}/points/payload"): "SetPayload",
    ("PUT", "/collections/{name}/points/payload"): "SetPayload",
    ("POST", "/collections/{name}/points/payload/delete"): "DeletePayload",
    ("POST", "/collections/{name}/points/payload/clear"): "PointsSelector",
    ("POST", "/collections/{name}/points/batch"): "UpdateOperations",
    ("POST", "/collections/{name}/points/scroll"): "ScrollRequest",
    ("POST", "/collections/{name}/points/count"): "CountRequest",
    ("POST", "/collections/{name}/facet"): "FacetRequest",
    ("POST", "/collections/{name}/points/query"): "QueryRequest",
    ("POST", "/collections/{name}/points/query/batch"): "QueryRequestBatch",
    ("POST", "/collections/{name}/points/query/groups"): "QueryGroupsRequest",
    ("POST", "/collections/{name}/points/search/matrix/pairs"): "SearchMatrixRequest",
    ("POST", "/collections/{name}/points/search/matrix/offsets"): "SearchMatrixRequest",
}


@functools.cache
def _adapter(model_name: str) -> Any:
    from pydantic import TypeAdapter
    from qdrant_client.http import models

    model = getattr(models, model_name, None)
    return None if model is None else TypeAdapter(model)


def shape_problem(method: str, route: str, raw: bytes | None) -> str | None:
    """Why a request body does not fit its operation's schema ("`field.path`: what is wrong"),
    or None when it fits, is not JSON at all, or the operation has no model here."""
    name = BODY_MODELS.get((method, route))
    if name is None or not raw:
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    adapter = _adapter(name)
    if adapter is None:
        return None
    from pydantic import ValidationError

    try:
        adapter.validate_python(body)
    except ValidationError as exc:
        # unknown keys are no error (Qdrant ignores them): only wrong types and missing fields
        problems = [e for e in exc.errors() if e["type"] != "extra_forbidden"]
        if problems:
            first = problems[0]
            where = ".".join(str(part) for part in first["loc"]) or name
            return f"`{where}`: {first['msg']}"
    return None
