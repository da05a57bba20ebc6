"""Failover timing: what writers see when a node of a 3-node cluster dies by kill -9, and how
long the cluster takes to heal once it is back.

A collection of 3 shards x RF 2 (write_consistency_factor 1) takes batches of 50 points with
wait=true, one batch after another, through a node that stays up. At --kill-at seconds a node is
killed with SIGKILL: the Raft leader (--victim leader) or a follower. The writer goes on; then
the victim is restarted and the cluster heals. Every round reports

  stall     the longest gap between two acknowledged batches from the kill on
  leader    kill -> a leader again (survivors agree on one; for a follower kill: unchanged)
  dead      kill -> the victim's replicas marked Dead in the survivors' metadata
  active    restart -> every replica Active again (the victim missed only seconds of writes)
  lost      acknowledged points missing afterwards, asked of every node (must be 0)

    python bench/failover.py [--rounds 3] [--victim leader|follower|both] [--kill-at 4]
                             [--down 3] [--prefill 100000]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.cluster import (  # noqa: E402
    cluster_status,
    replicas_all_active,
    start_cluster,
    wait_until,
)

COLLECTION = "failover"
BATCH = 50
#: ids of --prefill points start here, far above the writer's
PREFILL_BASE = 10**9


class Writer(threading.Thread):
    """Batches of points with wait=true, one after another; records each acknowledgement."""

    def __init__(self, url: str) -> None:
        super().__init__(name="writer", daemon=True)
        self.http = httpx.Client(base_url=url, timeout=30.0)
        self.acked: list[tuple[float, list[int]]] = []
        self.failed = 0
        self.stop = threading.Event()
        self._next = 0

    def run(self) -> None:
        while not self.stop.is_set():
            ids = list(range(self._next, self._next + BATCH))
            self._next += BATCH
            points = [{"id": i, "vector": [float(i % 7), 1.0, 0.5, float(i % 3)]} for i in ids]
            try:
                resp = self.http.put(f"/collections/{COLLECTION}/points",
                                     params={"wait": "true"}, json={"points": points})
                if resp.status_code == 200:
                    self.acked.append((time.monotonic(), ids))
                else:
                    self.failed += 1
            except httpx.HTTPError:
                self.failed += 1

    def longest_gap(self, since: float) -> float:
        stamps = [since] + [t for t, _ in self.acked if t >= since]
        return max(b - a for a, b in zip(stamps, stamps[1:], strict=False)) if len(stamps) > 1 \
            else float("inf")


def _leader(node) -> int | None:
    return cluster_status(node)["raft_info"]["leader"]


def _victim_dead(node, victim_id: int) -> bool:
    info = httpx.get(f"{node.url}/collections/{COLLECTION}/cluster", timeout=2).json()["result"]
    states = [s["state"] for s in info["remote_shards"] if s["peer_id"] == victim_id]
    return bool(states) and all(s == "Dead" for s in states)


def one_round(root: Path, victim_kind: str, kill_at: float, after: float,
              prefill: int = 0) -> dict:
    nodes = start_cluster(root, 3)
    try:
        first = nodes[0]
        body = {"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 3,
                "replication_factor": 2, "write_consistency_factor": 1}
        first.http.put(f"/collections/{COLLECTION}", json=body).raise_for_status()
        wait_until(lambda: all(replicas_all_active(n, COLLECTION) for n in nodes), 60, "active")
        for start in range(0, prefill, 1000):  # points from before: a restart need not copy them
            points = [{"id": PREFILL_BASE + i, "vector": [float(i % 7), 1.0, 0.5, float(i % 3)]}
                      for i in range(start, min(prefill, start + 1000))]
            first.http.put(f"/collections/{COLLECTION}/points", params={"wait": "true"},
                           json={"points": points}, timeout=60).raise_for_status()
        leader_id = _leader(first)
        peer_ids = {int(cluster_status(n)["peer_id"]): n for n in nodes}
        victim_id = leader_id if victim_kind == "leader" else \
            next(p for p in peer_ids if p != leader_id)
        victim = peer_ids[victim_id]
        survivors = [n for n in nodes if n is not victim]
        writer = Writer(survivors[0].url)
        writer.start()
        time.sleep(kill_at)
        victim.kill()
        killed = time.monotonic()
        leader_back = wait_until(
            lambda: (lambda ls: ls.pop() if len(ls) == 1 and None not in ls
                     and victim_id not in ls else None)({_leader(n) for n in survivors}),
            30, "a leader among the survivors", interval=0.02)
        leader_s = time.monotonic() - killed if victim_kind == "leader" else 0.0
        assert leader_back is not None
        wait_until(lambda: _victim_dead(survivors[0], victim_id), 30, "victim Dead",
                   interval=0.02)
        dead_s = time.monotonic() - killed
        time.sleep(max(0.0, after - (time.monotonic() - killed)))
        victim.start()
        restarted = time.monotonic()
        wait_until(lambda: all(replicas_all_active(n, COLLECTION) for n in survivors), 60,
                   "all Active again", interval=0.05)
        active_s = time.monotonic() - restarted
        victim.wait_ready(60)
        writer.stop.set()
        writer.join(30)
        stall = writer.longest_gap(killed)
        acked = [i for _, ids in writer.acked for i in ids]
        lost = 0
        for node in nodes:
            found = set()
            for start in range(0, len(acked), 1000):
                chunk = acked[start:start + 1000]
                resp = node.http.post(f"/collections/{COLLECTION}/points",
                                      params={"consistency": "all"},
                                      json={"ids": chunk, "with_payload": False})
                found.update(p["id"] for p in resp.json()["result"])
            missing = set(acked) - found
            lost += len(missing)
            if missing:  # when they were acknowledged, relative to the kill
                when = {i: t for t, ids in writer.acked for i in ids}
                ts = sorted(when[i] - killed for i in missing)
                print(f"    {node.url}: {len(missing)} missing, acked {ts[0]:.2f}..{ts[-1]:.2f} s "
                      f"after the kill; victim? {node is victim}", flush=True)
        return {"stall": stall, "leader": leader_s, "dead": dead_s, "active": active_s,
                "lost": lost, "acked": len(acked), "failed": writer.failed}
    finally:
        for node in nodes:
            try:
                node.kill()
            except Exception:
                pass



def _summary(kind: str, rounds: list[dict]) -> str:
    def col(key: str) -> str:
        values = [r[key] for r in rounds]
        return f"{key} median {statistics.median(values):.2f} s (max {max(values):.2f})"

    lost = sum(r["lost"] for r in rounds)
    acked = sum(r["acked"] for r in rounds)
    failed = sum(r["failed"] for r in rounds)
    parts = [col("stall"), col("dead"), col("active")]
    if kind == "leader":
        parts.insert(1, col("leader"))
    return (f"{kind} kill, {len(rounds)} rounds: " + "; ".join(parts)
            + f"; {acked} points acknowledged, {lost} lost, {failed} failed batches")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--victim", choices=("leader", "follower", "both"), default="both")
    p.add_argument("--kill-at", type=float, default=4.0, help="seconds of writes before the kill")
    p.add_argument("--down", type=float, default=3.0, help="seconds the victim stays down")
    p.add_argument("--prefill", type=int, default=0,
                   help="points loaded before the writer starts (the data a restart keeps)")
    args = p.parse_args(argv)
    kinds = ("leader", "follower") if args.victim == "both" else (args.victim,)
    lost = 0
    for kind in kinds:
        rounds = []
        for number in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="tessera-failover-") as tmp:
                result = one_round(Path(tmp), kind, args.kill_at, args.down, args.prefill)
            print(f"  {kind} round {number + 1}: " + ", ".join(
                f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()),
                flush=True)
            rounds.append(result)
            lost += result["lost"]
        print(_summary(kind, rounds), flush=True)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
