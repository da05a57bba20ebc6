"""The command line of bench/run.py: its flags, their defaults, and the derived settings
(``filter_clients`` defaulting to ``clients``; ``filter_keys``, the allow-lists to filter on).

Owns nothing else: what the flags make happen is in scenarios.py, how they show up in the report
is in report.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None, description: str | None = None) -> argparse.Namespace:
    """The parsed flags; ``description`` heads ``--help`` (run.py passes its own docstring's
    first paragraph)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "dataset",
        nargs="?",
        type=Path,
        help="directory in the minilm-75k layout (default: synthetic clustered set)",
    )
    p.add_argument("--url", help="benchmark a running node instead of starting one")
    p.add_argument(
        "--pid",
        type=int,
        help="pid of the node at --url, for RSS (default: whoever listens on its port, when local)",
    )
    p.add_argument(
        "--grpc",
        action="store_true",
        help="also upload and query through qdrant-client over gRPC, if served",
    )
    p.add_argument("--grpc-port", type=int, help="gRPC port of the node at --url (default 6334)")
    p.add_argument("--ef", type=csv_ints, default=[32, 64, 128], help="hnsw_ef values")
    p.add_argument("--clients", type=csv_ints, default=[1, 2, 4, 8], help="concurrent clients")
    p.add_argument(
        "--filter-clients",
        type=csv_ints,
        help="client counts for filtered search (default: --clients)",
    )
    p.add_argument(
        "--filters",
        default="10,01",
        help="which allow-lists to filter on: 10, 01, both (default) or none",
    )
    p.add_argument("--duration", type=float, default=3.0, help="seconds per measurement window")
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="windows per cell; QPS and latency are medians over them",
    )
    p.add_argument(
        "--warmup", type=float, default=0.5, help="seconds of warm-up per (system, ef, filter)"
    )
    p.add_argument(
        "--recall-budget",
        type=float,
        default=60.0,
        help="max seconds per (system, ef, filter) for answering the queries the timed "
        "windows did not reach; recall is over the answered queries",
    )
    p.add_argument("--limit-points", type=int, help="use only the first N points of DATASET_DIR")
    p.add_argument("--queries", type=int, help="use only the first N queries")
    p.add_argument(
        "--synthetic-points",
        type=int,
        default=20_000,
        help="size of the synthetic set (no DATASET_DIR)",
    )
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construct", type=int, default=100)
    p.add_argument("--upload-parallel", type=int, default=2)
    p.add_argument("--upload-batch", type=int, default=256)
    p.add_argument("--green-timeout", type=float, default=900.0)
    p.add_argument(
        "--loadgen",
        choices=("asyncio", "threads"),
        default="asyncio",
        help="REST and gRPC load generator: every client a connection of one asyncio loop "
        "sending pre-encoded requests (HTTP/1.1, or HTTP/2 for gRPC; default: costs the shared "
        "cores least), or a Python thread per client with http.client (REST) or a grpcio "
        "channel (gRPC)",
    )
    p.add_argument(
        "--memory-rounds",
        type=int,
        default=3,
        help="rounds of bench/memory.py's measurement (a fresh node loaded through qdrant-client "
        "over gRPC, parallel 2, batch 512, until green); the target is judged by their median "
        "(0: by the REST load's RSS; skipped with --url)",
    )
    p.add_argument("--skip-ours", action="store_true", help="baselines only")
    p.add_argument("--skip-faiss", action="store_true")
    p.add_argument("--skip-edge", action="store_true")
    p.add_argument(
        "--skip-client",
        action="store_true",
        help="skip the qdrant-client query_points single-client runs",
    )
    p.add_argument(
        "--paired-rounds",
        type=int,
        default=6,
        help="after the sweeps, measure each target's two sides (Tessera and qdrant-edge; a "
        "filter and no filter) in this many rounds of alternating windows, and judge the "
        "targets by the median ratio of adjacent windows (0: judge by the sweeps)",
    )
    p.add_argument("--paired-window", type=float, default=1.5, help="seconds per paired window")
    p.add_argument("--keep", action="store_true", help="keep the node's directory and log")
    p.add_argument("--json", type=Path, help="also write all numbers to this JSON file")
    p.add_argument("--markdown", type=Path, help="also write the report to this file")
    args = p.parse_args(argv)
    args.filter_clients = args.filter_clients or args.clients
    keys = {"10": "10", "01": "01", "1": "01"}
    args.filter_keys = (
        []
        if args.filters in ("none", "")
        else [keys[x.strip()] for x in args.filters.split(",") if x.strip()]
    )
    return args
