"""HTTP-only request details: the JSON body (and its content type), the query parameters of
write endpoints, and a read's ``timeout``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import orjson
from starlette.requests import Request

from node.errors import FormatError
from router.api import deadlines

T = TypeVar("T")


async def raw_body(request: Request) -> bytes:
    """The request's body, kept on ``request.state`` for the last-resort error handler."""
    raw = await request.body()
    request.state.body = raw
    return raw


async def json_body(request: Request, required: bool = True) -> Any:
    return parse_json(await raw_body(request), required)


def is_json_content_type(value: bytes | str | None) -> bool:
    """Whether a Content-Type names JSON (``application/json``, ``text/json``, ``…+json``), as
    Qdrant's JSON bodies require."""
    if value is None:
        return False
    if isinstance(value, str):
        value = value.encode("latin-1")
    mime = value.split(b";", 1)[0].strip().lower()
    subtype = mime.partition(b"/")[2]
    return subtype == b"json" or subtype.endswith(b"+json")


#: Qdrant's answer to a JSON endpoint's body sent as something else (a 400)
CONTENT_TYPE_ERROR = FormatError("Content type error")


def parse_json(raw: bytes, required: bool = True) -> Any:
    if not raw.strip():
        if required:
            raise FormatError("EOF while parsing a value at line 1 column 0")
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FormatError(str(exc)) from None


def wait_param(request: Request) -> bool:
    return wait_value(request.query_params)


def wait_value(params: Mapping[str, str]) -> bool:
    value = params.get("wait")
    if value is None:
        return False
    if value in ("true", "1", ""):
        return True
    if value in ("false", "0"):
        return False
    raise FormatError(f"Query deserialize error: invalid value for wait: {value}")


def ordering_param(request: Request) -> str:
    return ordering_value(request.query_params)


def ordering_value(params: Mapping[str, str]) -> str:
    value = params.get("ordering", "weak")
    if value not in ("weak", "medium", "strong"):
        raise FormatError(
            f"Query deserialize error: unknown variant `{value}`, expected one of "
            "`weak`, `medium`, `strong`"
        )
    return value



def uint_value(params: Mapping[str, str], name: str, minimum: int = 0) -> int | None:
    """An integer query parameter of at least ``minimum`` (absent: None); anything else is
    refused, as Qdrant's query deserializer refuses it."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) < minimum:
        raise FormatError(f"Query deserialize error: invalid value for {name}: {raw}")
    return int(raw)


def bool_value(params: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter: ``true`` or ``false`` (absent: false)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return False
    if raw not in ("true", "false"):
        raise FormatError(f"Query deserialize error: invalid value for {name}: {raw}")
    return raw == "true"


def timeout_value(params: Mapping[str, str]) -> float | None:
    """A read's ``timeout`` query parameter (whole seconds, at least 1), or None."""
    seconds = uint_value(params, "timeout", minimum=1)
    return None if seconds is None else float(seconds)


async def within(params: Mapping[str, str], operation: str, work: Awaitable[T]) -> T:
    """``work``'s result, or Qdrant's 408 once the request's ``timeout`` query parameter has
    passed (router/api/deadlines.py)."""
    try:
        timeout = timeout_value(params)
    except FormatError:
        if asyncio.iscoroutine(work):
            work.close()  # never started
        raise
    return await deadlines.within(timeout, operation, work)
