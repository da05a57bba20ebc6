"""The FastAPI application: routes of every face module, and Qdrant's error mapping."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from node.errors import TesseraError
from router.api.access_rules import RULES
from router.api.auth import Authenticator
from router.api.guard import Guard
from router.api.internal_errors import internal_error_message
from router.api.rest import collections, dashboard, docs, monitoring, points, service, snapshots
from router.api.rest.body_shapes import shape_problem
from router.api.rest.front import Front
from router.api.rest.responses import error, from_exception

log = logging.getLogger(__name__)


def create_app(toc, max_request_size_mb: int = 32, api_key: str | None = None,
               metrics_prefix: str | None = None, snapshot_recovery=None,
               guard: Guard | None = None) -> Front:
    """The node's ASGI app: `Front` (access control, size limit, hot paths) in front of
    FastAPI. ``guard``: the node's access control (default: ``api_key`` alone).
    ``snapshot_recovery`` (``router.cluster.snapshot_recovery.SnapshotRecovery``) serves the
    snapshot routes."""
    # /docs and /redoc: router.api.rest.docs, with their assets served locally (no CDN)
    app = FastAPI(title="Tessera", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.toc = toc
    app.state.metrics_prefix = metrics_prefix  # service.metrics_prefix
    app.state.snapshots = snapshot_recovery

    @app.exception_handler(TesseraError)
    async def tessera_error(request: Request, exc: TesseraError) -> Response:
        return from_exception(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error(f"Format error in JSON body: {exc.errors()}", 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error(str(exc.detail), exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        """The last resort: a body of a shape the parsers did not foresee is still the client's
        error (400, naming the field); anything else is ours (500, with a request id)."""
        where = f"{request.method} {request.url.path}"
        route = getattr(request.scope.get("route"), "path", None)
        problem = shape_problem(request.method, route, getattr(request.state, "body", None))
        if problem is not None:
            log.warning("a body of the wrong shape reached %s: %s", where, problem, exc_info=exc)
            return error(f"Format error in JSON body: {problem}", 400)
        return error(internal_error_message(exc, where), 500)

    app.include_router(service.router)
    app.include_router(monitoring.router)
    app.include_router(collections.router)
    app.include_router(points.router)
    app.include_router(snapshots.router)
    app.include_router(docs.router)
    app.include_router(dashboard.router)
    unruled = routes_without_rule(app)
    if unruled:  # every endpoint gets its access from router.api.access_rules
        raise RuntimeError(f"REST routes without an access rule: {', '.join(unruled)}")
    if guard is None:
        guard = Guard(Authenticator(api_key))
    return Front(app, toc, max_request_size_mb, guard)


def routes_without_rule(app: FastAPI) -> list[str]:
    """"METHOD /path" of each route of ``app`` that the access-rule table does not cover."""
    missing = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD" and not RULES.routes.covers(method, route.path):
                missing.append(f"{method} {route.path}")
    return missing
