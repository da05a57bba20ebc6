"""Quantization figures of one shard: memory of the quantized index against the original vectors,
build time, recall@10 against exact search (rescoring on, oversampling 1 and 2) and time per
query, for scalar int8, product and binary quantization.

    python bench/quantization.py [DATASET_DIR] [--points 20000] [--queries 100]

DATASET_DIR is a directory in the minilm-75k layout (its first --points vectors are used);
without it a synthetic clustered set is generated. Binary quantization is also measured on
±1-like data (random sign patterns around cluster centres), the data it suits.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import data as data_mod  # noqa: E402

from node.shard import LocalShard  # noqa: E402
from node.shard_config import ShardConfig  # noqa: E402
from node.shard_search import SearchRequest  # noqa: E402
from node.vector_input import prepare_column  # noqa: E402

CONFIGS = {
    "scalar int8": {"scalar": {"type": "int8", "always_ram": True}},
    "scalar int8 q0.99": {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}},
    "product x16": {"product": {"compression": "x16", "always_ram": True}},
    "binary": {"binary": {"always_ram": True}},
}


def shard_with(quantization: dict, base: np.ndarray, workdir: Path):
    config = ShardConfig.from_collection({
        "params": {"vectors": {"size": base.shape[1], "distance": "Cosine"}},
        "hnsw_config": {"m": 16, "ef_construct": 64, "full_scan_threshold": 10},
        "optimizer_config": {"indexing_threshold": 1, "default_segment_number": 1},
        "quantization_config": quantization,
    })
    shard = LocalShard(workdir, config)
    rows = prepare_column(config, "", list(base))
    shard.apply(1, {"type": "upsert", "ids": list(range(len(base))),
                    "vectors": [{"": r} for r in rows], "payloads": [None] * len(base)})
    shard._last_write = 0.0
    while any(shard._indexing_due(n) for n in shard.stores):
        shard.optimize_step(1e9)
    started = time.perf_counter()
    while any(shard._quantization_due(n) for n in shard.stores):
        shard.optimize_step(1e9)
    return shard, config, time.perf_counter() - started


def measure(name: str, quantization: dict, base: np.ndarray, queries: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        shard, config, build_s = shard_with(quantization, base, Path(tmp) / "s")
        quantized = shard.quantized[""]
        prepared = [prepare_column(config, "", [q])[0].reshape(1, -1) for q in queries]
        truth = [{r.id for r in shard.search([SearchRequest("", q, 10, exact=True)])[0]}
                 for q in prepared]
        figures = []
        for oversampling in (1.0, 2.0):
            params = {"rescore": True, "oversampling": oversampling}
            started = time.perf_counter()
            found = [
                {r.id for r in shard.search([SearchRequest("", q, 10, quantization=params)])[0]}
                for q in prepared
            ]
            per_query = (time.perf_counter() - started) / len(prepared) * 1000
            recall = np.mean([len(f & t) / 10 for f, t in zip(found, truth, strict=True)])
            figures.append(
                f"recall@10 {recall:.3f} ({per_query:.1f} ms/q) at oversampling {oversampling:g}"
            )
        original = base.shape[0] * base.shape[1] * 4
        memory = quantized.memory_bytes()
        print(f"{name:<20} {memory / 2**20:8.2f} MiB quantized vs {original / 2**20:7.2f} MiB "
              f"float32 ({original / memory:4.1f}x smaller), built in {build_s:5.2f} s; "
              + "; ".join(figures))
        shard.close()


def sign_data(n: int, dim: int, nq: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.sign(rng.normal(size=(200, dim))).astype(np.float32)

    def draw(count: int) -> np.ndarray:
        flips = np.where(rng.random(size=(count, dim)) < 0.15, -1.0, 1.0).astype(np.float32)
        noise = rng.normal(scale=0.1, size=(count, dim)).astype(np.float32)
        return centres[rng.integers(0, 200, size=count)] * flips + noise

    return draw(n), draw(nq)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dataset", nargs="?", help="directory in the minilm-75k layout")
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    if args.dataset:
        ds = data_mod.load_dir(Path(args.dataset), args.points, args.queries)
    else:
        ds = data_mod.synthetic(n=args.points, dim=128, nq=args.queries)
    print(f"{ds.name}: {ds.n} points x {ds.dim} dims, {len(ds.queries)} queries, Cosine")
    for name, quantization in CONFIGS.items():
        measure(name, quantization, ds.base, ds.queries)
    base, queries = sign_data(args.points, 128, args.queries)
    print(f"±1-like data: {len(base)} points x 128 dims, {len(queries)} queries, Cosine")
    measure("binary", CONFIGS["binary"], base, queries)


if __name__ == "__main__":
    main()
