"""Tessera benchmark: upload, index, query throughput/latency/recall and memory of a real node,
next to raw FAISS and Qdrant's engine (qdrant-edge-py) on the same data in the same run.

    python bench/run.py [DATASET_DIR] [--url URL] [--grpc] [--ef 32,64,128] [--clients 1,2,4,8]
                        [--duration S] [--skip-edge] [--skip-faiss] [--limit-points N]

This file is the entry point: it describes the machine (``environment``), runs the parts in
order and writes the report. The parts: cli.py (the flags), scenarios.py (what is measured:
Tessera, FAISS, qdrant-edge, the paired runs), grid.py (the measured grid, operating points, the
JSON form) and report.py (the markdown report and the target verdicts), over data.py,
loadgen.py, h2load.py, paired.py, ours.py and baselines.py.

See bench/RESULTS.md for what is measured and a recorded run.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data as data_mod  # noqa: E402
from cli import parse_args  # noqa: E402
from grid import Results, to_json  # noqa: E402
from report import report  # noqa: E402
from scenarios import run_edge, run_faiss, run_ours  # noqa: E402


def environment() -> dict[str, Any]:
    """CPU, cores, Python, kernel, package versions, git revision and load average, for the
    report's header."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for pkg in (
        "tessera",
        "qdrant-client",
        "qdrant-edge-py",
        "faiss-cpu",
        "numpy",
        "orjson",
        "fastapi",
        "uvicorn",
    ):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = "-"
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        ).stdout.strip()
        if dirty:
            rev += " (+ uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        rev = "-"
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": versions,
        "git": rev,
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def memory_as_users_pay(ds, payloads: list[dict], rounds: int) -> dict[str, Any]:
    """bench/memory.py's rounds (fresh nodes, qdrant-client gRPC loads) and their medians."""
    import statistics

    import memory

    rows = []
    for number in range(rounds):
        row = memory.one_round(ds, payloads, "grpc")
        print(f"[memory] round {number + 1}: {row['bytes_per_point']:,} bytes/point after a "
              f"qdrant-client gRPC load (after a restart {row['bytes_per_point_after_restart']:,})",
              flush=True)
        rows.append(row)
    return {
        "rounds": rows,
        "bytes_per_point": statistics.median(r["bytes_per_point"] for r in rows),
        "bytes_per_point_after_restart": statistics.median(
            r["bytes_per_point_after_restart"] for r in rows),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__.split("\n\n")[0])
    started = time.perf_counter()
    command = "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    env = environment()
    print(
        f"[bench] {env['cpu']}, {env['cores']} cores, python {env['python']}; "
        f"load average {env['loadavg_at_start']}",
        flush=True,
    )
    if args.dataset:
        ds = data_mod.load_dir(args.dataset, args.limit_points, args.queries)
    else:
        ds = data_mod.synthetic(n=args.synthetic_points, nq=args.queries or 1000)
    print(
        f"[bench] dataset {ds.name}: {ds.n} points × {ds.dim}, {len(ds.queries)} queries; "
        f"{'; '.join(ds.notes)}",
        flush=True,
    )
    payloads = ds.payloads()
    setup: dict[str, Any] = {}
    results = Results()

    ours = None
    try:
        if not args.skip_ours:
            ours = run_ours(ds, payloads, args, results, setup)
            if args.memory_rounds > 0 and not args.url:
                setup["memory"] = memory_as_users_pay(ds, payloads, args.memory_rounds)
        gc.collect()
        if not args.skip_faiss:
            run_faiss(ds, args, results, setup)
        gc.collect()
        if not args.skip_edge:
            try:
                run_edge(ds, payloads, args, results, setup, ours)
            except Exception as exc:  # noqa: BLE001
                msg = f"qdrant-edge run failed: {type(exc).__name__}: {str(exc)[:300]}"
                print(f"[edge] {msg}", flush=True)
                results.notes.append(msg)
    finally:
        if ours is not None:
            ours.stop()

    wall = time.perf_counter() - started
    env["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = report(ds, args, env, setup, results, command, wall)
    print("\n" + text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(
            json.dumps(to_json(ds, args, env, setup, results, wall), indent=1, default=str)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
