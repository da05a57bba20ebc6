"""The node's memory as a qdrant-client user pays it (issue 26), and where it goes.

Each round starts a fresh node, reads its VmRSS once it is idle, creates the collection (Cosine,
the bench's two keyword payload indexes), loads the set with qdrant-client ``upload_collection``
(gRPC, parallel 2, batch 512, wait=true, the bench's small payload), waits for green and reads
VmRSS again once it has settled: (loaded − empty) / points is the figure a user sees.

To say where those bytes go, the same round then restarts the node on the same storage and reads
VmRSS after it has loaded the collection back: that is the data structures alone (vectors, graph,
payloads, id map, indexes), with none of the garbage the load left behind. The difference between
the two is what the request path and the optimizer left in the allocator (freed but resident
heap, arenas of the threads that served the load). ``--variants`` adds rounds under other
conditions so the difference can be taken apart:

- ``grpc``: the user's procedure above (always measured);
- ``rest``: the same load over REST (batch 512);
- ``arenas2``: gRPC, with ``MALLOC_ARENA_MAX=2`` in the node's environment (fewer glibc arenas:
  what the per-thread arenas cost);
- ``sysmalloc``: gRPC, with ``PYTHONMALLOC=malloc`` (Python's small objects from glibc instead of
  pymalloc's arenas, which go back to the OS only when wholly empty: what their fragmentation
  costs).

Rounds of the variants alternate; the median of the rounds is printed per variant.

    python bench/memory.py --dataset /path/to/minilm-75k [--rounds 3] [--variants grpc,rest]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import data as data_mod  # noqa: E402
from ours import FILTER_FIELDS, rss_bytes  # noqa: E402

from tests.support.node import Node  # noqa: E402

COLLECTION = "memory"
VARIANTS = {
    "grpc": {"grpc": True, "env": {}},
    "rest": {"grpc": False, "env": {}},
    "arenas2": {"grpc": True, "env": {"MALLOC_ARENA_MAX": "2"}},
    "sysmalloc": {"grpc": True, "env": {"PYTHONMALLOC": "malloc"}},
}


def settled_rss(pid: int, quiet_s: float = 2.0, timeout: float = 30.0) -> int:
    """VmRSS once it has stopped moving by more than 1 MiB over ``quiet_s`` (or at the timeout):
    a reading taken while the optimizer frees its last buffers would be noise."""
    deadline = time.monotonic() + timeout
    last = rss_bytes(pid) or 0
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = rss_bytes(pid) or 0
        if abs(now - last) < 2**20:
            return now
        last = now
    return last


def smaps(pid: int) -> dict[str, int]:
    """Anonymous and file-backed resident bytes (``/proc/PID/smaps_rollup``)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 3 and parts[0] in ("Rss:", "Anonymous:", "Shared_Clean:",
                                                    "Private_Clean:", "Private_Dirty:"):
                    out[parts[0].rstrip(":").lower()] = int(parts[1]) * 1024
    except OSError:
        pass
    return out


def wait_green(url: str, n: int, timeout: float = 900.0) -> float:
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=30) as http:
        while time.perf_counter() - started < timeout:
            info = http.get(f"/collections/{COLLECTION}").json().get("result") or {}
            # green: no optimization is due, so every graph (and value graph) is built
            if info.get("status") == "green" and info.get("points_count") == n:
                return time.perf_counter() - started
            time.sleep(0.2)
    raise TimeoutError(f"collection not green after {timeout:.0f} s")


