"""Where a clustered search's CPU goes: a CPU-weighted stack sampler inside each node.

py-spy is not on this box and cProfile sees one thread, while a node's search crosses the
REST loop, the gRPC loop and worker threads. So ``serve`` runs ``tessera serve`` with a thread
that, every few milliseconds, reads each Python thread's CPU clock and charges what it used
since the last look to the stack that thread is in now (inclusive per function, and self per
leaf). CPU of threads that are not Python's (gRPC's C core) is what the process used beyond
them. Counters go to ``profile.json`` in the node's directory every second; the driver diffs
two snapshots around a load window.

    python bench/peer_profile.py --dataset /work/shared/datasets/minilm-75k --points 30000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE_S = 0.004
#: Written beside the node's storage directory (in its working directory).
PROFILE_FILE = "profile.json"


def _key(code) -> str:
    name = code.co_filename
    for root in ("/site-packages/", "/work/"):
        if root in name:
            name = name.split(root, 1)[1]
    return f"{name}:{code.co_name}"


def sampler(out: Path) -> None:
    """Charge each Python thread's CPU since the last look to its current stack."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    last: dict[int, float] = {}
    me = threading.get_ident()
    wrote = time.monotonic()
    while True:
        time.sleep(SAMPLE_S)
        for ident, frame in sys._current_frames().items():
            if ident == me:
                continue
            try:
                now = time.clock_gettime(time.pthread_getcpuclockid(ident))
            except OSError:
                continue
            used = now - last.get(ident, now)
            last[ident] = now
            if used <= 0:
                continue
            leaf[_key(frame.f_code)] += used
            seen = set()
            while frame is not None:
                key = _key(frame.f_code)
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += used
                frame = frame.f_back
        if time.monotonic() - wrote > 1.0:
            wrote = time.monotonic()
            times = os.times()
            doc = {"process_cpu": times.user + times.system,
                   "inclusive": dict(inclusive), "leaf": dict(leaf)}
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc))
            tmp.replace(out)


def serve(argv: list[str]) -> int:
    out = Path(os.environ["QDRANT__STORAGE__STORAGE_PATH"]).parent / PROFILE_FILE
    threading.Thread(target=sampler, args=(out,), daemon=True, name="profile-sampler").start()
    from tessera.cli import main as tessera_main

    return tessera_main(["serve", *argv])


def diff(a: dict, b: dict) -> dict:
    """Counters of snapshot ``b`` minus those of ``a``."""
    out = {"process_cpu": b["process_cpu"] - a["process_cpu"]}
    for part in ("inclusive", "leaf"):
        out[part] = {k: v - a[part].get(k, 0.0) for k, v in b[part].items()
                     if v - a[part].get(k, 0.0) > 0}
    return out


def snapshot(path: Path) -> dict:
    time.sleep(1.3)  # the sampler writes every second
    return json.loads(path.read_text())


def drive(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    from cluster_cost import SETUPS, RoundRobinTarget, create, upload, wait_green
    from data import load_dir
    from loadgen import measure, warm
    from ours import query_bodies

    from tests.support.cluster import start_cluster

    setup = SETUPS[1]  # 3 nodes x 3 shards RF1
    ds = load_dir(args.dataset, args.points, args.queries)
    with tempfile.TemporaryDirectory(prefix="peer-profile-") as tmp:
        root = Path(tmp)
        os.environ["TESSERA_E2E_SERVER_CMD"] = f"{sys.executable} {HERE / 'peer_profile.py'} serve"
        nodes = []
        try:
            nodes = start_cluster(root, setup.nodes)
            outs = [node.workdir / PROFILE_FILE for node in nodes]
            create(nodes[0], ds, setup)
            upload(nodes[0], ds)
            wait_green(nodes, ds.n, True)
            target = RoundRobinTarget([nodes[0].url], "/collections/bench/points/query",
                                      query_bodies(ds, args.ef, None), "node0")
            warm(target, args.clients, 1.0)
            before = [snapshot(o) for o in outs]
            cell = measure(target, args.clients, args.duration)
            after = [snapshot(o) for o in outs]
            result = {"qps": cell.qps, "requests": cell.requests, "p99": cell.p99_ms,
                      "nodes": [diff(a, b) for a, b in zip(before, after, strict=True)]}
            args.out.write_text(json.dumps(result, indent=1))
            report(result, args.top)
        finally:
            for node in nodes:
                node.kill()
    return 0


def report(result: dict, top: int) -> None:
    n = max(1, result["requests"])
    print(f"{result['requests']} queries, {result['qps']:.0f} QPS, p99 {result['p99']:.1f} ms")
    for i, node in enumerate(result["nodes"]):
        py = sum(node["leaf"].values())
        print(f"\nnode {i}: process {1000 * node['process_cpu'] / n:.3f} ms/query, Python "
              f"threads {1000 * py / n:.3f} ms/query (the rest: gRPC core, sampler excluded)")
        print("  inclusive:")
        for k, v in sorted(node["inclusive"].items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {1000 * v / n:7.3f} ms  {k}")
        print("  self:")
        for k, v in sorted(node["leaf"].items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {1000 * v / n:7.3f} ms  {k}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", type=Path, default=Path("/work/shared/datasets/minilm-75k"))
    p.add_argument("--points", type=int, default=30_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--ef", type=int, default=64)
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--out", type=Path, default=Path("peer-profile.json"))
    return drive(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
