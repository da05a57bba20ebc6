"""The ASGI entry point: access control (router.api.guard), the request size limit, and the hot
paths served without FastAPI.

Query, query batch and upsert are most of a vector database's traffic. FastAPI's routing,
dependency and middleware layers cost more per request than the search itself, so these paths are
matched here by hand and answered with the same functions the FastAPI routes use; everything else
(and every path not matched exactly) goes on to FastAPI.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from node import priority
from node.errors import TesseraError
from router.api import access_references
from router.api.access import FULL, Access, Refusal
from router.api.guard import Guard
from router.api.internal_errors import internal_error_message
from router.api.rest import points
from router.api.rest.body_shapes import shape_problem
from router.api.rest.parsing import (
    CONTENT_TYPE_ERROR,
    check_params,
    is_json_content_type,
    parse_json,
    within,
)
from router.api.rest.responses import dumps, status_of
from router.collection import read_consistency
from router.observability.responses import REST

log = logging.getLogger(__name__)

_PREFIX = "/collections/"
_JSON = [(b"content-type", b"application/json")]
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
#: the hot paths, after /collections/{name}/, and their methods
_HOT_METHODS = {"points/query": "POST", "points/query/batch": "POST", "points": "PUT"}
#: the route templates of the hot paths, the ``endpoint`` label of their metrics
_TEMPLATES = {rest: f"{_PREFIX}{{name}}/{rest}" for rest in _HOT_METHODS}
#: requests that may carry a body, and so must say it is JSON
_BODY_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
#: snapshot uploads: a multipart body of any size, streamed to a file (router.api.rest.snapshots)
_UPLOAD_SUFFIX = "/snapshots/upload"


def _params(query: bytes) -> dict[str, str]:
    return dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))


#: ``handler(raw_body, query_params)`` → the ``result`` of a hot path's answer.
HotHandler = Callable[[bytes, dict], Awaitable[Any]]


class Front:
    def __init__(self, app, toc, max_request_size_mb: int, guard: Guard | None = None) -> None:
        self.app = app
        self.toc = toc
        self.limit = max_request_size_mb * 1024 * 1024
        self.guard = guard if guard is not None else Guard(None)

    def fast_path_allowed(self, method: str, path: str, headers) -> bool:
        """Whether a hot-path request may skip ASGI: its credentials admit it, with a global
        access (the ASGI path answers refusals and checks per-collection tokens' bodies)."""
        try:
            return self.guard.admit_rest(method, path, headers).mode is not None
        except Refusal:
            return False

    def admit(self, scope) -> Access:
        """The access a request is served with (raises `Refusal`); a restricted one is left in
        the request's state for the routes that filter what they list."""
        access = self.guard.admit_rest(scope["method"], scope["path"], scope["headers"])
        if access is not FULL:
            scope.setdefault("state", {})["access"] = access
        return access

    def hot_route(self, method: str, path: str) -> HotHandler | None:
        """The handler of a hot path, or None for every other request (FastAPI's)."""
        if not path.startswith(_PREFIX) or method not in ("POST", "PUT"):
            return None
        name, _, rest = path[len(_PREFIX):].partition("/")
        if not name:
            return None
        if _HOT_METHODS.get(rest) != method:
            return None
        toc = self.toc
        if rest == "points/query":
            return lambda raw, params: within(params, "Search",
                                              points.query_result(toc, name, raw, params))
        if rest == "points/query/batch":
            return lambda raw, params: within(params, "Search",
                                              points.query_batch_result(toc, name, raw, params))
        return lambda raw, params: points.upsert_result(toc, name, raw, params)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        restricted = False
        if self.guard.secured:
            try:
                restricted = self.admit(scope).mode is None
            except Refusal as refusal:  # the authentication layer's answers are plain text
                return await self._refuse(send, refusal)
        if restricted and scope["method"] in _BODY_METHODS:
            # a per-collection token: the other collections its body reads need access too
            raw = await self._body(receive)
            if raw is None:
                return await self._reply(send, 413, self._error_body(
                    f"Payload too large: the limit is {self.limit} bytes "
                    "(service.max_request_size_mb)", 0.0))
            try:
                self.guard.check_references(scope["state"]["access"],
                                            access_references.in_json(parse_json(raw, False)),
                                            scope["path"])
            except Refusal as refusal:
                return await self._refuse(send, refusal)
            except TesseraError:
                pass  # not JSON: the route answers its 400
            receive = _replay(raw, receive)
        if scope["method"] == "POST" and scope["path"].endswith(_UPLOAD_SUFFIX):
            return await self.app(scope, receive, send)
        content_type = None
        has_body = False
        for key, value in scope["headers"]:
            if key == b"content-length":
                if value.isdigit() and int(value) > self.limit:
                    return await self._reply(send, 413, self._error_body(
                        f"Payload too large: request body is {int(value)} bytes, the limit is "
                        f"{self.limit} bytes (service.max_request_size_mb)", 0.0))
                has_body = value != b"0"
            elif key == b"transfer-encoding":
                has_body = True
            elif key == b"content-type":
                content_type = value
        if has_body and scope["method"] in _BODY_METHODS and not is_json_content_type(content_type):
            return await self._reply(send, 400, self._error_body(CONTENT_TYPE_ERROR.message, 0.0))
        query = scope.get("query_string", b"")
        handler = None if restricted else self.hot_route(scope["method"], scope["path"])
        if handler is not None:
            raw = await self._body(receive)
            status, body = await self.answer(handler, raw, query, scope["path"])
            return await self._reply(send, status, body)
        if query:
            try:
                params = _params(query)
                check_params(params)
                if "consistency" in params:
                    read_consistency.current.set(read_consistency.parse(params["consistency"]))
            except TesseraError as exc:  # Qdrant's 400 for a query string it cannot read
                return await self._reply(send, 400, self._error_body(exc.message, 0.0))
            if "timeout" in params:
                try:
                    self._strict_timeout(scope["path"], params["timeout"])
                except TesseraError as exc:
                    return await self._reply(send, status_of(exc),
                                             self._error_body(exc.message, 0.0))
        return await self._counted(scope, receive, send)

    def _strict_timeout(self, path: str, raw: str) -> None:
        """Strict mode's max_timeout for a points request (or facet) that names a timeout
        (``raw``, already checked to be a whole number of seconds)."""
        name, _, rest = path[len(_PREFIX):].partition("/") if path.startswith(_PREFIX) \
            else ("", "", "")
        if not name or not rest.startswith(("points", "facet")):
            return
        try:
            collection = self.toc.get(name)
        except TesseraError:
            return  # the route itself answers 404
        if collection.strict is not None:
            collection.strict.check_timeout(int(raw))

    async def _counted(self, scope, receive, send) -> None:
        """FastAPI's answer, counted under its route template once the router has matched
        one (a path that matches no route is not counted: the label stays bounded)."""
        started = time.perf_counter()
        status = 500

        async def watched(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            route = scope.get("route")
            if route is not None:
                name = scope.get("path_params", {}).get("name", "") if status != 404 else ""
                REST.record((scope["method"], route.path, status, name), started, status >= 400)

    async def answer(
        self, handler: HotHandler, raw: bytes | None, query: bytes, path: str
    ) -> tuple[int, bytes]:
        """A hot path's status and JSON body for a request body (None: over the size limit),
        counted in the metrics. Also used by the HTTP protocol, which serves these paths
        without ASGI."""
        started = time.perf_counter()
        priority.note_request()
        status, body = await self._answer(handler, raw, query, path, started)
        name, _, rest = path[len(_PREFIX):].partition("/")
        REST.record((_HOT_METHODS[rest], _TEMPLATES[rest], status, name if status != 404 else ""),
                    started, status >= 400)
        return status, body

    async def _answer(
        self, handler: HotHandler, raw: bytes | None, query: bytes, path: str, started: float
    ) -> tuple[int, bytes]:
        try:
            if raw is None:
                return 413, self._error_body(
                    f"Payload too large: the limit is {self.limit} bytes "
                    "(service.max_request_size_mb)", started)
            params = _params(query) if query else {}
            if query:
                check_params(params)
            if b"consistency=" in query:
                try:
                    read_consistency.current.set(read_consistency.parse(params.get("consistency")))
                except TesseraError as exc:  # Qdrant's 400 for a query string it cannot read
                    return 400, self._error_body(exc.message, 0.0)
            result = await handler(raw, params)
            elapsed = time.perf_counter() - started
            return 200, dumps({"result": result, "status": "ok", "time": elapsed})
        except TesseraError as exc:
            return status_of(exc), self._error_body(exc.message, started)
        except Exception as exc:  # the same answers as FastAPI's last-resort handler
            rest = path[len(_PREFIX):].partition("/")[2]
            method = _HOT_METHODS.get(rest, "POST")
            problem = shape_problem(method, f"{_PREFIX}{{name}}/{rest}", raw)
            if problem is not None:
                log.warning("a body of the wrong shape reached %s: %s", path, problem, exc_info=exc)
                return 400, self._error_body(f"Format error in JSON body: {problem}", started)
            return 500, self._error_body(internal_error_message(exc, path), started)

    async def _body(self, receive) -> bytes | None:
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _refuse(self, send, refusal: Refusal) -> None:
        if refusal.enveloped:
            return await self._reply(send, refusal.status, self._error_body(refusal.message, 0.0))
        return await self._reply(send, refusal.status, refusal.message.encode(), _TEXT)

    @staticmethod
    def _error_body(message: str, started: float) -> bytes:
        elapsed = time.perf_counter() - started if started else 0.0
        return dumps({"status": {"error": message}, "time": elapsed})

    @staticmethod
    async def _reply(send, status: int, body: bytes, content_type: list = _JSON) -> None:
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": content_type + [(b"content-length", str(len(body)).encode())],
        })
        await send({"type": "http.response.body", "body": body})


def _replay(raw: bytes, receive):
    """An ASGI ``receive`` that gives ``raw`` as the whole body (it was read to check it), then
    what the connection says next (a disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return replay
