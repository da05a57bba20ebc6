"""Monitoring endpoints: /metrics, /telemetry, /cluster/telemetry, /issues and a
collection's /optimizations. The figures are the observability room's; this face reads the
query string and picks the envelope."""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from router.api.rest.parsing import bool_value, uint_value
from router.api.rest.responses import ok
from router.observability import issues, metrics, optimizations
from router.observability.telemetry import cluster_telemetry
from router.observability.telemetry import telemetry as telemetry_report

router = APIRouter()


def _flag(request: Request, name: str) -> bool:
    return bool_value(request.query_params, name)


def _details_level(request: Request) -> int:
    """Already checked by the front (parsing.check_params)."""
    return uint_value(request.query_params, "details_level") or 0


@router.get("/metrics")
async def get_metrics(request: Request) -> Response:
    toc = request.app.state.toc
    # its timeout is checked by the front (parsing.check_params); rendering never waits
    prefix = getattr(request.app.state, "metrics_prefix", None) or ""
    body = metrics.render(toc, anonymize=_flag(request, "anonymize"), prefix=prefix,
                          per_collection=_flag(request, "per_collection"))
    return Response(body, media_type=metrics.CONTENT_TYPE)


@router.get("/telemetry")
async def telemetry(request: Request) -> Response:
    started = time.perf_counter()
    report = telemetry_report(request.app.state.toc, _details_level(request),
                              _flag(request, "anonymize"), _flag(request, "per_collection"))
    return ok(report, started)


@router.get("/cluster/telemetry")
async def get_cluster_telemetry(request: Request) -> Response:
    started = time.perf_counter()
    return ok(cluster_telemetry(request.app.state.toc, _details_level(request)), started)


@router.get("/issues")
async def get_issues(request: Request) -> Response:
    started = time.perf_counter()
    return ok(issues.report(request.app.state.toc), started)


@router.delete("/issues")
async def clear_issues(request: Request) -> Response:
    started = time.perf_counter()
    return ok(issues.clear(request.app.state.toc), started)


@router.get("/collections/{name}/optimizations")
async def get_optimizations(name: str, request: Request) -> Response:
    started = time.perf_counter()
    collection = request.app.state.toc.get(name)
    # completed_limit is checked by the front; no completed optimization is kept to list
    wanted = {w.strip() for w in request.query_params.get("with", "").split(",") if w.strip()}
    return ok(optimizations.optimizations(collection, wanted), started)
