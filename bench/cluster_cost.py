"""The cluster's own cost: the same data and queries on one node with 3 local shards and on 3
nodes (3 shards, replication factor 1 and 2), all on this box, in one run.

Every node shares the box's cores, so this measures what fan-out costs (the extra hop, a
shard's answer encoded and decoded, the merge), not scale-out. Setups alternate over rounds
(each round starts fresh nodes, uploads, waits for green, then searches through node 0 alone
and round-robin over every node); medians of rounds and ratios against the single node of the
same run are printed. CPU (utime + stime of every node's process group) per query, less what
the node uses idle, says what one request costs the nodes, for the projection to larger
clusters.

    python bench/cluster_cost.py --dataset /work/shared/datasets/minilm-75k \
        [--points N] [--rounds 3] [--clients 8] [--duration 5] [--json out.json] \
        [--other-code /path/to/another/checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data import Dataset, load_dir, recall_at  # noqa: E402
from loadgen import AsyncHttpQueryTarget, measure, warm  # noqa: E402
from ours import query_bodies  # noqa: E402

from tests.support.cluster import replicas_all_active, start_cluster, wait_until  # noqa: E402
from tests.support.node import Node  # noqa: E402

COLLECTION = "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Setup:
    """One way of holding the collection: how many nodes, shards and copies of each."""

    name: str
    nodes: int
    shards: int
    rf: int
    code: str | None = None  # the nodes run the checkout here (default: this one)


SETUPS = [Setup("1 node x 3 shards", 1, 3, 1), Setup("3 nodes x 3 shards RF1", 3, 3, 1),
          Setup("3 nodes x 3 shards RF2", 3, 3, 2)]


class RoundRobinTarget(AsyncHttpQueryTarget):
    """Clients spread over several nodes: client c talks to node c mod N (a load balancer's
    round-robin over connections)."""

    def __init__(self, urls: list[str], path: str, bodies: list[bytes], name: str) -> None:
        super().__init__(urls[0], path, bodies, name)
        self.addresses = [(httpx.URL(u).host, httpx.URL(u).port) for u in urls]

    def address(self, client: int) -> tuple[str, int]:
        return self.addresses[client % len(self.addresses)]


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process in process group ``pgid`` (a node and any child)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if int(fields[2]) == pgid:  # field 5 of stat: pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def start_nodes(root: Path, setup: Setup) -> list[Node]:
    env = {"PYTHONPATH": setup.code} if setup.code else None
    if setup.nodes == 1:
        node = Node(root / "single", env=env)
        node.start().wait_ready(60)
        return [node]
    return start_cluster(root, setup.nodes, extra_env=env)


def create(node: Node, ds: Dataset, setup: Setup) -> None:
    body: dict[str, Any] = {
        "vectors": {"size": ds.dim, "distance": "Cosine"},
        "shard_number": setup.shards,
        "hnsw_config": {"m": 16, "ef_construct": 100},
    }
    if setup.nodes > 1:
        body.update(replication_factor=setup.rf, write_consistency_factor=1)
    resp = node.http.put(f"/collections/{COLLECTION}", json=body, timeout=60)
    resp.raise_for_status()


def upload(node: Node, ds: Dataset) -> float:
    """qdrant-client upload_collection (REST, parallel 2, batch 256, wait): seconds taken."""
    client = node.client()
    t0 = time.perf_counter()
    client.upload_collection(COLLECTION, vectors=ds.base, ids=range(ds.n), batch_size=256,
                             parallel=2, wait=True)
    took = time.perf_counter() - t0
    client.close()
    return took


def wait_green(nodes: list[Node], n: int, clustered: bool, timeout: float = 600) -> float:
    """Seconds until every node reports the collection green with all ``n`` points (and, in a
    cluster, every replica Active)."""
    t0 = time.perf_counter()

    def green() -> bool:
        for node in nodes:
            info = httpx.get(f"{node.url}/collections/{COLLECTION}", timeout=10).json()["result"]
            if info.get("status") != "green" or info.get("points_count") != n:
                return False
            if clustered and not replicas_all_active(node, COLLECTION):
                return False
        return True

    wait_until(green, timeout, "green on every node", interval=0.25)
    return time.perf_counter() - t0


@dataclass
class Measured:
    """One setup's figures in one round."""

    upload_s: float = 0.0
    green_s: float = 0.0
    idle_cpu: list[float] = field(default_factory=list)  # CPU s/s per node, no load
    modes: dict[str, dict[str, float]] = field(default_factory=dict)


