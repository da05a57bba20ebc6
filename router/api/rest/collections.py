"""Collection and alias endpoints."""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from node.errors import FormatError
from router.api.rest import parsing
from router.api.rest.responses import ok
from router.cluster import shard_ops, vector_name_ops
from router.operations import fields, updates

router = APIRouter()


def _timeout(request: Request) -> float:
    """The ``timeout`` query parameter (seconds) of metadata calls; Qdrant waits 30 s at most
    for new replicas by default."""
    seconds = parsing.timeout_value(request.query_params)
    return 30.0 if seconds is None else seconds


def _toc(request: Request):
    return request.app.state.toc


@router.get("/collections")
async def list_collections(request: Request) -> Response:
    started = time.perf_counter()
    names = _toc(request).list_names()
    access = request.scope.get("state", {}).get("access")
    if access is not None:  # a per-collection credential lists only its own collections
        names = access.visible(names)
    return ok({"collections": [{"name": n} for n in names]}, started)


@router.get("/collections/{name}")
async def get_collection(name: str, request: Request) -> Response:
    started = time.perf_counter()
    return ok(_toc(request).get(name).info(), started)


@router.get("/collections/{name}/cluster")
async def collection_cluster(name: str, request: Request) -> Response:
    started = time.perf_counter()
    toc = _toc(request)
    return ok(toc.collection_cluster_info(name), started)


@router.post("/collections/{name}/cluster")
async def update_collection_cluster(name: str, request: Request) -> Response:
    """Shard keys, and the operator's shard operations (router/cluster/shard_ops.py)."""
    started = time.perf_counter()
    body = fields.obj(await parsing.json_body(request), "ClusterOperations")
    return ok(await run_in_threadpool(shard_ops.update_cluster, _toc(request), name, body),
              started)


@router.put("/collections/{name}/shards")
async def create_shard_key(name: str, request: Request) -> Response:
    started = time.perf_counter()
    body = await parsing.json_body(request)
    toc = _toc(request)
    return ok(await run_in_threadpool(toc.create_shard_key, name, body, _timeout(request)),
              started)


@router.post("/collections/{name}/shards/delete")
async def delete_shard_key(name: str, request: Request) -> Response:
    started = time.perf_counter()
    body = await parsing.json_body(request)
    return ok(await run_in_threadpool(_toc(request).drop_shard_key, name, body), started)


@router.get("/collections/{name}/shards")
async def list_shard_keys(name: str, request: Request) -> Response:
    started = time.perf_counter()
    return ok(_toc(request).shard_keys(name), started)


@router.put("/collections/{name}")
async def create_collection(name: str, request: Request) -> Response:
    started = time.perf_counter()
    body = await parsing.json_body(request, required=False)
    return ok(await run_in_threadpool(
        _toc(request).create_collection, name, body, _timeout(request)), started)


@router.patch("/collections/{name}")
async def update_collection(name: str, request: Request) -> Response:
    started = time.perf_counter()
    body = await parsing.json_body(request, required=False)
    return ok(await run_in_threadpool(_toc(request).update_collection, name, body), started)


@router.delete("/collections/{name}")
async def delete_collection(name: str, request: Request) -> Response:
    started = time.perf_counter()  # its timeout is checked by the front; deletion does not wait
    return ok(await run_in_threadpool(_toc(request).delete_collection, name), started)


@router.get("/collections/{name}/exists")
async def collection_exists(name: str, request: Request) -> Response:
    started = time.perf_counter()
    return ok({"exists": _toc(request).exists(name)}, started)


@router.put("/collections/{name}/index")
async def create_payload_index(name: str, request: Request) -> Response:
    started = time.perf_counter()
    body = fields.obj(await parsing.json_body(request), "CreateFieldIndex")
    wait = parsing.wait_param(request)
    field, schema = updates.field_index(body)
    op_id = await run_in_threadpool(_toc(request).create_payload_index, name, field, schema)
    return ok({"operation_id": op_id, "status": "completed" if wait else "acknowledged"}, started)


@router.delete("/collections/{name}/index/{field}")
async def delete_payload_index(name: str, field: str, request: Request) -> Response:
    started = time.perf_counter()
    wait = parsing.wait_param(request)
    op_id = await run_in_threadpool(_toc(request).delete_payload_index, name, field)
    return ok({"operation_id": op_id, "status": "completed" if wait else "acknowledged"}, started)


@router.put("/collections/{name}/vectors/{vector_name}")
async def create_vector_name(name: str, vector_name: str, request: Request) -> Response:
    started = time.perf_counter()
    body = await parsing.json_body(request)
    wait = parsing.wait_param(request)
    op_id = await run_in_threadpool(vector_name_ops.create_vector_name, _toc(request), name,
                                    vector_name, body)
    return ok({"operation_id": op_id, "status": "completed" if wait else "acknowledged"}, started)


@router.delete("/collections/{name}/vectors/{vector_name}")
async def delete_vector_name(name: str, vector_name: str, request: Request) -> Response:
    started = time.perf_counter()
    wait = parsing.wait_param(request)
    op_id = await run_in_threadpool(vector_name_ops.delete_vector_name, _toc(request), name,
                                    vector_name)
    return ok({"operation_id": op_id, "status": "completed" if wait else "acknowledged"}, started)


@router.post("/collections/aliases")
async def update_aliases(request: Request) -> Response:
    started = time.perf_counter()
    body = fields.obj(await parsing.json_body(request), "ChangeAliasesOperation")
    actions = body.get("actions")
    if not isinstance(actions, list):
        raise FormatError("missing field `actions`")
    parsed = []
    for action in actions:
        action = fields.obj(action, "AliasOperations")
        if "create_alias" in action:
            a = fields.obj(action["create_alias"], "CreateAlias")
            parsed.append({"kind": "create", "collection_name": a.get("collection_name"),
                           "alias_name": a.get("alias_name")})
        elif "delete_alias" in action:
            a = fields.obj(action["delete_alias"], "DeleteAlias")
            parsed.append({"kind": "delete", "alias_name": a.get("alias_name")})
        elif "rename_alias" in action:
            a = fields.obj(action["rename_alias"], "RenameAlias")
            parsed.append({"kind": "rename", "old_alias_name": a.get("old_alias_name"),
                           "new_alias_name": a.get("new_alias_name")})
        else:
            raise FormatError("data did not match any variant of untagged enum AliasOperations")
        if any(not isinstance(v, str) for k, v in parsed[-1].items() if k != "kind"):
            raise FormatError("alias operation is missing a name")
    return ok(await run_in_threadpool(_toc(request).change_aliases, parsed), started)


@router.get("/aliases")
async def list_aliases(request: Request) -> Response:
    started = time.perf_counter()
    aliases = _toc(request).aliases()
    access = request.scope.get("state", {}).get("access")
    if access is not None:
        aliases = [a for a in aliases if access.sees(a["collection_name"])]
    return ok({"aliases": aliases}, started)


@router.get("/collections/{name}/aliases")
async def collection_aliases(name: str, request: Request) -> Response:
    started = time.perf_counter()
    return ok({"aliases": _toc(request).aliases(name)}, started)
