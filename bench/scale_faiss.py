"""Reference for the scale bench: FAISS IndexHNSWFlat in-process on the same generated points
(same M and ef_construct), recall@10 at each ef against the same cached ground truth. Why: the
server's graph is FAISS HNSW too, so if FAISS alone loses the same recall at 1M, the loss comes
from the data (the perturbed copies' near-duplicate families), not from the server.

    python bench/scale_faiss.py [--points 1000000] [--ef 64,128] [--cache /tmp/scale-cache]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale_data  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--dataset", type=Path, default=Path("/work/shared/datasets/minilm-75k"))
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--cache", type=Path, default=Path("/tmp/scale-cache"))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--ef", type=lambda s: [int(x) for x in s.split(",")], default=[64, 128])
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construct", type=int, default=100)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    ds = scale_data.ScaleSet(args.dataset, args.points, args.seed, args.queries)
    gts, _ = scale_data.ground_truth(ds, args.cache)
    index = faiss.IndexHNSWFlat(ds.dim, args.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = args.ef_construct
    t0 = time.perf_counter()
    for chunk in ds.chunks():
        index.add(np.ascontiguousarray(chunk.vectors))
    build = time.perf_counter() - t0
    out = {"points": args.points, "m": args.m, "ef_construct": args.ef_construct,
           "build_s": build, "recall10": {}}
    print(f"FAISS IndexHNSWFlat M={args.m} efC={args.ef_construct}: {args.points:,} points "
          f"built in {build:.1f} s (faiss threads {faiss.omp_get_max_threads()})")
    for ef in args.ef:
        index.hnsw.efSearch = ef
        _, found = index.search(ds.queries, 10)
        truth = gts["all"][:, :10]
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth,
                                                                            strict=True)]))
        out["recall10"][ef] = recall
        print(f"  ef={ef}: recall@10 {recall:.3f} (unfiltered)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
