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
import dataclasses
import importlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Seconds between looks: each thread's CPU clock is cumulative, so only stacks (--stacks)
#: and threads shorter-lived than this need it small.
SAMPLE_S = 0.02
STACKS_ENV = "TESSERA_PROFILE_STACKS"
#: Written beside the node's storage directory (in its working directory).
PROFILE_FILE = "profile.json"
#: Blocking stages of a search timed exactly (thread CPU per call): (module, attribute path).
#: They nest (a peer call's dumps is inside call_future), so they are not to be summed.
STAGES = [
    ("node.wire", "dumps"), ("node.wire", "loads"),
    ("router.collection.search_plan", "build_requests"),
    ("router.collection.search_plan", "merge_results"),
    ("router.collection.remote_replica", "PeerChannels.call_future"),
    ("router.collection.remote_replica", "_result"),
    ("node.shard_search", "ShardSearch.search"), ("node.shard_search", "ShardSearch.search_now"),
]
stage_cpu: Counter[str] = Counter()
stage_calls: Counter[str] = Counter()
thread_cpu: Counter[str] = Counter()


def time_stages() -> None:
    """Wrap each of STAGES so that its calls' thread CPU adds up in ``stage_cpu``."""
    for module, path in STAGES:
        owner = importlib.import_module(module)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        setattr(owner, name, _timed(getattr(owner, name), f"{module}:{path}"))


def _timed(fn, label: str):
    def timed(*args, **kwargs):
        t = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            stage_cpu[label] += time.thread_time() - t
            stage_calls[label] += 1
    return timed


def _key(code) -> str:
    name = code.co_filename
    for root in ("/site-packages/", "/work/"):
        if root in name:
            name = name.split(root, 1)[1]
    return f"{name}:{code.co_name}"


def sampler(out: Path, stacks: bool) -> None:
    """Charge each Python thread's CPU since the last look to its name, and with ``stacks`` to
    its current stack (biased: a short call finished between looks is charged to where the
    thread is at the next look, often an idle loop)."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    last: dict[int, float] = {}
    me = threading.get_ident()
    names = {}
    wrote = time.monotonic()
    while True:
        time.sleep(SAMPLE_S / 5 if stacks else SAMPLE_S)
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
            thread = threading._active.get(ident)  # looked up each time: idents are reused
            name = thread.name if thread else "?"
            if name not in names:
                names[name] = re.sub(r"[-_]?\d+", "", name)
            thread_cpu[names[name]] += used
            if not stacks:
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
                   "inclusive": dict(inclusive), "leaf": dict(leaf), "threads": dict(thread_cpu),
                   "stages": dict(stage_cpu), "stage_calls": dict(stage_calls)}
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc))
            tmp.replace(out)


def serve(argv: list[str]) -> int:
    # what `tessera serve` sets before FAISS and numpy load, set before the stages import them
    # (else OpenMP threads spin and OpenBLAS runs two threads: 3x the CPU per query)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    out = Path(os.environ["QDRANT__STORAGE__STORAGE_PATH"]).parent / PROFILE_FILE
    time_stages()
    stacks = os.environ.get(STACKS_ENV) == "1"
    threading.Thread(target=sampler, args=(out, stacks), daemon=True,
                     name="profile-sampler").start()
    from tessera.cli import main as tessera_main

    return tessera_main(["serve", *argv])


def diff(a: dict, b: dict) -> dict:
    """Counters of snapshot ``b`` minus those of ``a``."""
    out = {"process_cpu": b["process_cpu"] - a["process_cpu"]}
    for part in ("inclusive", "leaf", "threads", "stages", "stage_calls"):
        out[part] = {k: v - a[part].get(k, 0.0) for k, v in b[part].items()
                     if v - a[part].get(k, 0.0) > 0}
    return out


def snapshot(path: Path) -> dict:
    time.sleep(1.3)  # the sampler writes every second
    return json.loads(path.read_text())


def drive(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    from cluster_cost import SETUPS, RoundRobinTarget, create, start_nodes, upload, wait_green
    from data import load_dir
    from loadgen import measure, warm
    from ours import query_bodies

    setup = dataclasses.replace(SETUPS[args.setup], code=args.code)  # default: RF1, 3 nodes
    ds = load_dir(args.dataset, args.points, args.queries)
    with tempfile.TemporaryDirectory(prefix="peer-profile-") as tmp:
        root = Path(tmp)
        os.environ["TESSERA_E2E_SERVER_CMD"] = f"{sys.executable} {HERE / 'peer_profile.py'} serve"
        os.environ[STACKS_ENV] = "1" if args.stacks else "0"
        nodes = []
        try:
            nodes = start_nodes(root, setup)
            outs = [node.workdir / PROFILE_FILE for node in nodes]
            create(nodes[0], ds, setup)
            upload(nodes[0], ds)
            wait_green(nodes, ds.n, setup.nodes > 1)
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
        py = sum(node["threads"].values())
        print(f"\nnode {i}: process {1000 * node['process_cpu'] / n:.3f} ms/query, Python "
              f"threads {1000 * py / n:.3f} ms/query (the rest: C threads - gRPC core, OpenMP - "
              "threads that lived < 20 ms, the sampler)")
        print("  stages (exact thread CPU; nested, do not add up):")
        for k, v in sorted(node["stages"].items(), key=lambda kv: -kv[1]):
            calls = node["stage_calls"].get(k, 0)
            print(f"    {1000 * v / n:7.3f} ms/query  {calls / n:5.2f} calls/query  "
                  f"{1e6 * v / max(1, calls):6.1f} us/call  {k}")
        print("  threads (sampled CPU by Python thread name):")
        for k, v in sorted(node["threads"].items(), key=lambda kv: -kv[1]):
            print(f"    {1000 * v / n:7.3f} ms  {k}")
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
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--stacks", action="store_true", help="also sample stacks (costs CPU)")
    p.add_argument("--setup", type=int, default=1, help="index in cluster_cost.SETUPS")
    p.add_argument("--code", default=None, help="the nodes run the checkout at this path")
    p.add_argument("--out", type=Path, default=Path("peer-profile.json"))
    return drive(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