def one_round(ds: data_mod.Dataset, payloads: list[dict], variant: str) -> dict[str, Any]:
    from qdrant_client import QdrantClient, models

    spec = VARIANTS[variant]
    with tempfile.TemporaryDirectory(prefix="tessera-memory-") as tmp:
        node = Node(Path(tmp) / "node", env=spec["env"]).start().wait_ready(60)
        try:
            empty = settled_rss(node.proc.pid)
            client = QdrantClient(url=node.url, prefer_grpc=spec["grpc"],
                                  grpc_port=node.grpc_port, timeout=300)
            client.create_collection(
                COLLECTION,
                vectors_config=models.VectorParams(size=ds.dim, distance=models.Distance.COSINE),
            )
            for field in FILTER_FIELDS.values():
                client.create_payload_index(COLLECTION, field, "keyword", wait=True)
            started = time.perf_counter()
            client.upload_collection(COLLECTION, vectors=ds.base, payload=payloads,
                                     ids=range(ds.n), batch_size=512, parallel=2, wait=True)
            upload_s = time.perf_counter() - started
            client.close()
            green_s = wait_green(node.url, ds.n)
            loaded = settled_rss(node.proc.pid)
            loaded_maps = smaps(node.proc.pid)
            node.restart(timeout=120)
            wait_green(node.url, ds.n)
            reloaded = settled_rss(node.proc.pid)
            reloaded_maps = smaps(node.proc.pid)
        finally:
            node.stop()
    per_point = (loaded - empty) / ds.n
    data_only = (reloaded - empty) / ds.n  # the same binary and config, restarted
    return {
        "variant": variant,
        "upload_s": round(upload_s, 2),
        "green_s": round(green_s, 2),
        "rss_empty_mib": round(empty / 2**20, 1),
        "rss_loaded_mib": round(loaded / 2**20, 1),
        "rss_reloaded_mib": round(reloaded / 2**20, 1),
        "bytes_per_point": round(per_point),
        "bytes_per_point_after_restart": round(data_only),
        "left_by_the_load_per_point": round(per_point - data_only),
        "smaps_loaded": loaded_maps,
        "smaps_reloaded": reloaded_maps,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", type=Path, help="minilm-75k layout (default: synthetic set)")
    p.add_argument("--limit-points", type=int)
    p.add_argument("--rounds", type=int, default=3, help="rounds per variant")
    p.add_argument("--variants", default="grpc", help=f"comma-separated of {sorted(VARIANTS)}")
    p.add_argument("--json", type=Path, help="also write every round to this file")
    args = p.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if "grpc" not in variants:
        variants.insert(0, "grpc")
    if args.dataset:
        ds = data_mod.load_dir(args.dataset, args.limit_points, 10)
    else:
        ds = data_mod.synthetic(n=args.limit_points or 20_000, nq=10)
    payloads = ds.payloads()
    print(f"[memory] {ds.name}: {ds.n} points × {ds.dim}; variants {variants}, "
          f"{args.rounds} rounds each, alternating", flush=True)
    rounds: list[dict[str, Any]] = []
    for number in range(args.rounds):
        for variant in variants:
            row = one_round(ds, payloads, variant)
            rounds.append(row)
            print(f"[memory] round {number + 1} {variant}: {row['bytes_per_point']:,} B/pt "
                  f"(after restart {row['bytes_per_point_after_restart']:,}; left by the load "
                  f"{row['left_by_the_load_per_point']:,}); empty {row['rss_empty_mib']} MiB, "
                  f"loaded {row['rss_loaded_mib']} MiB; upload {row['upload_s']} s, green "
                  f"{row['green_s']} s later", flush=True)
    print("\n| variant | B/pt (median) | range | after restart | left by the load | upload s |")
    print("|---|---|---|---|---|---|")
    for variant in variants:
        rows = [r for r in rounds if r["variant"] == variant]
        per = [r["bytes_per_point"] for r in rows]
        print(f"| {variant} | {statistics.median(per):,.0f} | {min(per):,}–{max(per):,} | "
              f"{statistics.median(r['bytes_per_point_after_restart'] for r in rows):,.0f} | "
              f"{statistics.median(r['left_by_the_load_per_point'] for r in rows):,.0f} | "
              f"{statistics.median(r['upload_s'] for r in rows):.1f} |")
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
