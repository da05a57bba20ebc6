"""Qdrant's response envelope and error bodies, serialized with orjson."""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.responses import Response

from node.errors import (
    AlreadyExists,
    BadRequest,
    Forbidden,
    FormatError,
    NotFound,
    RateLimited,
    ServiceError,
    TesseraError,
    Timeout,
    ValidationFailed,
    WrongInput,
)

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

STATUS_OF = {
    NotFound: 404,
    WrongInput: 400,
    BadRequest: 400,
    FormatError: 400,
    ValidationFailed: 422,
    AlreadyExists: 409,
    Timeout: 408,
    Forbidden: 403,
    RateLimited: 429,
    ServiceError: 500,
}


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def ok(result: Any, started: float, status_code: int = 200) -> Response:
    body = {"result": result, "status": "ok", "time": time.perf_counter() - started}
    return Response(dumps(body), status_code=status_code, media_type="application/json")


def error(message: str, status_code: int, started: float | None = None) -> Response:
    elapsed = time.perf_counter() - started if started is not None else 0.0
    body = {"status": {"error": message}, "time": elapsed}
    return Response(dumps(body), status_code=status_code, media_type="application/json")


def status_of(exc: TesseraError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 500


def from_exception(exc: TesseraError, started: float | None = None) -> Response:
    return error(exc.message, status_of(exc), started)
