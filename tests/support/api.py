"""Raw-HTTP helpers: envelope and error-shape checks, small request wrappers, polling.

Everything here talks to the node with plain httpx so that status codes, headers and the exact
JSON shapes can be asserted (qdrant-client hides them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import httpx
import numpy as np

from tests.support import openapi

HARDWARE_COUNTERS = {
    "cpu",
    "payload_io_read",
    "payload_io_write",
    "payload_index_io_read",
    "payload_index_io_write",
    "vector_io_read",
    "vector_io_write",
}

ERROR_PREFIXES = (
    "Not found: ",
    "Wrong input: ",
    "Bad request: ",
    "Service internal error: ",
    "Validation error in JSON body: ",
    "Format error in JSON body: ",
)


def _describe(resp: httpx.Response) -> str:
    return f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text[:2000]}"


def assert_json_content_type(resp: httpx.Response) -> None:
    ctype = resp.headers.get("content-type", "")
    assert ctype.split(";")[0].strip().lower() == "application/json", (
        f"Content-Type {ctype!r} is not application/json; {_describe(resp)}"
    )


def ok(resp: httpx.Response, status: int = 200) -> Any:
    """Assert a success envelope ``{"result", "status": "ok", "time"}`` and return ``result``.
    The whole body is also validated against the OpenAPI schema of the operation."""
    assert resp.status_code == status, _describe(resp)
    assert_json_content_type(resp)
    body = resp.json()
    assert isinstance(body, dict), _describe(resp)
    assert body.get("status") == "ok", _describe(resp)
    assert "result" in body, _describe(resp)
    assert isinstance(body.get("time"), (int, float)) and not isinstance(body["time"], bool), (
        _describe(resp)
    )
    assert body["time"] >= 0
    extra = set(body) - {"result", "status", "time", "usage"}
    assert not extra, f"unexpected envelope keys {extra}; {_describe(resp)}"
    check_usage(body.get("usage"))
    openapi.check_response(resp)
    return body["result"]


def check_usage(usage: Any) -> None:
    """``usage`` may be absent or null; when present, ``hardware`` has all seven counters."""
    if usage is None:
        return
    assert isinstance(usage, dict), usage
    hardware = usage.get("hardware")
    if hardware is not None:
        assert set(hardware) == HARDWARE_COUNTERS, f"hardware usage keys: {sorted(hardware)}"


def error(
    resp: httpx.Response,
    status: int,
    *,
    message: str | None = None,
    contains: str | Iterable[str] = (),
    prefix: str | None = None,
) -> str:
    """Assert Qdrant's error shape ``{"status": {"error": str}, "time": float}`` and the status
    code; optionally the exact message, substrings of it, or its prefix. Returns the message.
    """
    assert resp.status_code == status, f"expected {status}; {_describe(resp)}"
    assert_json_content_type(resp)
    body = resp.json()
    assert isinstance(body, dict), _describe(resp)
    assert isinstance(body.get("status"), dict), f"error status is not an object; {_describe(resp)}"
    msg = body["status"].get("error")
    assert isinstance(msg, str) and msg, _describe(resp)
    assert isinstance(body.get("time"), (int, float)) and not isinstance(body["time"], bool), (
        _describe(resp)
    )
    assert body.get("result") is None, _describe(resp)
    assert set(body) <= {"status", "time", "result", "usage"}, _describe(resp)
    openapi.check_response(resp)
    if message is not None:
        assert msg == message, f"error message {msg!r} != {message!r}"
    if isinstance(contains, str):
        contains = (contains,)
    for part in contains:
        assert part in msg, f"error message {msg!r} does not contain {part!r}"
    if prefix is not None:
        assert msg.startswith(prefix), f"error message {msg!r} does not start with {prefix!r}"
    return msg


def update_ok(resp: httpx.Response, wait: bool = True) -> dict:
    """An UpdateResult: ``status`` completed (wait) or acknowledged, integer ``operation_id``."""
    result = ok(resp)
    assert isinstance(result, dict), result
    assert result.get("status") == ("completed" if wait else "acknowledged"), result
    op = result.get("operation_id")
    assert isinstance(op, int) and not isinstance(op, bool) and op >= 0, result
    return result


# ---------------------------------------------------------------------------- request wrappers


def create_collection(http: httpx.Client, name: str, body: dict) -> None:
    assert ok(http.put(f"/collections/{name}", json=body)) is True


def collection_info(http: httpx.Client, name: str) -> dict:
    return ok(http.get(f"/collections/{name}"))


def upsert(http: httpx.Client, name: str, points: list[dict], wait: bool = True, **params) -> dict:
    query = {"wait": "true" if wait else "false", **params}
    resp = http.put(f"/collections/{name}/points", params=query, json={"points": points})
    return update_ok(resp, wait)


def post_update(http: httpx.Client, path: str, body: dict, wait: bool = True) -> dict:
    resp = http.post(path, params={"wait": "true" if wait else "false"}, json=body)
    return update_ok(resp, wait)


def scroll_all(
    http: httpx.Client,
    name: str,
    *,
    page: int = 100,
    with_payload: Any = True,
    with_vector: Any = False,
    filter: dict | None = None,
) -> list[dict]:
    """Every point via scroll pages (checks that the offsets chain up)."""
    points: list[dict] = []
    offset = None
    for _ in range(100_000):
        body: dict[str, Any] = {
            "limit": page,
            "with_payload": with_payload,
            "with_vector": with_vector,
        }
        if offset is not None:
            body["offset"] = offset
        if filter is not None:
            body["filter"] = filter
        result = ok(http.post(f"/collections/{name}/points/scroll", json=body))
        points.extend(result["points"])
        offset = result.get("next_page_offset")
        if offset is None:
            return points
    raise AssertionError("scroll never ended")


def count(http: httpx.Client, name: str, filter: dict | None = None) -> int:
    body: dict[str, Any] = {"exact": True}
    if filter is not None:
        body["filter"] = filter
    result = ok(http.post(f"/collections/{name}/points/count", json=body))
    assert set(result) == {"count"}, result
    return result["count"]


def retrieve(
    http: httpx.Client, name: str, ids: list, with_payload: Any = True, with_vector: Any = True
) -> list[dict]:
    body = {"ids": ids, "with_payload": with_payload, "with_vector": with_vector}
    return ok(http.post(f"/collections/{name}/points", json=body))


def query(http: httpx.Client, name: str, body: dict) -> list[dict]:
    result = ok(http.post(f"/collections/{name}/points/query", json=body))
    assert isinstance(result, dict) and isinstance(result.get("points"), list), result
    for p in result["points"]:
        check_scored_point(p)
    return result["points"]


def check_scored_point(p: dict) -> None:
    """ScoredPoint requires ``id``, ``score`` and ``version``."""
    for key in ("id", "score", "version"):
        assert key in p, f"ScoredPoint without {key!r}: {p}"
    assert isinstance(p["id"], (int, str)) and not isinstance(p["id"], bool), p
    assert isinstance(p["score"], (int, float)) and not isinstance(p["score"], bool), p
    assert isinstance(p["version"], int) and p["version"] >= 0, p


def wait_until(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = ""
) -> Any:
    """Call ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what or predicate}: last={last!r}"
            )
        time.sleep(interval)


# ---------------------------------------------------------------------------- float32 text


class RawNumber(str):
    """A JSON number kept as its exact source text."""


def loads_keep_number_text(text: str | bytes) -> Any:
    """Parse JSON keeping every non-integer number as :class:`RawNumber` (its exact text)."""
    return json.loads(text, parse_float=RawNumber)


def is_float32_shortest(text: str) -> bool:
    """True when ``text`` is the shortest decimal that round-trips the float32 it denotes.

    ``1.4063001`` is; ``1.4063000679016113`` (the same float32 printed as a float64) is not.
    Formatting (exponent style, trailing ``.0``) does not matter: the decimal values are compared.
    """
    value = np.float32(float(text))
    shortest = np.format_float_scientific(value, unique=True, trim="-")
    return Decimal(text) == Decimal(shortest)


# ---------------------------------------------------------------------------- point ids


def id_sort_key(point_id: int | str) -> tuple[int, int | str]:
    """Qdrant's id order: every integer id before every UUID; UUIDs by value (which, for the
    canonical lowercase hyphenated text, is plain string order)."""
    if isinstance(point_id, int):
        return (0, point_id)
    return (1, point_id)
