"""Ingest as a qdrant-client user pays it (issue 26, part 1), source trees taken in turns.

For each tree a node is started from that tree's code, a collection is created and the set is
loaded with ``upload_collection`` (parallel 2, batch 256, a small payload, wait=true) over REST
and over gRPC. Printed per round: points/s acknowledged, the node's CPU per point (utime+stime
of the server process over the upload) and the time to green. The median of the rounds is
printed per tree and mode. ``--no-index`` sets indexing_threshold 0, so the figure is the
request path alone, without the optimizer competing for the cores.

    git worktree add /tmp/base <commit>
    python bench/ingest.py /tmp/base . --dataset ../shared/datasets/minilm-75k --rounds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

_CHILD = "TESSERA_INGEST_CHILD"


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(dataset: Path | None, points: int, modes: list[str], no_index: bool) -> None:
    """One round against a node of the tree on sys.path[0] (run in a fresh interpreter, so
    that the tree's own tests.support starts the tree's own server)."""
    import numpy as np
    from qdrant_client import QdrantClient, models

    from tests.support.node import Node

    if dataset is not None:
        vectors = np.load(dataset / "base.f16.npy")[:points].astype(np.float32)
    else:
        vectors = np.random.default_rng(0).standard_normal((points, 384)).astype(np.float32)
    n = len(vectors)
    payload = [{"f10": str(i % 10), "n": i} for i in range(n)]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tessera-ingest-") as tmp:
        node = Node(Path(tmp)).start().wait_ready()
        try:
            for mode in modes:
                client = QdrantClient(url=node.url, grpc_port=node.grpc_port,
                                      prefer_grpc=mode == "grpc", check_compatibility=False)
                name = f"ingest_{mode}"
                optimizers = models.OptimizersConfigDiff(indexing_threshold=0) if no_index else None
                client.create_collection(name, vectors_config=models.VectorParams(
                    size=vectors.shape[1], distance=models.Distance.COSINE),
                    optimizers_config=optimizers)
                cpu0, started = _cpu_seconds(node.proc.pid), time.perf_counter()
                client.upload_collection(name, vectors=vectors, payload=payload, ids=range(n),
                                         batch_size=256, parallel=2, wait=True)
                upload = time.perf_counter() - started
                cpu = _cpu_seconds(node.proc.pid) - cpu0
                while client.get_collection(name).status != models.CollectionStatus.GREEN:
                    time.sleep(0.2)
                green = time.perf_counter() - started
                print(f"RESULT {mode} {n / upload:.0f} {cpu / n * 1e6:.1f} {green:.2f}", flush=True)
                client.delete_collection(name)
                client.close()
        finally:
            node.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("trees", nargs="+", type=Path)
    p.add_argument("--dataset", type=Path, help="minilm-75k layout (default: random vectors)")
    p.add_argument("--points", type=int, default=75_000)
    p.add_argument("--rounds", type=int, default=2, help="turns through all trees")
    p.add_argument("--modes", default="grpc,rest")
    p.add_argument("--no-index", action="store_true")
    args = p.parse_args(argv)
    if os.environ.get(_CHILD):
        child(args.dataset, args.points, args.modes.split(","), args.no_index)
        return 0
    figures: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for round_ in range(args.rounds):
        for tree in args.trees:
            tree = tree.resolve()
            env = dict(os.environ, **{_CHILD: "1"}, PYTHONPATH=str(tree))
            cmd = [sys.executable, str(Path(__file__).resolve()), str(tree), "--points",
                   str(args.points), "--modes", args.modes]
            if args.dataset is not None:
                cmd += ["--dataset", str(args.dataset.resolve())]
            if args.no_index:
                cmd.append("--no-index")
            out = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True,
                                 check=True).stdout
            for line in out.splitlines():
                if line.startswith("RESULT "):
                    _, mode, rate, cpu, green = line.split()
                    figures.setdefault((str(tree), mode), []).append(
                        (float(rate), float(cpu), float(green)))
                    print(f"round {round_ + 1} {tree} {mode}: {float(rate):,.0f} points/s, "
                          f"{cpu} us CPU a point, green at {green} s", flush=True)
    print("\nmedians:")
    for (tree, mode), rows in figures.items():
        rate, cpu, green = (statistics.median(col) for col in zip(*rows, strict=True))
        print(f"  {tree} {mode}: {rate:,.0f} points/s, {cpu:.0f} us CPU a point, "
              f"green at {green:.1f} s ({len(rows)} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
