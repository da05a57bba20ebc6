"""REST query throughput of two source trees, side by side: a node started from each tree holds
the same points, and the two take turns in timed windows (bench/paired.py), so both see the same
machine. For checking that a change to the request path costs nothing measurable:

    git archive <base commit> | tar -x -C /tmp/base
    python bench/trees_query.py /tmp/base . --dataset /path/to/minilm-75k --points 20000

Each node runs ``python -m tessera serve`` with its tree first on PYTHONPATH (and is checked to
have imported from there); the load is bench/loadgen.py's asyncio client, pre-encoded
``POST /collections/bench/points/query`` bodies (limit 10, hnsw_ef as given, no filter).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import load_dir, synthetic  # noqa: E402
from loadgen import AsyncHttpQueryTarget  # noqa: E402
from paired import describe, measure_pair  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CountedTarget(AsyncHttpQueryTarget):
    """The load of one node, also noting the node's CPU time per answered query in each
    window: a figure that other tenants of the machine disturb far less than QPS."""

    def __init__(self, pid: int, *args) -> None:
        super().__init__(*args)
        self.pid = pid
        self.cpu_per_query: list[float] = []

    def run_window(self, clients: int, duration: float, offset: int = 0) -> tuple:
        before = cpu_seconds(self.pid)
        qps, latencies, errors, first_error = super().run_window(clients, duration, offset)
        if latencies:
            self.cpu_per_query.append((cpu_seconds(self.pid) - before) / len(latencies))
        return qps, latencies, errors, first_error


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TreeNode:
    """A node of one source tree, in a temp directory of its own."""

    def __init__(self, tree: Path) -> None:
        self.tree = tree.resolve()
        self.tmp = tempfile.TemporaryDirectory(prefix="tessera-trees-")
        self.port = _free_port()
        env = dict(os.environ, PYTHONPATH=str(self.tree),
                   QDRANT__SERVICE__HTTP_PORT=str(self.port),
                   QDRANT__SERVICE__GRPC_PORT=str(_free_port()),
                   QDRANT__STORAGE__STORAGE_PATH=str(Path(self.tmp.name) / "storage"),
                   QDRANT__LOG_LEVEL="WARNING")
        self.log = open(Path(self.tmp.name) / "node.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "tessera", "serve"], env=env,
                                     cwd=self.tmp.name, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"node of {tree} did not start")
            time.sleep(0.1)
        where = subprocess.run(
            [sys.executable, "-c", "import tessera; print(tessera.__file__)"],
            env={**os.environ, "PYTHONPATH": str(self.tree)}, cwd=self.tmp.name,
            capture_output=True, text=True,
        ).stdout.strip()
        assert where.startswith(str(self.tree)), (tree, where)

    def load(self, vectors: np.ndarray) -> None:
        with httpx.Client(base_url=self.url, timeout=300) as http:
            http.put("/collections/bench", json={
                "vectors": {"size": int(vectors.shape[1]), "distance": "Cosine"},
                "hnsw_config": {"m": 16, "ef_construct": 100}}).raise_for_status()
            for start in range(0, len(vectors), 1000):
                rows = vectors[start:start + 1000]
                body = {"batch": {"ids": list(range(start, start + len(rows))),
                                  "vectors": rows}}
                http.put("/collections/bench/points?wait=true",
                         content=orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                         headers={"content-type": "application/json"}).raise_for_status()
            while http.get("/collections/bench").json()["result"]["status"] != "green":
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        self.tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("trees", nargs=2, type=Path, help="A and B (B: the baseline)")
    p.add_argument("--dataset", type=Path, help="minilm-75k layout (default: synthetic)")
    p.add_argument("--points", type=int, default=20000)
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--ef", type=int, default=64)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--window", type=float, default=2.0)
    args = p.parse_args(argv)
    if args.dataset:
        ds = load_dir(args.dataset, args.points, args.queries)
    else:
        ds = synthetic(args.points, 384, args.queries)
    bodies = [orjson.dumps({"query": q, "limit": 10, "params": {"hnsw_ef": args.ef}},
                           option=orjson.OPT_SERIALIZE_NUMPY) for q in ds.queries]
    nodes = []
    try:
        for tree in args.trees:
            node = TreeNode(tree)
            nodes.append(node)
            node.load(ds.base)
            print(f"{tree}: node at {node.url}, {ds.n} points, green", flush=True)
        a, b = (CountedTarget(n.proc.pid, n.url, "/collections/bench/points/query", bodies)
                for n in nodes)
        pair = measure_pair("REST unfiltered", str(args.trees[0]), a, str(args.trees[1]), b,
                            args.clients, args.window, args.rounds, warmup_s=2.0)
        print("A QPS per window:", ", ".join(f"{q:,.0f}" for q in pair.a_qps))
        print("B QPS per window:", ", ".join(f"{q:,.0f}" for q in pair.b_qps))
        print("ratios A/B:", ", ".join(f"{r:.3f}" for r in pair.ratios))
        print(describe(pair))
        # the warm-up window is the first of each list
        cpu_a, cpu_b = a.cpu_per_query[1:], b.cpu_per_query[1:]
        print("A node CPU µs/query:", ", ".join(f"{c * 1e6:.0f}" for c in cpu_a))
        print("B node CPU µs/query:", ", ".join(f"{c * 1e6:.0f}" for c in cpu_b))
        ratios = [x / y for x, y in zip(cpu_a, cpu_b, strict=True)]
        print(f"node CPU per query, A/B: median {statistics.median(ratios):.3f} "
              f"(A {statistics.median(cpu_a) * 1e6:.0f} µs, B {statistics.median(cpu_b) * 1e6:.0f} "
              f"µs; medians over {len(ratios)} windows)")
    finally:
        for node in nodes:
            node.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
