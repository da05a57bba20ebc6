"""A lean closed-loop load generator: N client threads, each issuing one query at a time for a
fixed duration, with pre-built request bodies and keep-alive connections.

A *target* is anything with ``worker(client_index) -> do``, where ``do(query_index)`` runs one
query and returns the hit ids (or raw bytes that ``target.ids(raw)`` turns into ids), raising on
failure. Recall is computed once per target from the first answer to every query, so the timed
loop does as little as possible.
"""

from __future__ import annotations

import asyncio
import http.client
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson


class QueryFailed(RuntimeError):
    pass


@dataclass
class Cell:
    """Measured throughput and latency of one (target, clients) combination."""

    clients: int
    qps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    windows: list[float] = field(default_factory=list)
    first_error: str | None = None

    @property
    def failed(self) -> bool:
        return self.requests == 0


class Target:
    """Base: subclasses implement ``worker`` (and ``ids`` when ``do`` returns raw bytes)."""

    name = "target"

    def __init__(self, nq: int) -> None:
        self.nq = nq
        self.answers: dict[int, Any] = {}  # query index -> first answer seen

    def worker(self, client: int) -> Callable[[int], Any]:
        raise NotImplementedError

    def ids(self, answer: Any) -> list[int]:
        return list(answer)

    def close_worker(self, do: Callable[[int], Any]) -> None:
        closer = getattr(do, "close", None)
        if closer is not None:
            closer()

    def fill_answers(self, max_seconds: float | None = None) -> None:
        """Answer queries not answered during the timed runs (untimed, one client), for at most
        ``max_seconds`` when given."""
        missing = [q for q in range(self.nq) if q not in self.answers]
        if not missing:
            return
        deadline = None if max_seconds is None else time.perf_counter() + max_seconds
        do = self.worker(0)
        try:
            for q in missing:
                if deadline is not None and time.perf_counter() > deadline:
                    break
                self.answers[q] = do(q)
        finally:
            self.close_worker(do)

    def found_ids(self, max_seconds: float | None = None) -> tuple[list[int], list[list[int]]]:
        """(query indices answered, their hit ids), after filling in what is missing."""
        self.fill_answers(max_seconds)
        answered = sorted(self.answers)
        return answered, [self.ids(self.answers[q]) for q in answered]


