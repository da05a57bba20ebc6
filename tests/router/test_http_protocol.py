"""The REST face's HTTP protocol (router/api/rest/http_protocol.py) on a real uvicorn server and
real sockets: plain keep-alive hot-path requests are answered without ASGI, everything unusual goes
through ASGI, and either way every request gets its whole answer, in order.

The `Front` here routes one path to a handler that answers with what it received, so what is
tested is the protocol, not the search behind it (tests/e2e covers that on a real node).
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator

import orjson
import pytest
import uvicorn

from router.api.rest.front import Front
from router.api.rest.http_protocol import protocol_for

HOT = "/collections/echo/points/query"


async def _fallback_app(scope, receive, send) -> None:
    """Stands in for FastAPI: every other path answers 200 with its own path."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = orjson.dumps({"path": scope["path"]})
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class EchoFront(Front):
    """One hot path whose result echoes the request; records the paths that came through ASGI."""

    def __init__(self) -> None:
        super().__init__(_fallback_app, toc=None, max_request_size_mb=1)
        self.asgi_paths: list[str] = []
        self.slow = False

    def hot_route(self, method: str, path: str):
        if method != "POST" or path != HOT:
            return None

        async def handler(raw: bytes, params: dict):
            if raw == b"boom":
                raise RuntimeError("the handler failed")
            if self.slow:
                await asyncio.sleep(0.3)
            return {"length": len(raw), "head": raw[:20].decode(), "params": params}

        return handler

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.asgi_paths.append(scope["path"])
        await super().__call__(scope, receive, send)


class Served:
    def __init__(self) -> None:
        self.front = EchoFront()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            self.front, http=protocol_for(self.front), log_level="critical", access_log=False,
            lifespan="off", loop="asyncio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@pytest.fixture()
def served() -> Iterator[Served]:
    s = Served()
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _request(
    path: str,
    body: bytes = b"",
    *,
    version: str = "1.1",
    extra: str = "",
    content_type: str = "application/json",
) -> bytes:
    head = (
        f"POST {path} HTTP/{version}\r\nHost: t\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: {content_type}\r\n{extra}\r\n"
    )
    return head.encode() + body


def _read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One Content-Length framed response (or a bare 100 Continue) from `sock`; what follows
    it stays in `buffer`."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        buffer += chunk
    end = buffer.index(b"\r\n\r\n")
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    del buffer[: end + 4]
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    if status == 100:
        return status, headers, b""
    length = int(headers["content-length"])
    while len(buffer) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a response body"
        buffer += chunk
    body = bytes(buffer[:length])
    del buffer[:length]
    return status, headers, body


def test_a_plain_hot_request_is_answered_without_asgi(served):
    with served.connect() as sock:
        buffer = bytearray()
        for i in range(3):  # keep-alive: the same connection serves again
            sent = f'{{"query": {i}}}'
            sock.sendall(_request(HOT + "?wait=true", sent.encode()))
            status, headers, body = _read_response(sock, buffer)
            assert status == 200
            assert headers["content-type"] == "application/json"
            answer = orjson.loads(body)
            assert answer["status"] == "ok" and isinstance(answer["time"], float)
            assert answer["result"] == {"length": 12, "head": sent, "params": {"wait": "true"}}
    assert served.front.asgi_paths == []


def test_a_body_in_pieces_is_collected_whole(served):
    body = b'{"query": "' + b"x" * 200_000 + b'"}'
    with served.connect() as sock:
        request = _request(HOT, body)
        for start in range(0, len(request), 7000):
            sock.sendall(request[start : start + 7000])
            time.sleep(0.001)
        status, _, answer = _read_response(sock, bytearray())
    assert status == 200 and orjson.loads(answer)["result"]["length"] == len(body)
    assert served.front.asgi_paths == []


@pytest.mark.parametrize("extra, version", [
    ("Expect: 100-continue\r\n", "1.1"),
    ("", "1.0"),
])
def test_unusual_requests_go_through_asgi_with_the_same_answer(served, extra, version):
    with served.connect() as sock:
        sock.sendall(_request(HOT, b"{}", version=version, extra=extra))
        buffer = bytearray()
        status, _, body = _read_response(sock, buffer)
        if status == 100:
            status, _, body = _read_response(sock, buffer)
    assert status == 200 and orjson.loads(body)["result"]["length"] == 2
    assert served.front.asgi_paths == [HOT]


