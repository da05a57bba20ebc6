"""The ASGI entry point: the request size limit, and the hot paths served without FastAPI.

Query, query batch and upsert are most of a vector database's traffic. FastAPI's routing,
dependency and middleware layers cost more per request than the search itself, so these paths are
matched here by hand and answered with the same functions the FastAPI routes use; everything else
(and every path not matched exactly) goes on to FastAPI.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl

from node.errors import TesseraError
from router import read_consistency
from router.rest import points
from router.rest.responses import dumps, status_of

log = logging.getLogger(__name__)

_PREFIX = "/collections/"
_JSON = [(b"content-type", b"application/json")]


class Front:
    def __init__(self, app, toc, max_request_size_mb: int) -> None:
        self.app = app
        self.toc = toc
        self.limit = max_request_size_mb * 1024 * 1024

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > self.limit:
                return await self._reply(send, 413, self._error_body(
                    f"Payload too large: request body is {int(value)} bytes, the limit is "
                    f"{self.limit} bytes (service.max_request_size_mb)", 0.0))
        if b"consistency=" in scope.get("query_string", b""):
            params = dict(parse_qsl(scope["query_string"].decode("latin-1")))
            try:
                read_consistency.current.set(read_consistency.parse(params.get("consistency")))
            except TesseraError as exc:
                return await self._reply(send, 400, self._error_body(exc.message, 0.0))
        path, method = scope["path"], scope["method"]
        if path.startswith(_PREFIX):
            name, _, rest = path[len(_PREFIX):].partition("/")
            if name and method == "POST" and rest == "points/query":
                return await self._serve(scope, receive, send, lambda raw, _: points.query_result(self.toc, name, raw))
            if name and method == "POST" and rest == "points/query/batch":
                return await self._serve(scope, receive, send, lambda raw, _: points.query_batch_result(self.toc, name, raw))
            if name and method == "PUT" and rest == "points":
                return await self._serve(scope, receive, send, lambda raw, q: points.upsert_result(self.toc, name, raw, q))
        return await self.app(scope, receive, send)

    async def _serve(self, scope, receive, send, handler) -> None:
        started = time.perf_counter()
        try:
            raw = await self._body(receive)
            if raw is None:
                status, body = 413, self._error_body(
                    f"Payload too large: the limit is {self.limit} bytes "
                    "(service.max_request_size_mb)", started)
            else:
                query = scope["query_string"]
                params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else {}
                result = await handler(raw, params)
                status = 200
                body = dumps({"result": result, "status": "ok", "time": time.perf_counter() - started})
        except TesseraError as exc:
            status, body = status_of(exc), self._error_body(exc.message, started)
        except Exception as exc:  # the same answer FastAPI's handler gives
            log.exception("unhandled error on %s", scope["path"])
            status, body = 500, self._error_body(f"Service internal error: {exc}", started)
        await self._reply(send, status, body)

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

    @staticmethod
    def _error_body(message: str, started: float) -> bytes:
        elapsed = time.perf_counter() - started if started else 0.0
        return dumps({"status": {"error": message}, "time": elapsed})

    @staticmethod
    async def _reply(send, status: int, body: bytes) -> None:
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": _JSON + [(b"content-length", str(len(body)).encode())],
        })
        await send({"type": "http.response.body", "body": body})
