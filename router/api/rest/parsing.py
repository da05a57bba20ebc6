"""HTTP-only request details: the JSON body (and its content type), the query parameters of
write endpoints, and a read's ``timeout``."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
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
    return bool_value(params, "wait")


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
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < minimum:
        raise FormatError(f"Query deserialize error: invalid value for {name}: {raw}")
    return int(raw)


def bool_value(params: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter: ``true`` or ``false`` (absent: false; ``name=`` is refused,
    as Qdrant's deserializer refuses it)."""
    raw = params.get(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise FormatError(f"Query deserialize error: invalid value for {name}: {raw}")
    return raw == "true"


#: Qdrant's query parameters that have a type: each has one type wherever its OpenAPI file
#: declares it (``checksum`` and ``with`` are free strings; ``consistency`` is read apart, and
#: an upload's ``priority`` by the snapshot routes)
_TYPED_PARAMS: dict[str, Callable[[Mapping[str, str]], object]] = {
    **{name: functools.partial(bool_value, name=name)
       for name in ("wait", "anonymize", "force", "per_collection")},
    **{name: functools.partial(uint_value, name=name)
       for name in ("completed_limit", "details_level")},
    "timeout": lambda params: uint_value(params, "timeout", minimum=1),
    "ordering": ordering_value,
}


def check_params(params: Mapping[str, str]) -> None:
    """Refuse a request whose query string gives one of Qdrant's typed parameters a value
    outside its type, before the request does anything (Qdrant's query deserializer runs
    before its handler). The check goes by name on every endpoint, so one that does not take
    the parameter (where Qdrant ignores whatever it says) refuses a malformed value too."""
    for name in _TYPED_PARAMS.keys() & params.keys():
        _TYPED_PARAMS[name](params)


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