def test_a_chunked_body_goes_through_asgi(served):
    head = (f"POST {HOT} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/json\r\n\r\n").encode()
    with served.connect() as sock:
        sock.sendall(head + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        status, _, body = _read_response(sock, bytearray())
    assert status == 200 and orjson.loads(body)["result"]["head"] == "abcde"
    assert served.front.asgi_paths == [HOT]


def test_over_the_size_limit_is_413_in_qdrants_error_shape(served):
    with served.connect() as sock:
        sock.sendall(f"POST {HOT} HTTP/1.1\r\nHost: t\r\nContent-Length: {2 * 1024 * 1024}"
                     "\r\n\r\n".encode())
        status, _, body = _read_response(sock, bytearray())
    assert status == 413
    assert "Payload too large" in orjson.loads(body)["status"]["error"]


def test_a_failing_handler_is_500_and_the_connection_serves_on(served):
    with served.connect() as sock:
        buffer = bytearray()
        sock.sendall(_request(HOT, b"boom") + _request(HOT, b"ok"))
        status, _, body = _read_response(sock, buffer)
        assert status == 500
        message = orjson.loads(body)["status"]["error"]
        expected = r"Service internal error: the handler failed \(request id [0-9a-f]{16}\)"
        assert re.fullmatch(expected, message), message
        status, _, body = _read_response(sock, buffer)
        assert status == 200 and orjson.loads(body)["result"]["head"] == "ok"


def test_pipelined_requests_are_answered_in_order(served):
    served.front.slow = True  # the first answer is still pending when the others arrive
    with served.connect() as sock:
        sock.sendall(_request(HOT, b"first") + _request("/other", b"x") + _request(HOT, b"third")
                     + _request(HOT, b"fourth"))
        buffer = bytearray()
        answers = [_read_response(sock, buffer) for _ in range(4)]
    assert [status for status, _, _ in answers] == [200] * 4
    assert orjson.loads(answers[0][2])["result"]["head"] == "first"
    assert orjson.loads(answers[1][2]) == {"path": "/other"}
    assert orjson.loads(answers[2][2])["result"]["head"] == "third"
    assert orjson.loads(answers[3][2])["result"]["head"] == "fourth"
    # the first was answered directly; those queued behind a request in flight went through ASGI
    assert served.front.asgi_paths == ["/other", HOT, HOT]


def test_connection_close_gets_its_answer_then_eof(served):
    with served.connect() as sock:
        sock.sendall(_request(HOT, b"{}", extra="Connection: close\r\n"))
        buffer = bytearray()
        status, headers, _ = _read_response(sock, buffer)
        assert status == 200 and headers["connection"] == "close"
        assert sock.recv(65536) == b""


def test_a_client_gone_before_its_answer_leaves_the_server_serving(served):
    served.front.slow = True
    with served.connect() as sock:
        sock.sendall(_request(HOT, b"{}"))
    time.sleep(0.5)  # the answer is ready after the connection is gone
    with served.connect() as sock:
        sock.sendall(_request(HOT, b"again"))
        status, _, body = _read_response(sock, bytearray())
    assert status == 200 and orjson.loads(body)["result"]["head"] == "again"


def test_shutdown_answers_the_request_in_flight_then_closes(served):
    served.front.slow = True
    with served.connect() as sock:
        sock.sendall(_request(HOT, b"last"))
        time.sleep(0.1)  # the answer is pending
        served.server.should_exit = True
        status, headers, body = _read_response(sock, bytearray())
        assert status == 200 and orjson.loads(body)["result"]["head"] == "last"
        assert headers["connection"] == "close"
        assert sock.recv(65536) == b""


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_refused_before_any_handler(served, content_type):
    """Qdrant's JSON endpoints refuse a body sent as another content type (400); the handler
    never sees it, and the connection serves on."""
    with served.connect() as sock:
        buffer = bytearray()
        sock.sendall(_request(HOT, b"boom", content_type=content_type) + _request(HOT, b"ok"))
        status, _, body = _read_response(sock, buffer)
        assert status == 400
        error = orjson.loads(body)["status"]["error"]
        assert error == "Format error in JSON body: Content type error"
        status, _, body = _read_response(sock, buffer)
        assert status == 200 and orjson.loads(body)["result"]["head"] == "ok"
