"""Shard transfer under a rate limit: how long a copy takes, and what searches pay meanwhile.

Three nodes on loopback, each with ``storage.performance.max_transfer_rate`` = --rate points
per second. One collection of one shard (replication factor 1) holds --points points. A search
client (one thread, queries back to back, through a node that is neither source nor target)
measures p50/p99 for --idle seconds, then an operator's replicate_shard copies the shard to
another peer while the client goes on; the copy's duration is compared with points / rate.

    python bench/transfer.py [--points 50000] [--rate 10000] [--dim 64] [--rounds 3]
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

from tests.support.cluster import cluster_node, wait_peers, wait_until  # noqa: E402

COLLECTION = "moved"


def start(root: Path, rate: int) -> list:
    env = {"QDRANT__STORAGE__PERFORMANCE__MAX_TRANSFER_RATE": str(rate)}
    first = cluster_node(root / "p0")
    first.extra_env.update(env)
    first.start().wait_ready(60)
    wait_peers([first], 1)
    nodes = [first]
    for i in (1, 2):
        node = cluster_node(root / f"p{i}", bootstrap=first)
        node.extra_env.update(env)
        nodes.append(node.start())
    for node in nodes[1:]:
        node.wait_ready(90)
    wait_peers(nodes, 3)
    return nodes


class Searcher(threading.Thread):
    def __init__(self, url: str, dim: int) -> None:
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=url, timeout=30)
        self.rng = np.random.default_rng(5)
        self.dim = dim
        self.samples: list[tuple[float, float]] = []  # (when, latency)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            body = {"query": self.rng.standard_normal(self.dim).round(4).tolist(), "limit": 10}
            t = time.monotonic()
            resp = self.http.post(f"/collections/{COLLECTION}/points/query", json=body)
            resp.raise_for_status()
            self.samples.append((t, time.monotonic() - t))

    def between(self, a: float, b: float) -> list[float]:
        return [lat for t, lat in self.samples if a <= t < b]


def p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else float("nan")


def one_round(root: Path, points: int, rate: int, dim: int, idle: float) -> dict:
    nodes = start(root, rate)
    try:
        first = nodes[0]
        first.http.put(f"/collections/{COLLECTION}", json={
            "vectors": {"size": dim, "distance": "Cosine"}, "shard_number": 1,
        }).raise_for_status()
        rng = np.random.default_rng(1)
        for s in range(0, points, 2000):
            n = min(2000, points - s)
            vectors = rng.standard_normal((n, dim)).astype(np.float32).round(4)
            batch = [{"id": s + i, "vector": vectors[i].tolist(), "payload": {"i": s + i}}
                     for i in range(n)]
            first.http.put(f"/collections/{COLLECTION}/points", params={"wait": "true"},
                           json={"points": batch}, timeout=120).raise_for_status()
        peer_of = {httpx.get(f"{n.url}/cluster").json()["result"]["peer_id"]: n for n in nodes}
        info = first.http.get(f"/collections/{COLLECTION}/cluster").json()["result"]
        holders = {s["peer_id"] for s in info["remote_shards"]} | \
            ({info["peer_id"]} if info["local_shards"] else set())
        source = holders.pop()
        target, bystander = [p for p in peer_of if p != source][:2]
        searcher = Searcher(peer_of[bystander].url, dim)
        searcher.start()
        time.sleep(idle)
        begun = time.monotonic()
        first.http.post(f"/collections/{COLLECTION}/cluster", json={"replicate_shard": {
            "shard_id": 0, "from_peer_id": source, "to_peer_id": target}}).raise_for_status()
        wait_until(lambda: not first.http.get(f"/collections/{COLLECTION}/cluster").json()
                   ["result"]["shard_transfers"], 600, "the copy", interval=0.05)
        took = time.monotonic() - begun
        searcher.stop.set()
        searcher.join(30)
        idle_lat = searcher.between(begun - idle, begun)
        busy_lat = searcher.between(begun, begun + took)
        return {"took": took, "expected": points / rate if rate else float("nan"),
                "idle_p99": p99(idle_lat), "busy_p99": p99(busy_lat),
                "idle_p50": statistics.median(idle_lat), "busy_p50": statistics.median(busy_lat)}
    finally:
        for node in nodes:
            node.kill()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=50_000)
    p.add_argument("--rate", type=int, default=10_000, help="points per second (0: no limit)")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--idle", type=float, default=5.0, help="seconds of searches before")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    rounds = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="transfer-") as tmp:
            res = one_round(Path(tmp), args.points, args.rate, args.dim, args.idle)
        rounds.append(res)
        print(f"  round {r + 1}: copy {res['took']:.2f} s (points/rate {res['expected']:.2f} s);"
              f" search p50 {1000 * res['idle_p50']:.1f} -> {1000 * res['busy_p50']:.1f} ms,"
              f" p99 {1000 * res['idle_p99']:.1f} -> {1000 * res['busy_p99']:.1f} ms"
              f" ({res['busy_p99'] / res['idle_p99']:.2f}x)", flush=True)
    took = statistics.median(r["took"] for r in rounds)
    ratio = statistics.median(r["busy_p99"] / r["idle_p99"] for r in rounds)
    print(f"{args.points} points at {args.rate} points/s, {args.rounds} rounds: copy median "
          f"{took:.2f} s (points/rate {args.points / args.rate if args.rate else 0:.2f} s); "
          f"search p99 during / idle median {ratio:.2f}x (target <= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
