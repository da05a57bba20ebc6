"""GET /docs and /redoc: FastAPI's API pages with their scripts and styles served by the node.

FastAPI's defaults load Swagger UI and ReDoc from a CDN, which a machine without internet cannot
reach. The ``fastapi-offline`` package ships those files (Swagger UI 5, which reads the OpenAPI
3.1 documents FastAPI writes); this module serves them from that package under ``/docs/assets/``
and points the pages there.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import Response

from router.api.rest.dashboard import file_response
from router.api.rest.responses import error

router = APIRouter()

ASSETS = "/docs/assets/"
#: the files the two pages load, all from fastapi_offline's static folder
FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"})
OPENAPI_URL = "/openapi.json"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


@router.get("/docs", include_in_schema=False)
async def swagger_ui() -> Response:
    return get_swagger_ui_html(
        openapi_url=OPENAPI_URL, title="Tessera - Swagger UI",
        swagger_js_url=ASSETS + "swagger-ui-bundle.js", swagger_css_url=ASSETS + "swagger-ui.css",
        swagger_favicon_url=ASSETS + "favicon.png", oauth2_redirect_url=OAUTH2_REDIRECT,
    )


@router.get(OAUTH2_REDIRECT, include_in_schema=False)
async def swagger_ui_redirect() -> Response:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc", include_in_schema=False)
async def redoc() -> Response:
    return get_redoc_html(openapi_url=OPENAPI_URL, title="Tessera - ReDoc",
                          redoc_js_url=ASSETS + "redoc.standalone.js",
                          redoc_favicon_url=ASSETS + "favicon.png", with_google_fonts=False)


@router.get(ASSETS + "{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    if name not in FILES:
        return error(f"Not found: {ASSETS}{name}", 404)
    return file_response(resources.files("fastapi_offline").joinpath("static", name))
