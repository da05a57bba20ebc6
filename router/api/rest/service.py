"""Service endpoints: root, health probes, cluster status (telemetry: `monitoring`)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from router.api.rest import parsing
from router.api.rest.responses import dumps, ok
from router.version import TITLE, VERSION, commit

router = APIRouter()


@router.get("/")
async def root() -> Response:
    body = {"title": TITLE, "version": VERSION, "commit": commit()}
    return Response(dumps(body), media_type="application/json")


@router.get("/healthz")
async def healthz() -> Response:
    return PlainTextResponse("healthz check passed")


@router.get("/livez")
async def livez() -> Response:
    return PlainTextResponse("healthz check passed")


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    toc = request.app.state.toc
    if not toc.ready():
        return PlainTextResponse("some shards are not ready", status_code=503)
    return PlainTextResponse("all shards are ready")


@router.delete("/cluster/peer/{peer_id}")
async def remove_peer(peer_id: int, request: Request) -> Response:
    started = time.perf_counter()
    force = request.query_params.get("force", "false").lower() == "true"
    toc = request.app.state.toc
    return ok(await run_in_threadpool(toc.remove_peer, peer_id, force), started)


@router.post("/cluster/recover")
async def recover_current_peer(request: Request) -> Response:
    started = time.perf_counter()
    return ok(await run_in_threadpool(request.app.state.toc.recover_current_peer), started)


@router.post("/cluster/peer/{peer_id}/drain")
async def drain_peer(peer_id: int, request: Request) -> Response:
    """Tessera's extension: move every replica off a peer (the leader does it, one step at a
    time), so that it can then be removed without force."""
    started = time.perf_counter()
    return ok(await run_in_threadpool(request.app.state.toc.drain_peer, peer_id), started)


@router.delete("/cluster/peer/{peer_id}/drain")
async def undrain_peer(peer_id: int, request: Request) -> Response:
    started = time.perf_counter()
    return ok(await run_in_threadpool(request.app.state.toc.drain_peer, peer_id, False),
              started)


@router.get("/cluster/metadata/keys")
async def metadata_keys(request: Request) -> Response:
    started = time.perf_counter()
    return ok(request.app.state.toc.metadata_keys(), started)


@router.get("/cluster/metadata/keys/{key}")
async def metadata_value(key: str, request: Request) -> Response:
    started = time.perf_counter()
    return ok(request.app.state.toc.metadata_value(key), started)


@router.put("/cluster/metadata/keys/{key}")
async def set_metadata(key: str, request: Request) -> Response:
    started = time.perf_counter()
    value = await parsing.json_body(request)
    return ok(await run_in_threadpool(request.app.state.toc.set_metadata, key, value), started)


@router.delete("/cluster/metadata/keys/{key}")
async def delete_metadata(key: str, request: Request) -> Response:
    started = time.perf_counter()
    return ok(await run_in_threadpool(request.app.state.toc.delete_metadata, key), started)


@router.get("/cluster/rebalance")
async def rebalance_plan(request: Request) -> Response:
    """Tessera's extension: the replica moves the leader's planner would make now."""
    started = time.perf_counter()
    return ok(request.app.state.toc.rebalance_plan(), started)


@router.get("/cluster")
async def cluster(request: Request) -> Response:
    started = time.perf_counter()
    return ok(request.app.state.toc.cluster_status(), started)