def run_window(target: Target, clients: int, duration: float, offset: int = 0) -> tuple:
    """One timed window: returns (qps, latencies in seconds, errors, first_error)."""
    own = getattr(target, "run_window", None)
    if own is not None:  # a target with its own event loop (one thread for all clients)
        return own(clients, duration, offset)
    nq = target.nq
    workers = []
    for c in range(clients):
        workers.append(target.worker(c))
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    first_error: list[str | None] = [None]
    ends = [0.0] * clients
    barrier = threading.Barrier(clients + 1)
    start_box = [0.0]
    answers = target.answers

    def loop(c: int) -> None:
        do = workers[c]
        lat = latencies[c]
        q = (offset + c * max(1, nq // clients)) % nq
        perf = time.perf_counter
        barrier.wait()
        deadline = start_box[0] + duration
        now = perf()
        while now < deadline:
            try:
                answer = do(q)
            except Exception as exc:  # noqa: BLE001 - any failure counts, first one is kept
                errors[c] += 1
                if first_error[0] is None:
                    first_error[0] = f"{type(exc).__name__}: {exc}"[:300]
                if errors[c] >= 20 and not lat:
                    break  # failing every time: stop early
                now = perf()
                continue
            end = perf()
            lat.append(end - now)
            if q not in answers:
                answers[q] = answer
            now = end
            q += 1
            if q == nq:
                q = 0
        ends[c] = now

    threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    start_box[0] = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    for do in workers:
        target.close_worker(do)
    elapsed = max(max(ends) - start_box[0], 1e-9)
    flat = [x for lat in latencies for x in lat]
    return len(flat) / elapsed, flat, sum(errors), first_error[0]


def measure(target: Target, clients: int, duration: float, repeats: int = 1) -> Cell:
    """``repeats`` windows of ``duration`` seconds; QPS and percentiles are medians over them."""
    qps_list, p50s, p99s = [], [], []
    total, errors, first_error = 0, 0, None
    for r in range(repeats):
        qps, lats, errs, err = run_window(target, clients, duration, offset=r * 97)
        errors += errs
        first_error = first_error or err
        if not lats:
            continue
        total += len(lats)
        qps_list.append(qps)
        arr = np.asarray(lats) * 1000.0
        p50s.append(float(np.percentile(arr, 50)))
        p99s.append(float(np.percentile(arr, 99)))
    if not qps_list:
        return Cell(clients, 0.0, float("nan"), float("nan"), 0, errors, [], first_error)
    return Cell(
        clients,
        statistics.median(qps_list),
        statistics.median(p50s),
        statistics.median(p99s),
        total,
        errors,
        qps_list,
        first_error,
    )


def warm(target: Target, clients: int, seconds: float) -> None:
    if seconds > 0:
        run_window(target, clients, seconds, offset=13)


# ---------------------------------------------------------------------------------- HTTP


class HttpQueryTarget(Target):
    """POST pre-encoded JSON bodies to one path over keep-alive ``http.client`` connections."""

    def __init__(self, url: str, path: str, bodies: list[bytes], name: str = "rest") -> None:
        super().__init__(len(bodies))
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = path
        self.bodies = bodies
        self.name = name

    def worker(self, client: int) -> Callable[[int], bytes]:
        host, port, path, bodies = self.host, self.port, self.path, self.bodies
        headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        box = [http.client.HTTPConnection(host, port, timeout=120)]
        box[0].connect()  # connect outside the timed loop

        def do(q: int) -> bytes:
            conn = box[0]
            try:
                conn.request("POST", path, bodies[q], headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                box[0] = conn = http.client.HTTPConnection(host, port, timeout=120)
                conn.request("POST", path, bodies[q], headers)
                resp = conn.getresponse()
                data = resp.read()
            if resp.status != 200:
                raise QueryFailed(f"HTTP {resp.status}: {data[:200].decode(errors='replace')}")
            return data

        do.close = lambda: box[0].close()  # type: ignore[attr-defined]
        return do

    def ids(self, answer: bytes) -> list[int]:
        doc = orjson.loads(answer)
        result = doc["result"]
        points = result["points"] if isinstance(result, dict) else result
        return [p["id"] for p in points]


class CallTarget(Target):
    """In-process: ``fn(query_index)`` returns ids directly (FAISS, qdrant-edge, a client)."""

    def __init__(
        self,
        nq: int,
        make: Callable[[int], Callable[[int], Any]],
        name: str,
        ids: Callable[[Any], list[int]] | None = None,
    ) -> None:
        super().__init__(nq)
        self._make = make
        self._ids = ids
        self.name = name

    def worker(self, client: int) -> Callable[[int], Any]:
        return self._make(client)

    def ids(self, answer: Any) -> list[int]:
        return self._ids(answer) if self._ids else list(answer)


class _Connection(asyncio.Protocol):
    """One keep-alive client connection of `AsyncHttpQueryTarget`: sends a request, reads the
    answer (Content-Length framed), records it and sends the next, all from loop callbacks."""

    def __init__(self, run: _AsyncWindow, first_query: int) -> None:
        self.run = run
        self.q = first_query
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.latencies: list[float] = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self) -> None:
        self.sent_at = time.perf_counter()
        self.transport.write(self.run.requests[self.q])

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(buffer) < end + 4 + length:
            return
        now = time.perf_counter()
        body = bytes(buffer[end + 4 : end + 4 + length])
        del buffer[: end + 4 + length]
        status = int(head[0].split()[1])
        self.run.answered(self, status, body, now)

    def connection_lost(self, exc) -> None:
        self.run.lost(self, exc)


class _AsyncWindow:
    """The state of one timed window of `AsyncHttpQueryTarget`."""

    def __init__(self, target: AsyncHttpQueryTarget, duration: float) -> None:
        self.target = target
        self.requests = target.requests
        self.nq = len(self.requests)
        self.duration = duration
        self.deadline = 0.0
        self.errors = 0
        self.first_error: str | None = None
        self.open = 0
        self.ends: list[float] = []
        self.done: asyncio.Future | None = None

    def answered(self, conn: _Connection, status: int, body: bytes, now: float) -> None:
        if status == 200:
            conn.latencies.append(now - conn.sent_at)
            if conn.q not in self.target.answers:
                self.target.answers[conn.q] = body
        else:
            self.errors += 1
            if self.first_error is None:
                self.first_error = f"HTTP {status}: {body[:200].decode(errors='replace')}"
        conn.q = (conn.q + 1) % self.nq
        if now < self.deadline and not (self.errors >= 20 and not conn.latencies):
            conn.send()
        else:
            self.finish(conn, now)

    def lost(self, conn: _Connection, exc) -> None:
        if conn in self.target.live:
            self.errors += 1
            self.first_error = self.first_error or f"connection lost: {exc}"
            self.finish(conn, time.perf_counter())

    def finish(self, conn: _Connection, now: float) -> None:
        self.target.live.discard(conn)
        self.ends.append(now)
        self.open -= 1
        if self.open == 0 and not self.done.done():
            self.done.set_result(None)


class AsyncWindows:
    """Timed windows driven by one asyncio loop in this thread, every client one connection
    (``self.connection(run, first_query)``) that sends its next request when an answer comes."""

    nq: int
    live: set
    host: str
    port: int

    def address(self, client: int) -> tuple[str, int]:
        """Where client ``client`` connects: one server here; a subclass may spread them."""
        return self.host, self.port

    def connection(self, run: _AsyncWindow, first: int) -> asyncio.Protocol:
        raise NotImplementedError

    def run_window(self, clients: int, duration: float, offset: int = 0) -> tuple:
        try:
            import uvloop  # the node's own event loop, when installed

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        return runner(self._window(clients, duration, offset))

    async def _window(self, clients: int, duration: float, offset: int) -> tuple:
        loop = asyncio.get_running_loop()
        run = _AsyncWindow(self, duration)
        run.done = loop.create_future()
        conns = []
        for c in range(clients):
            first = (offset + c * max(1, self.nq // clients)) % self.nq
            host, port = self.address(c)
            _, conn = await loop.create_connection(
                lambda first=first: self.connection(run, first), host, port
            )
            conns.append(conn)
        run.open = clients
        self.live = set(conns)
        start = time.perf_counter()
        run.deadline = start + duration
        for conn in conns:
            conn.send()
        await run.done
        for conn in conns:
            conn.transport.close()
        elapsed = max(max(run.ends) - start, 1e-9)
        flat = [x for conn in conns for x in conn.latencies]
        return len(flat) / elapsed, flat, run.errors, run.first_error


class AsyncHttpQueryTarget(AsyncWindows, HttpQueryTarget):
    """As `HttpQueryTarget`, but every client is a connection driven by one asyncio loop in one
    thread, with the whole request (head and body) pre-encoded: a client costs the node's 2
    cores a few tens of microseconds per request instead of a Python thread's ~150."""

    def __init__(self, url: str, path: str, bodies: list[bytes], name: str = "rest") -> None:
        super().__init__(url, path, bodies, name)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nConnection: keep-alive\r\n"
        )
        self.requests = [
            (head + f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in bodies
        ]
        self.live: set[_Connection] = set()

    def connection(self, run: _AsyncWindow, first: int) -> asyncio.Protocol:
        return _Connection(run, first)


class GrpcQueryTarget(Target):
    """Unary gRPC calls with pre-serialized request messages (raw bytes in and out, no protobuf
    work per call on the client), one channel and one thread per client. ``decode(raw)`` turns
    an answer into hit ids, for recall only."""

    def __init__(
        self, address: str, method: str, bodies: list[bytes], decode: Callable[[bytes], list],
        name: str = "grpc",
    ) -> None:
        super().__init__(len(bodies))
        self.endpoint = address  # host:port (not `address`: AsyncWindows.address is a method)
        self.method = method
        self.bodies = bodies
        self.decode = decode
        self.name = name

    def worker(self, client: int) -> Callable[[int], bytes]:
        import grpc

        channel = grpc.insecure_channel(self.endpoint)
        call = channel.unary_unary(self.method)  # no (de)serializers: bytes as they are
        bodies = self.bodies

        def do(q: int) -> bytes:
            return call(bodies[q], timeout=120)

        do.close = channel.close  # type: ignore[attr-defined]
        return do

    def ids(self, answer: bytes) -> list[int]:
        return self.decode(answer)
