"""A lean closed-loop load generator: N client threads, each issuing one query at a time for a
fixed duration, with pre-built request bodies and keep-alive connections.

A *target* is anything with ``worker(client_index) -> do``, where ``do(query_index)`` runs one
query and returns the hit ids (or raw bytes that ``target.ids(raw)`` turns into ids), raising on
failure. Recall is computed once per target from the first answer to every query, so the timed
loop does as little as possible.
"""

from __future__ import annotations

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
