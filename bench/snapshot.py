"""Search latency while snapshots are taken: p50/p99 of searches when idle, with a writer
upserting (wait=true), and with the writer while collection snapshots are made back to back;
also how long a snapshot took and the longest gap between two acknowledged writes then (the
pause the cut costs writers).

One node on fresh storage, a collection of --points points of --dim dimensions (Cosine, an HNSW
graph built before measuring), one searcher thread issuing queries back to back. The writer
runs in a process of its own, so that building its requests does not hold the searcher's
interpreter lock (it would count as the server's latency).

    python bench/snapshot.py [--points 100000] [--dim 128] [--rounds 3] [--writer-rate 0]

``--writer-rate N`` paces the writer at N points per second (batches of 20); 0, the default,
writes back to back, which on two cores keeps one of them busy with the writer alone. The last
lines are the medians over the rounds.

Target (issue #20): p99 during the snapshot within 3x its idle value.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.node import Node  # noqa: E402

COLLECTION = "snap_bench"


def _fill(http: httpx.Client, points: int, dim: int) -> None:
    http.put(f"/collections/{COLLECTION}", json={
        "vectors": {"size": dim, "distance": "Cosine"},
        "optimizers_config": {"indexing_threshold": 1}}).raise_for_status()
    rng = np.random.default_rng(0)
    for lo in range(0, points, 2000):
        batch = rng.normal(size=(min(2000, points - lo), dim)).astype(np.float32)
        body = {"points": [{"id": lo + i, "vector": v.tolist(), "payload": {"n": lo + i}}
                           for i, v in enumerate(batch)]}
        http.put(f"/collections/{COLLECTION}/points?wait=true", json=body).raise_for_status()
    _settle(http, points)


def _settle(http: httpx.Client, points: int) -> None:
    """Until the collection is green and indexed: an idle window is idle only once the
    optimizer has folded in what the last round's writer added (it starts once writes have
    paused for a second)."""
    time.sleep(1.5)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        info = http.get(f"/collections/{COLLECTION}").json()["result"]
        if info["status"] == "green" and info.get("indexed_vectors_count", 0) >= points * 0.9:
            return
        time.sleep(0.5)


def _search_latencies(url: str, dim: int, stop: threading.Event) -> list[float]:
    rng = np.random.default_rng(1)
    took: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set():
            query = rng.normal(size=dim).tolist()
            started = time.perf_counter()
            http.post(f"/collections/{COLLECTION}/points/query",
                      json={"query": query, "limit": 10}).raise_for_status()
            took.append(time.perf_counter() - started)
    return took


def _writer(url: str, dim: int, stop, acks, rate: float) -> None:
    """Upserts of 20 points with wait=true until ``stop``, back to back or, with ``rate``, one
    batch every 20 / rate seconds; then the monotonic time of every acknowledgement goes to
    ``acks`` (a queue)."""
    rng = np.random.default_rng(2)
    next_id = 10_000_000
    acked: list[float] = []
    interval = 20 / rate if rate > 0 else 0.0
    due = time.monotonic()
    with httpx.Client(base_url=url, timeout=60) as http:
        while not stop.is_set():
            if interval:
                due += interval
                time.sleep(max(0.0, due - time.monotonic()))
            body = {"points": [{"id": next_id + i, "vector": rng.normal(size=dim).tolist()}
                               for i in range(20)]}
            next_id += 20
            http.put(f"/collections/{COLLECTION}/points?wait=true", json=body).raise_for_status()
            acked.append(time.monotonic())
    acks.put(acked)


class _WriterProcess:
    """The writer in a process of its own; ``times()`` stops it and returns its acks."""

    def __init__(self, url: str, dim: int, rate: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop, self._acks = context.Event(), context.Queue()
        self._process = context.Process(target=_writer,
                                        args=(url, dim, self._stop, self._acks, rate),
                                        daemon=True)
        self._process.start()

    def times(self) -> list[float]:
        self._stop.set()
        acked = self._acks.get(timeout=120)
        self._process.join(timeout=30)
        return acked


def _snapshots_for(node: Node, took: list[float], seconds: float = 3.0) -> None:
    """Collection snapshots back to back, so the window holds enough searches."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.monotonic()
        node.http.post(f"/collections/{COLLECTION}/snapshots", timeout=600).raise_for_status()
        took.append(time.monotonic() - started)


