"""What a replica's recovery sends over the network: after a short outage (wal_delta) and from
scratch (stream_records).

Three nodes on loopback; one collection of one shard with replication factor 2 holding
--points points (dim --dim, a small payload). One replica's node is killed; a writer upserts
through another node for --outage seconds at --rate points per second (new ids and
overwrites); the node is restarted and recovers by itself (wal_delta: only the points whose
versions differ are fetched). Then its shard directory is wiped and it is restarted again,
so the same replica is copied whole (stream_records). Each recovery's points and bytes are
read from the node's log line (``PeerChannels.received_bytes``: the answers of the copy's
peer calls).

    python bench/wal_delta.py [--points 100000] [--outage 10] [--rate 500] [--dim 64]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.cluster import (  # noqa: E402
    cluster_status,
    replicas_all_active,
    start_cluster,
    wait_until,
)

COLLECTION = "delta"
RECOVERED = re.compile(r"recovered \S+ from peer \d+ by (\w+): (\d+) points, (\d+) bytes received")


def _points(rng: np.random.Generator, ids, dim: int) -> list[dict]:
    return [{"id": int(i), "vector": rng.standard_normal(dim).astype(np.float32).tolist(),
             "payload": {"n": int(i) % 1000}} for i in ids]


def _recovery(node, since: int, timeout: float = 120) -> tuple[str, int, int]:
    """The first recovery logged by ``node`` after ``since`` bytes of its log."""
    def found():
        matches = RECOVERED.findall(node.log_path.read_bytes()[since:].decode(errors="replace"))
        return matches[0] if matches else None

    method, points, received = wait_until(found, timeout, "the recovery's log line")
    return method, int(points), int(received)


def _restart_and_recover(victim, others) -> tuple[str, int, int, float]:
    since = victim.log_path.stat().st_size
    started = time.monotonic()
    victim.start().wait_ready(120)
    wait_until(lambda: all(replicas_all_active(n, COLLECTION) for n in others), 300,
               "every replica Active")
    took = time.monotonic() - started
    return (*_recovery(victim, since), took)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--outage", type=float, default=10.0, help="seconds the replica is down")
    p.add_argument("--rate", type=int, default=500, help="points per second written meanwhile")
    p.add_argument("--dim", type=int, default=64)
    args = p.parse_args(argv)
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="tessera-wal-delta-") as tmp:
        nodes = start_cluster(Path(tmp), 3)
        try:
            first = nodes[0]
            first.http.put(f"/collections/{COLLECTION}", json={
                "vectors": {"size": args.dim, "distance": "Cosine"}, "shard_number": 1,
                "replication_factor": 2}).raise_for_status()
            wait_until(lambda: all(replicas_all_active(n, COLLECTION) for n in nodes), 60,
                       "Active")
            for start in range(0, args.points, 2000):
                first.http.put(f"/collections/{COLLECTION}/points", params={"wait": "true"},
                               json={"points": _points(rng, range(start, min(
                                   args.points, start + 2000)), args.dim)},
                               timeout=120).raise_for_status()
            info = first.http.get(f"/collections/{COLLECTION}/cluster").json()["result"]
            holders = {s["peer_id"] for s in info["remote_shards"]}
            if info["local_shards"]:
                holders.add(info["peer_id"])
            by_id = {int(cluster_status(n)["peer_id"]): n for n in nodes}
            victim = next(by_id[p] for p in sorted(holders) if by_id[p] is not first)
            others = [n for n in nodes if n is not victim]
            writer_node = next(n for n in others)

            victim.kill()
            written = [0]
            stop = threading.Event()

            def write() -> None:
                batch, next_id = max(1, args.rate // 10), args.points
                while not stop.is_set():
                    fresh = list(range(next_id, next_id + batch // 2))
                    old = rng.integers(0, args.points, batch - len(fresh)).tolist()
                    next_id += len(fresh)
                    writer_node.http.put(f"/collections/{COLLECTION}/points",
                                         params={"wait": "true"},
                                         json={"points": _points(rng, fresh + old, args.dim)},
                                         timeout=60).raise_for_status()
                    written[0] += batch
                    time.sleep(0.1)

            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            time.sleep(args.outage)
            stop.set()
            writer.join(60)
            delta = _restart_and_recover(victim, others)

            victim.kill()
            uuid_dirs = list((victim.storage_path / "collections").iterdir())
            for shard_dir in uuid_dirs:
                shutil.rmtree(shard_dir / "0")
            full = _restart_and_recover(victim, others)
        finally:
            for node in nodes:
                try:
                    node.kill()
                except Exception:
                    pass
    total = args.points + written[0] // 2
    print(f"shard of {args.points:,} points (dim {args.dim}); {written[0]:,} points written "
          f"during a {args.outage:g} s outage ({total:,} points at the end, about)")
    for label, (method, points, received, took) in (("after the outage", delta),
                                                    ("from scratch", full)):
        print(f"  {label:17s} {method:15s} {points:8,} points fetched  {received:12,} bytes "
              f"({received / max(points, 1):,.0f} B/point)  all Active after {took:.1f} s")
    print(f"  the delta sent {100 * delta[2] / max(full[2], 1):.1f}% of a full copy's bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
