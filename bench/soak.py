"""Soak: a node under an hour of mixed traffic; its memory must stay flat and nothing may fail.

One node, one collection loaded with --points points (dim --dim, a payload with a keyword, an
integer and a float field, payload indexes on two of them). Then --clients threads send, at
about --rate requests per second in all, a mix of

  query (plain, filtered, with a prefetch)   45%      scroll (filtered, paged)       15%
  upsert (overwrite random existing ids)     20%      count / retrieve / facet       10%
  delete + re-insert of random ids           10%

so the point count stays at --points. Every --sample seconds the node's VmRSS and the error
count are printed. After --warmup minutes, RSS must stay within ±10% of its median over the
rest of the run, and no request may fail (any non-2xx or transport error counts).

    python bench/soak.py [--minutes 60] [--points 200000] [--dim 64] [--rate 60] [--clients 4]
"""

from __future__ import annotations

import argparse
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

COLLECTION = "soak"
COLOURS = ["red", "green", "blue", "black", "white", "amber", "violet", "teal"]


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def point(rng: np.random.Generator, i: int, dim: int) -> dict:
    return {"id": i, "vector": rng.standard_normal(dim).astype(np.float32).round(5).tolist(),
            "payload": {"colour": COLOURS[i % len(COLOURS)], "n": int(i % 1000),
                        "x": float(rng.random())}}


def load(http: httpx.Client, points: int, dim: int) -> None:
    http.put(f"/collections/{COLLECTION}", json={
        "vectors": {"size": dim, "distance": "Cosine"}, "shard_number": 2,
    }).raise_for_status()
    for field, schema in (("colour", "keyword"), ("n", "integer")):
        http.put(f"/collections/{COLLECTION}/index", params={"wait": "true"},
                 json={"field_name": field, "field_schema": schema}).raise_for_status()
    rng = np.random.default_rng(1)
    for start in range(0, points, 1000):
        batch = [point(rng, i, dim) for i in range(start, min(points, start + 1000))]
        http.put(f"/collections/{COLLECTION}/points", params={"wait": "true"},
                 json={"points": batch}).raise_for_status()
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        info = http.get(f"/collections/{COLLECTION}").json()["result"]
        if info["status"] == "green":
            return
        time.sleep(2)
    raise RuntimeError("collection did not turn green")