def idle_cpu(nodes: list[Node], seconds: float = 2.0) -> list[float]:
    """CPU seconds per second each node uses with no request (Raft ticks, keep-alive pings,
    the optimizer's look): what a load window's CPU counts besides its queries."""
    before = [group_cpu_seconds(n.proc.pid) for n in nodes]
    time.sleep(seconds)
    return [(group_cpu_seconds(n.proc.pid) - b) / seconds for n, b in zip(nodes, before,
                                                                           strict=True)]


def search(nodes: list[Node], ds: Dataset, mode: str, args: argparse.Namespace,
           idle: list[float]) -> dict:
    """QPS, p50, p99, recall@10 and node CPU per query of one load window (``idle``: each
    node's CPU per second without load, taken off)."""
    bodies = query_bodies(ds, args.ef, None)
    path = f"/collections/{COLLECTION}/points/query"
    urls = [nodes[0].url] if mode == "node0" else [n.url for n in nodes]
    target = RoundRobinTarget(urls, path, bodies, mode)
    warm(target, args.clients, args.warmup)
    pgids = [n.proc.pid for n in nodes]
    cpu0 = [group_cpu_seconds(p) for p in pgids]
    t0 = time.perf_counter()
    cell = measure(target, args.clients, args.duration)
    took = time.perf_counter() - t0
    cpu = [group_cpu_seconds(p) - c - i * took for p, c, i in zip(pgids, cpu0, idle,
                                                                   strict=True)]
    answered, found = target.found_ids(max_seconds=20)
    recall = recall_at(found, ds.gt[answered], 10)
    per_query_ms = [1000 * c / max(1, cell.requests) for c in cpu]
    return {"qps": cell.qps, "p50": cell.p50_ms, "p99": cell.p99_ms, "recall": recall,
            "errors": cell.errors, "requests": cell.requests,
            "cpu_ms_per_query": sum(per_query_ms), "cpu_ms_per_query_node": per_query_ms}


def one_setup(root: Path, ds: Dataset, setup: Setup, args: argparse.Namespace) -> Measured:
    nodes = start_nodes(root, setup)
    try:
        create(nodes[0], ds, setup)
        out = Measured()
        out.upload_s = upload(nodes[0], ds)
        out.green_s = wait_green(nodes, ds.n, setup.nodes > 1)
        out.idle_cpu = idle_cpu(nodes)
        modes = ["node0"] if setup.nodes == 1 else ["node0", "round-robin"]
        for mode in modes:
            out.modes[mode] = search(nodes, ds, mode, args, out.idle_cpu)
        return out
    finally:
        for node in nodes:
            node.close_clients()
            node.kill()


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(ds: Dataset, rounds: list[dict[str, Measured]], setups: list[Setup]) -> dict:
    """Medians of rounds per (setup, mode), and per-round ratios against the single node."""
    single = setups[0].name
    rows = []
    for setup in setups:
        mine = [r[setup.name] for r in rounds]
        upload_ratio = med([ds.n / m.upload_s / (ds.n / r[single].upload_s)
                            for m, r in zip(mine, rounds, strict=True)])
        for mode in mine[0].modes:
            cells = [m.modes[mode] for m in mine]
            base = [r[single].modes["node0"] for r in rounds]
            row = {"setup": setup.name, "mode": mode,
                   "upload_pps": med([ds.n / m.upload_s for m in mine]),
                   "green_s": med([m.green_s for m in mine]), "upload_ratio": upload_ratio}
            for key in ("qps", "p50", "p99", "recall", "cpu_ms_per_query"):
                row[key] = med([c[key] for c in cells])
            row["qps_ratio"] = med([c["qps"] / b["qps"] for c, b in zip(cells, base, strict=True)])
            row["p99_ratio"] = med([c["p99"] / b["p99"] for c, b in zip(cells, base, strict=True)])
            row["cpu_node"] = [med([c["cpu_ms_per_query_node"][i] for c in cells])
                               for i in range(len(cells[0]["cpu_ms_per_query_node"]))]
            rows.append(row)
    return {"rows": rows}


