"""Upload time of one or more source trees, taken in turns: a node started from each tree takes
the same points through qdrant-client's upload_collection (batches of 256, wait=true), a few
times each, and the median is printed. For comparing two commits' write paths:

    git worktree add /tmp/old <commit>
    python bench/upload.py /tmp/old . --dataset /path/to/minilm-75k --points 30000 --pairs 2
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def one_tree(tree: Path, vectors: np.ndarray, rounds: int) -> list[float]:
    """Start a node from ``tree`` (its own code, via the tree's test support) and time uploads."""
    sys.path.insert(0, str(tree))
    try:
        from qdrant_client import QdrantClient, models

        from tests.support.node import Node
    finally:
        sys.path.pop(0)
    times = []
    with tempfile.TemporaryDirectory(prefix="tessera-upload-") as tmp:
        node = Node(Path(tmp)).start().wait_ready()
        try:
            client = QdrantClient(url=node.url, check_compatibility=False)
            params = models.VectorParams(size=vectors.shape[1], distance=models.Distance.COSINE)
            for number in range(rounds):
                name = f"upload{number}"
                client.create_collection(name, vectors_config=params)
                started = time.perf_counter()
                client.upload_collection(name, vectors=vectors, ids=range(len(vectors)),
                                         batch_size=256, parallel=1, wait=True)
                times.append(time.perf_counter() - started)
                client.delete_collection(name)
        finally:
            node.stop()
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("trees", nargs="+", type=Path, help="source trees (checkouts) to compare")
    p.add_argument("--dataset", type=Path, help="minilm-75k layout (default: random vectors)")
    p.add_argument("--points", type=int, default=30000)
    p.add_argument("--rounds", type=int, default=3, help="uploads per node")
    p.add_argument("--pairs", type=int, default=2, help="turns through all trees")
    args = p.parse_args(argv)
    if args.dataset is not None:
        vectors = np.load(args.dataset / "base.f16.npy")[: args.points].astype(np.float32)
    else:
        vectors = np.random.default_rng(0).normal(size=(args.points, 384)).astype(np.float32)
    medians: dict[Path, list[float]] = {tree: [] for tree in args.trees}
    for turn in range(args.pairs):
        order = args.trees if turn % 2 == 0 else list(reversed(args.trees))
        for tree in order:
            # a fresh interpreter per tree, so each imports its own code
            code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                    f"import upload, numpy as np; from pathlib import Path; "
                    f"v = np.load(sys.argv[1]); "
                    f"print(*upload.one_tree(Path({str(tree.resolve())!r}), v, {args.rounds}))")
            with tempfile.NamedTemporaryFile(suffix=".npy") as data:
                np.save(data.name, vectors)
                out = subprocess.run([sys.executable, "-c", code, data.name], check=True,
                                     capture_output=True, text=True).stdout.split()
            times = [float(x) for x in out]
            medians[tree].append(statistics.median(times))
            print(f"{tree}: uploads {', '.join(f'{t:.2f}' for t in times)} s", flush=True)
    for tree, values in medians.items():
        median = statistics.median(values)
        print(f"{tree}: median of medians {median:.2f} s = {len(vectors) / median:,.0f} points/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