def _percentiles(took: list[float]) -> tuple[float, float]:
    ms = sorted(t * 1000 for t in took)
    return statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))]


def _measure(url: str, dim: int, seconds: float, during=None) -> tuple[list[float], float]:
    stop = threading.Event()
    result: list[list[float]] = []
    searcher = threading.Thread(target=lambda: result.append(_search_latencies(url, dim, stop)))
    searcher.start()
    spent = 0.0
    if during is None:
        time.sleep(seconds)
    else:
        started = time.monotonic()
        during()
        spent = time.monotonic() - started
    stop.set()
    searcher.join()
    return result[0], spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writer-rate", type=float, default=0.0,
                        help="points per second the writer upserts (0: back to back)")
    args = parser.parse_args(argv)
    ratios: dict[str, list[float]] = {"snapshots / idle": [], "writer / idle": [],
                                      "writer+snapshots / idle": [],
                                      "writer+snapshots / writer": []}
    with tempfile.TemporaryDirectory() as tmp:
        node = Node(Path(tmp))
        node.start()
        try:
            node.wait_ready(60)
            _fill(node.http, args.points, args.dim)
            for round_ in range(1, args.rounds + 1):
                _settle(node.http, args.points)
                idle, _ = _measure(node.url, args.dim, 3.0)
                alone: list[float] = []
                quiet, _ = _measure(node.url, args.dim, 0,
                                    during=lambda alone=alone: _snapshots_for(node, alone))
                writer = _WriterProcess(node.url, args.dim, args.writer_rate)
                time.sleep(1.5)  # the process has started and is writing
                writing, _ = _measure(node.url, args.dim, 3.0)
                snapshots: list[float] = []
                cut = time.monotonic()
                busy, _ = _measure(node.url, args.dim, 0,
                                   during=lambda snapshots=snapshots: _snapshots_for(node,
                                                                                     snapshots))
                acked = writer.times()
                during = [t for t in acked if t >= cut]
                rate = 20 * (len(acked) - 1) / max(acked[-1] - acked[0], 1e-9)
                gaps = [b - a for a, b in zip(during, during[1:], strict=False)] or [0.0]
                i50, i99 = _percentiles(idle)
                q50, q99 = _percentiles(quiet)
                w50, w99 = _percentiles(writing)
                b50, b99 = _percentiles(busy)
                print(f"round {round_}: p50/p99 ms  idle {i50:.2f}/{i99:.2f}  snapshots "
                      f"{q50:.2f}/{q99:.2f} (= {q99 / i99:.1f}x idle)  writer {w50:.2f}/"
                      f"{w99:.2f}  writer+snapshots {b50:.2f}/{b99:.2f} ({len(snapshots)} "
                      f"snapshots of {statistics.median(snapshots):.2f} s, {len(busy)} searches)"
                      f"  p99 = {b99 / i99:.1f}x idle, {b99 / w99:.1f}x writer-only; longest "
                      f"write gap {max(gaps) * 1000:.0f} ms; writer {rate:,.0f} points/s")
                ratios["snapshots / idle"].append(q99 / i99)
                ratios["writer / idle"].append(w99 / i99)
                ratios["writer+snapshots / idle"].append(b99 / i99)
                ratios["writer+snapshots / writer"].append(b99 / w99)
                for path in node.snapshots_path.rglob("*.snapshot"):
                    path.unlink()
        finally:
            node.stop()
    for name, values in ratios.items():
        print(f"median p99 {name}: {statistics.median(values):.2f}x "
              f"(rounds {', '.join(f'{v:.2f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