def print_table(summary: dict) -> None:
    print("\n| setup | through | upload pts/s | × 1 node | QPS | × 1 node | p50 ms | p99 ms "
          "| × 1 node | recall@10 | node CPU ms/query (per node) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in summary["rows"]:
        per = " + ".join(f"{c:.2f}" for c in r["cpu_node"])
        print(f"| {r['setup']} | {r['mode']} | {r['upload_pps']:,.0f} | {r['upload_ratio']:.2f} "
              f"| {r['qps']:,.0f} | {r['qps_ratio']:.2f} | {r['p50']:.2f} | {r['p99']:.2f} "
              f"| {r['p99_ratio']:.2f} | {r['recall']:.3f} | {r['cpu_ms_per_query']:.2f} "
              f"({per}) |")
    print("\nTargets (ratios are medians of per-round ratios):")
    for r in summary["rows"][1:]:
        qps_ok = "met" if r["qps_ratio"] >= 0.8 else "MISSED"
        p99_ok = "met" if r["p99_ratio"] <= 2.0 else "MISSED"
        print(f"- {r['setup']} via {r['mode']}: QPS {r['qps_ratio']:.2f}x (>= 0.8x: {qps_ok}); "
              f"p99 {r['p99_ratio']:.2f}x (<= 2x: {p99_ok})")
    rf2 = next(r for r in summary["rows"] if r["setup"] == SETUPS[2].name)
    up_ok = "met" if rf2["upload_ratio"] >= 0.6 else "MISSED"
    print(f"- upload RF2 write_consistency_factor 1: {rf2['upload_ratio']:.2f}x one node "
          f"(>= 0.6x: {up_ok})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", type=Path, default=Path("/work/shared/datasets/minilm-75k"))
    p.add_argument("--points", type=int, default=None, help="first N points (default: all)")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--duration", type=float, default=5.0, help="seconds of each load window")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--ef", type=int, default=64)
    p.add_argument("--json", type=Path, default=None, help="write every round's figures here")
    p.add_argument("--other-code", default=None,
                   help="also measure 3 nodes x 3 shards RF1 running the checkout at this path "
                        "(a before/after pair in one run)")
    args = p.parse_args(argv)
    setups = list(SETUPS)
    if args.other_code:
        setups.append(Setup(f"3 nodes x 3 shards RF1 [{args.other_code}]", 3, 3, 1,
                            args.other_code))
    started = time.perf_counter()
    ds = load_dir(args.dataset, args.points, args.queries)
    print(f"{ds.name}: {ds.n} points x {ds.dim}, {len(ds.queries)} queries; "
          f"{args.clients} clients, {args.duration:.0f} s windows, hnsw_ef {args.ef}", flush=True)
    rounds: list[dict[str, Measured]] = []
    for r in range(args.rounds):
        order = setups[r % len(setups):] + setups[:r % len(setups)]  # alternate who goes first
        got: dict[str, Measured] = {}
        for setup in order:
            with tempfile.TemporaryDirectory(prefix="cluster-cost-") as tmp:
                m = one_setup(Path(tmp), ds, setup, args)
            got[setup.name] = m
            figures = "; ".join(f"{mode} {c['qps']:,.0f} QPS p99 {c['p99']:.1f} ms "
                                f"recall {c['recall']:.3f} cpu {c['cpu_ms_per_query']:.2f} ms/q"
                                for mode, c in m.modes.items())
            idle = "+".join(f"{1000 * c:.0f}" for c in m.idle_cpu)
            print(f"  round {r + 1} {setup.name}: upload {ds.n / m.upload_s:,.0f} pts/s, "
                  f"green +{m.green_s:.1f} s, idle CPU {idle} ms/s; {figures}", flush=True)
        rounds.append(got)
    summary = summarize(ds, rounds, setups)
    print_table(summary)
    print(f"\nwhole run {time.perf_counter() - started:.0f} s")
    if args.json:
        raw = [{k: {"upload_s": m.upload_s, "green_s": m.green_s, "idle_cpu": m.idle_cpu,
                    "modes": m.modes}
                for k, m in got.items()} for got in rounds]
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "rounds": raw, **summary}, indent=1))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