class Client(threading.Thread):
    def __init__(self, url: str, seed: int, points: int, dim: int, interval: float,
                 stats: dict) -> None:
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=url, timeout=60.0)
        self.rng = np.random.default_rng(seed)
        self.points, self.dim, self.interval, self.stats = points, dim, interval, stats
        self.stop = threading.Event()

    def vector(self) -> list[float]:
        return self.rng.standard_normal(self.dim).astype(np.float32).round(5).tolist()

    def one(self) -> tuple[str, httpx.Response]:
        r = self.rng.random()
        c = f"/collections/{COLLECTION}"
        colour = COLOURS[int(self.rng.integers(len(COLOURS)))]
        if r < 0.45:
            body: dict = {"query": self.vector(), "limit": 10}
            if self.rng.random() < 0.4:
                body["filter"] = {"must": [{"key": "colour", "match": {"value": colour}}]}
            if self.rng.random() < 0.2:
                body = {"prefetch": {"query": self.vector(), "limit": 50}, "query": self.vector(),
                        "limit": 10}
            return "query", self.http.post(f"{c}/points/query", json=body)
        if r < 0.65:
            ids = self.rng.integers(0, self.points, 16).tolist()
            pts = [point(self.rng, int(i), self.dim) for i in ids]
            return "upsert", self.http.put(f"{c}/points", params={"wait": "true"},
                                           json={"points": pts})
        if r < 0.75:
            ids = [int(i) for i in self.rng.integers(0, self.points, 8)]
            resp = self.http.post(f"{c}/points/delete", params={"wait": "true"},
                                  json={"points": ids})
            if resp.status_code != 200:
                return "delete", resp
            pts = [point(self.rng, i, self.dim) for i in ids]
            return "delete", self.http.put(f"{c}/points", params={"wait": "true"},
                                           json={"points": pts})
        if r < 0.90:
            lo = int(self.rng.integers(0, 900))
            body = {"limit": 100, "with_payload": True,
                    "filter": {"must": [{"key": "n", "range": {"gte": lo, "lt": lo + 50}}]},
                    "offset": int(self.rng.integers(0, self.points))}
            return "scroll", self.http.post(f"{c}/points/scroll", json=body)
        k = self.rng.random()
        if k < 0.4:
            return "count", self.http.post(f"{c}/points/count", json={
                "filter": {"must": [{"key": "colour", "match": {"value": colour}}]},
                "exact": True})
        if k < 0.8:
            ids = [int(i) for i in self.rng.integers(0, self.points, 20)]
            return "retrieve", self.http.post(f"{c}/points", json={"ids": ids,
                                                                   "with_vector": True})
        return "facet", self.http.post(f"{c}/facet", json={"key": "colour", "limit": 8})

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            next_at += self.rng.exponential(self.interval)
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                kind, resp = self.one()
                ok = resp.status_code == 200
                detail = "" if ok else f"{resp.status_code} {resp.text[:200]}"
            except httpx.HTTPError as exc:
                kind, ok, detail = "transport", False, repr(exc)
            with self.stats["lock"]:
                self.stats["done"][kind] = self.stats["done"].get(kind, 0) + 1
                if not ok:
                    self.stats["errors"].append(f"{kind}: {detail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--warmup", type=float, default=5.0, help="minutes before RSS must be flat")
    p.add_argument("--points", type=int, default=200_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--rate", type=float, default=60.0, help="requests per second, all clients")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--sample", type=float, default=30.0, help="seconds between RSS samples")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        node = Node(Path(tmp) / "node")
        node.start().wait_ready(60)
        t0 = time.monotonic()
        load(node.http, args.points, args.dim)
        pid = node.proc.pid
        print(f"loaded {args.points} points (dim {args.dim}) in {time.monotonic() - t0:.0f} s; "
              f"RSS {vm_rss_mb(pid):.0f} MB", flush=True)
        stats: dict = {"lock": threading.Lock(), "done": {}, "errors": []}
        clients = [Client(node.url, 100 + k, args.points, args.dim,
                          args.clients / args.rate, stats) for k in range(args.clients)]
        for c in clients:
            c.start()
        start = time.monotonic()
        end = start + args.minutes * 60
        samples: list[tuple[float, float]] = []
        while time.monotonic() < end:
            time.sleep(min(args.sample, max(0.0, end - time.monotonic())))
            minute = (time.monotonic() - start) / 60
            rss = vm_rss_mb(pid)
            samples.append((minute, rss))
            with stats["lock"]:
                total = sum(stats["done"].values())
                errors = len(stats["errors"])
            print(f"  {minute:6.1f} min  RSS {rss:7.1f} MB  requests {total:7d}  "
                  f"errors {errors}", flush=True)
        for c in clients:
            c.stop.set()
        for c in clients:
            c.join(60)
        count = node.http.post(f"/collections/{COLLECTION}/points/count",
                               json={"exact": True}).json()["result"]["count"]
        node.stop()
    after = [rss for minute, rss in samples if minute >= args.warmup] or [samples[-1][1]]
    median = statistics.median(after)
    low, high = min(after), max(after)
    flat = low >= 0.9 * median and high <= 1.1 * median
    done = stats["done"]
    minutes = (time.monotonic() - start) / 60
    print(f"{minutes:.1f} min, {sum(done.values())} requests "
          f"({', '.join(f'{k} {v}' for k, v in sorted(done.items()))}), "
          f"{len(stats['errors'])} errors; points at the end {count} (expected {args.points})")
    print(f"RSS after {args.warmup:g} min warm-up: median {median:.1f} MB, min {low:.1f} "
          f"({100 * (low / median - 1):+.1f}%), max {high:.1f} ({100 * (high / median - 1):+.1f}%)"
          f" -> {'flat' if flat else 'NOT flat'} within ±10%")
    for line in stats["errors"][:10]:
        print("  error: " + line)
    good = flat and not stats["errors"] and count == args.points
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
