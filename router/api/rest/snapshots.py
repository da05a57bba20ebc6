"""Snapshot endpoints: collection, shard and full snapshots; download, upload and recovery.

A thin face over ``router.cluster.snapshots`` (files) and ``router.cluster.snapshot_recovery``.
Downloads are streamed from the file (or, for ``GET …/shards/{id}/snapshot``, straight from a cut
of the shard), uploads are written to the staging space as they arrive (``multipart``). With
``wait=false`` an operation runs in the background and the answer is 202 ``accepted``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from node.errors import FormatError, TesseraError
from router.api.rest import parsing
from router.api.rest.multipart import save_part
from router.api.rest.responses import dumps, ok
from router.cluster.snapshot_recovery import SnapshotRecovery, check_upload
from router.cluster.snapshots import SnapshotStore
from router.observability.snapshot_activity import SNAPSHOTS
from router.operations import fields

log = logging.getLogger(__name__)
router = APIRouter()

_OCTET = "application/octet-stream"


def _store(request: Request) -> SnapshotStore:
    return request.app.state.snapshots.store


def _recovery(request: Request) -> SnapshotRecovery:
    return request.app.state.snapshots


def _wait(request: Request) -> bool:
    """Snapshot calls wait by default (Qdrant's ``wait`` defaults to true here)."""
    if request.query_params.get("wait") in (None, ""):
        return True
    return parsing.wait_param(request)


async def _run(request: Request, call: Callable[[], Any]) -> Response:
    started = time.perf_counter()
    if _wait(request):
        return ok(await run_in_threadpool(call), started)

    def background() -> None:
        try:
            call()
        except TesseraError as exc:  # the client's error, told to no one: logged
            log.warning("snapshot operation %s %s refused: %s", request.method,
                        request.url.path, exc.message)
        except Exception:
            log.exception("snapshot operation %s %s failed", request.method, request.url.path)

    threading.Thread(target=background, name="snapshot", daemon=True).start()
    body = {"status": "accepted", "time": time.perf_counter() - started}
    return Response(dumps(body), status_code=202, media_type="application/json")


def _counted(collection: str, call: Callable[[], Any]) -> Callable[[], Any]:
    """``call``, counted for /metrics (snapshot_creation_running, snapshot_created_total)."""
    def counted() -> Any:
        with SNAPSHOTS.creating(collection):
            return call()
    return counted


def _download(path: Path) -> Response:
    return FileResponse(path, media_type=_OCTET, filename=path.name)


def _recover_body(body: Any, what: str) -> dict:
    body = fields.obj(body, what)
    if "location" not in body:
        raise FormatError("missing field `location`")
    for key in ("location", "priority", "checksum", "api_key"):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise FormatError(f"invalid type: {value!r}, expected a string at `{key}`")
    return body


async def _upload(request: Request, recover: Callable[[Path, str, str | None], bool]
                  ) -> Response:
    """The ``snapshot`` file of a form upload, saved to the staging space, then recovered."""
    store = _store(request)
    params = request.query_params
    priority, checksum = check_upload(params.get("priority"), params.get("checksum"))
    with contextlib.ExitStack() as stack:  # the staging directory goes if the upload fails
        work = stack.enter_context(store.workdir())
        target = work / "upload.snapshot"
        await save_part(request.stream(), request.headers.get("content-type"), "snapshot",
                        target)
        owned = stack.pop_all()  # from here on the recovery owns it (also in the background)

    def recover_then_clean() -> bool:
        with owned:
            return recover(target, priority, checksum)

    return await _run(request, recover_then_clean)


# -- collection snapshots ------------------------------------------------------------------------
@router.post("/collections/{name}/snapshots")
async def create_snapshot(name: str, request: Request) -> Response:
    store = _store(request)
    store.toc.get(name)
    return await _run(request, _counted(name, lambda: store.create_collection_snapshot(name)))


@router.get("/collections/{name}/snapshots")
async def list_snapshots(name: str, request: Request) -> Response:
    started = time.perf_counter()
    return ok(await run_in_threadpool(_store(request).list_collection, name), started)


@router.put("/collections/{name}/snapshots/recover")
async def recover_snapshot(name: str, request: Request) -> Response:
    body = _recover_body(await parsing.json_body(request), "SnapshotRecover")
    recovery = _recovery(request)
    return await _run(request, lambda: recovery.recover_collection(
        name, body["location"], body.get("priority"), body.get("checksum"), body.get("api_key")))


@router.post("/collections/{name}/snapshots/upload")
async def upload_snapshot(name: str, request: Request) -> Response:
    recovery = _recovery(request)

    def recover(path: Path, priority: str, checksum: str | None) -> bool:
        return recovery.recover_collection_file(name, path, priority, checksum)

    return await _upload(request, recover)


@router.get("/collections/{name}/snapshots/{snapshot}")
async def get_snapshot(name: str, snapshot: str, request: Request) -> Response:
    return _download(await run_in_threadpool(_store(request).collection_file, name, snapshot))


@router.delete("/collections/{name}/snapshots/{snapshot}")
async def delete_snapshot(name: str, snapshot: str, request: Request) -> Response:
    store = _store(request)
    path = store.collection_file(name, snapshot)
    return await _run(request, lambda: store.delete(path))


# -- shard snapshots -----------------------------------------------------------------------------
@router.post("/collections/{name}/shards/{shard_id}/snapshots")
async def create_shard_snapshot(name: str, shard_id: int, request: Request) -> Response:
    store = _store(request)
    store.local_shard(name, shard_id)
    return await _run(request, _counted(name, lambda: store.create_shard_snapshot(name,
                                                                            shard_id)))


@router.get("/collections/{name}/shards/{shard_id}/snapshots")
async def list_shard_snapshots(name: str, shard_id: int, request: Request) -> Response:
    started = time.perf_counter()
    return ok(await run_in_threadpool(_store(request).list_shard, name, shard_id), started)


@router.get("/collections/{name}/shards/{shard_id}/snapshot")
async def stream_shard_snapshot(name: str, shard_id: int, request: Request) -> Response:
    """A snapshot of the shard made as it is sent: no file is written on this node."""
    store = _store(request)
    store.local_shard(name, shard_id)

    def chunks():
        with store.shard_stream(name, shard_id) as stream:
            yield from stream

    return StreamingResponse(chunks(), media_type=_OCTET)


@router.put("/collections/{name}/shards/{shard_id}/snapshots/recover")
async def recover_shard_snapshot(name: str, shard_id: int, request: Request) -> Response:
    body = _recover_body(await parsing.json_body(request), "ShardSnapshotRecover")
    recovery = _recovery(request)
    return await _run(request, lambda: recovery.recover_shard(
        name, shard_id, body["location"], body.get("priority"), body.get("checksum"),
        body.get("api_key")))


@router.post("/collections/{name}/shards/{shard_id}/snapshots/upload")
async def upload_shard_snapshot(name: str, shard_id: int, request: Request) -> Response:
    recovery = _recovery(request)
    recovery.store.local_shard(name, shard_id)

    def recover(path: Path, priority: str, checksum: str | None) -> bool:
        return recovery.recover_shard_file(name, shard_id, path, priority, checksum)

    return await _upload(request, recover)


@router.get("/collections/{name}/shards/{shard_id}/snapshots/{snapshot}")
async def get_shard_snapshot(name: str, shard_id: int, snapshot: str, request: Request
                             ) -> Response:
    path = await run_in_threadpool(_store(request).shard_file, name, shard_id, snapshot)
    return _download(path)


@router.delete("/collections/{name}/shards/{shard_id}/snapshots/{snapshot}")
async def delete_shard_snapshot(name: str, shard_id: int, snapshot: str, request: Request
                                ) -> Response:
    store = _store(request)
    path = store.shard_file(name, shard_id, snapshot)
    return await _run(request, lambda: store.delete(path))


# -- full snapshots ------------------------------------------------------------------------------
@router.post("/snapshots")
async def create_full_snapshot(request: Request) -> Response:
    store = _store(request)
    return await _run(request, _counted("", store.create_full_snapshot))


@router.get("/snapshots")
async def list_full_snapshots(request: Request) -> Response:
    started = time.perf_counter()
    return ok(await run_in_threadpool(_store(request).list_full), started)


@router.get("/snapshots/{snapshot}")
async def get_full_snapshot(snapshot: str, request: Request) -> Response:
    return _download(await run_in_threadpool(_store(request).full_file, snapshot))


@router.delete("/snapshots/{snapshot}")
async def delete_full_snapshot(snapshot: str, request: Request) -> Response:
    store = _store(request)
    path = store.full_file(snapshot)
    return await _run(request, lambda: store.delete(path))
