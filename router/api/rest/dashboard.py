"""GET /dashboard: the built-in web UI, static files shipped inside the package.

The files live in ``dashboard_assets/`` beside this module and are read with
``importlib.resources``, so an installed wheel serves them as a source checkout does. This face
only hands files out: the page itself talks to the node through the public REST API, like any
other client, and so must never get a route of its own here.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from router.api.rest.responses import error

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; at run time the name is never needed
    from importlib.resources.abc import Traversable

router = APIRouter()

#: where the UI is served; also the prefix the API key leaves open (the page asks for the key)
PREFIX = "/dashboard"

#: the types the UI's files come in (ES modules need a JavaScript type to load at all)
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}


def assets() -> Traversable:
    return resources.files("router.api.rest").joinpath("dashboard_assets")


def asset(path: str) -> Traversable | None:
    """The file under the assets folder that ``path`` names, or None (also for any ``..``)."""
    parts = [part for part in path.split("/") if part]
    if not parts or any(part.startswith(".") for part in parts):
        return None
    found = assets()
    for part in parts:
        found = found.joinpath(part)
    return found if found.is_file() else None


def file_response(found: Traversable) -> Response:
    suffix = "." + found.name.rpartition(".")[2]
    media_type = MEDIA_TYPES.get(suffix, "application/octet-stream")
    # no-cache: the browser revalidates, so a node that was upgraded serves its new UI at once
    return Response(found.read_bytes(), media_type=media_type,
                    headers={"cache-control": "no-cache"})


@router.get(PREFIX, include_in_schema=False)
async def dashboard_root() -> Response:
    # the page loads its modules by relative paths: they must resolve under /dashboard/
    return RedirectResponse(PREFIX + "/", status_code=307)


@router.get(PREFIX + "/{path:path}", include_in_schema=False)
async def dashboard_file(path: str) -> Response:
    found = asset(path or "index.html")
    if found is None:
        return error(f"Not found: {PREFIX}/{path}", 404)
    return file_response(found)


def is_dashboard_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")
