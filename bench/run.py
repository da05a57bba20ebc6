"""Tessera benchmark: upload, index, query throughput/latency/recall and memory of a real node,
next to raw FAISS and Qdrant's engine (qdrant-edge-py) on the same data in the same run.

    python bench/run.py [DATASET_DIR] [--url URL] [--grpc] [--ef 32,64,128] [--clients 1,2,4,8]
                        [--duration S] [--skip-edge] [--skip-faiss] [--limit-points N]

See bench/RESULTS.md for what is measured and a recorded run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data as data_mod  # noqa: E402
from data import Dataset, recall_at  # noqa: E402
from loadgen import Cell, Target, measure, warm  # noqa: E402
from paired import Pair, describe, measure_pair  # noqa: E402

FILTER_LABEL = {None: "none", "10": "10%", "01": "1%"}


LOADGEN_LABEL = {
    "asyncio": "pre-encoded requests, one asyncio loop",
    "threads": "http.client threads + orjson bodies",
}
GRPC_LOADGEN_LABEL = {
    "asyncio": "raw HTTP/2 connections of one asyncio loop (bench/h2load.py)",
    "threads": "a grpcio channel and a thread per client",
}


def csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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


# ------------------------------------------------------------------------------ environment


def environment() -> dict[str, Any]:
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


# ------------------------------------------------------------------------------ measuring


class Results:
    """system -> (filter, ef) -> {"recall", "recall_n", "cells": {clients: Cell}, "error"}"""

    def __init__(self) -> None:
        self.grid: dict[str, dict[tuple, dict]] = {}
        self.notes: list[str] = []

    def put(self, system: str, filter_key: str | None, ef: int, entry: dict) -> None:
        self.grid.setdefault(system, {})[(filter_key, ef)] = entry

    def get(self, system: str, filter_key: str | None, ef: int) -> dict | None:
        return self.grid.get(system, {}).get((filter_key, ef))

    def cell(self, system: str, filter_key: str | None, ef: int, clients: int) -> Cell | None:
        entry = self.get(system, filter_key, ef)
        if not entry:
            return None
        return entry["cells"].get(clients)


def sweep(
    system: str,
    make_target,
    ds: Dataset,
    args,
    results: Results,
    filters: list[str | None],
    client_sets: dict,
) -> None:
    """For each filter and ef: warm up, measure every client count, then recall."""
    for filter_key in filters:
        gt = ds.gt if filter_key is None else ds.gt_allow[filter_key]
        broken = None
        for ef in args.ef:
            label = f"{system} filter={FILTER_LABEL[filter_key]} ef={ef}"
            if broken:
                results.put(system, filter_key, ef, {"cells": {}, "error": broken})
                continue
            try:
                target: Target = make_target(ef, filter_key)
            except Exception as exc:  # noqa: BLE001
                broken = f"{type(exc).__name__}: {exc}"[:300]
                print(f"  {label}: cannot prepare ({broken}); skipped", flush=True)
                results.notes.append(
                    f"{system}, filter {FILTER_LABEL[filter_key]}: cannot "
                    f"prepare the queries ({broken}); skipped"
                )
                results.put(system, filter_key, ef, {"cells": {}, "error": broken})
                continue
            warm(target, max(client_sets[filter_key]), args.warmup)
            cells: dict[int, Cell] = {}
            for clients in client_sets[filter_key]:
                cell = measure(target, clients, args.duration, args.repeats)
                if cell.failed:
                    broken = cell.first_error or "no query succeeded"
                    print(
                        f"  {label}: every query failed ({broken}); skipping this filter",
                        flush=True,
                    )
                    results.notes.append(
                        f"{system}, filter {FILTER_LABEL[filter_key]}: every "
                        f"query failed ({broken}); skipped"
                    )
                    break
                cells[clients] = cell
                err = f" errors={cell.errors} ({cell.first_error})" if cell.errors else ""
                print(
                    f"  {label} clients={clients}: {cell.qps:,.0f} QPS  p50 {cell.p50_ms:.2f} ms"
                    f"  p99 {cell.p99_ms:.2f} ms{err}",
                    flush=True,
                )
            entry: dict[str, Any] = {"cells": cells, "error": broken}
            if cells:
                try:
                    answered, found = target.found_ids(args.recall_budget)
                    entry["recall"] = recall_at(found, gt[answered])
                    entry["recall_n"] = len(answered)
                    print(
                        f"  {label}: recall@10 {entry['recall']:.4f} over {len(answered)} queries",
                        flush=True,
                    )
                except Exception as exc:  # noqa: BLE001
                    entry["recall_error"] = f"{type(exc).__name__}: {exc}"[:300]
                    print(f"  {label}: recall failed: {entry['recall_error']}", flush=True)
            results.put(system, filter_key, ef, entry)


def run_ours(ds: Dataset, payloads: list[dict], args, results: Results, setup: dict):
    """Load and measure the node. With paired rounds (and qdrant-edge to pair with), the node
    is returned still running, for `run_edge` to pair with; the caller stops it."""
    import ours as ours_mod
    from ours import Ours

    ours = Ours(args.url, args.pid, keep_dir=args.keep, grpc_port=args.grpc_port)
    handle = None
    try:
        ours.start()
    except Exception as exc:  # noqa: BLE001
        msg = f"node did not start: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        print(f"[ours] {msg}", flush=True)
        results.notes.append("Tessera: " + msg)
        ours.stop()
        return
    try:
        try:
            ours.load(
                ds,
                payloads,
                args.m,
                args.ef_construct,
                args.upload_parallel,
                args.upload_batch,
                args.green_timeout,
            )
        except Exception as exc:  # noqa: BLE001
            msg = f"loading failed: {type(exc).__name__}: {str(exc)[:300]}"
            print(f"[ours] {msg}\n{ours.log_tail()}", flush=True)
            results.notes.append("Tessera: " + msg)
            return
        setup["ours"] = ours.setup
        client_sets = {None: args.clients, **{k: args.filter_clients for k in args.filter_keys}}
        print("[ours] REST queries (lean load generator)", flush=True)
        sweep(
            "ours",
            lambda ef, f: ours.rest_target(ds, ef, f, args.loadgen),
            ds,
            args,
            results,
            [None, *args.filter_keys],
            client_sets,
        )
        # The per-request floor of the REST stack: a request that does almost no work.
        from loadgen import AsyncHttpQueryTarget, HttpQueryTarget

        floor_kind = AsyncHttpQueryTarget if args.loadgen == "asyncio" else HttpQueryTarget
        floor_target = floor_kind(
            ours.url,
            f"/collections/{ours_mod.COLLECTION}/points/count",
            [b'{"exact": false}'],
            name="count",
        )
        floor = {}
        for clients in sorted({1, max(args.clients)}):
            cell = measure(floor_target, clients, min(args.duration, 2.0), 1)
            if not cell.failed:
                floor[clients] = cell
                print(
                    f"  REST floor (POST /points/count) clients={clients}: {cell.qps:,.0f} QPS  "
                    f"p50 {cell.p50_ms:.2f} ms  p99 {cell.p99_ms:.2f} ms",
                    flush=True,
                )
        setup["ours"]["floor"] = floor
        if args.paired_rounds > 0:
            pair_filters(ds, args, results, setup, ours)
        rss_after = ours.rss()
        setup["ours"]["rss_after_queries"] = rss_after
        if not args.skip_client:
            print("[ours] qdrant-client query_points, one client (REST)", flush=True)
            sweep(
                "ours-client",
                lambda ef, f: ours.client_target(ds, ef, f),
                ds,
                args,
                results,
                [None],
                {None: [1]},
            )
        if args.grpc:
            ok, why = ours.grpc_available()
            if not ok:
                msg = f"gRPC skipped: {why}"
                print(f"[ours] {msg}", flush=True)
                results.notes.append("Tessera: " + msg)
            else:
                print("[ours] gRPC queries (pre-serialized requests)", flush=True)
                sweep(
                    "ours-grpc-raw",
                    lambda ef, f: ours.grpc_target(ds, ef, f, args.loadgen),
                    ds,
                    args,
                    results,
                    [None, *args.filter_keys],
                    client_sets,
                )
                print("[ours] qdrant-client query_points, one client (gRPC)", flush=True)
                sweep(
                    "ours-grpc",
                    lambda ef, f: ours.client_target(ds, ef, f, grpc=True),
                    ds,
                    args,
                    results,
                    [None],
                    {None: [1]},
                )
                print("[ours] gRPC upload into a second collection", flush=True)
                try:
                    setup["ours_grpc"] = ours.grpc_upload(
                        ds,
                        payloads,
                        args.m,
                        args.ef_construct,
                        args.upload_parallel,
                        args.upload_batch,
                        args.green_timeout,
                    )
                    g = setup["ours_grpc"]
                    print(
                        f"[ours] gRPC upload {g['upload_s']:.1f} s = {g['upload_pps']:,.0f} "
                        f"points/s, green {g['green_after_upload_s']} s later",
                        flush=True,
                    )
                except Exception as exc:  # noqa: BLE001
                    msg = f"gRPC upload failed: {type(exc).__name__}: {str(exc)[:300]}"
                    print(f"[ours] {msg}", flush=True)
                    results.notes.append("Tessera: " + msg)
        results.notes.extend("Tessera: " + n for n in ours.notes)
        if args.paired_rounds > 0 and not args.skip_edge:
            handle = ours
    finally:
        if handle is None:
            ours.stop()
    return handle


def _record_pair(setup: dict, key: str, pair: Pair) -> None:
    setup.setdefault("paired", {})[key] = pair
    print(f"  paired {describe(pair)}", flush=True)


def pair_filters(ds: Dataset, args, results: Results, setup: dict, ours) -> None:
    """Each filter's operating point against the unfiltered one, in alternating windows."""
    top = max(args.clients)
    ref = operating_point(results, "ours", None, top, 0.95, args)
    fclients = top if top in args.filter_clients else max(args.filter_clients)
    if ref is None:
        return
    print("[ours] paired: filtered against unfiltered, alternating windows", flush=True)
    for key, need in (("10", 0.95), ("01", 0.99)):
        if key not in args.filter_keys:
            continue
        point = filtered_point(results, "ours", key, need, fclients, args)
        if point is None:
            continue
        pair = measure_pair(
            f"{FILTER_LABEL[key]} filter (ef={point[0]}) / unfiltered (ef={ref[0]})",
            f"Tessera {FILTER_LABEL[key]}",
            ours.rest_target(ds, point[0], key, args.loadgen),
            "Tessera unfiltered",
            ours.rest_target(ds, ref[0], None, args.loadgen),
            fclients, args.paired_window, args.paired_rounds, args.warmup,
        )
        _record_pair(setup, key, pair)


def pair_with_edge(ds: Dataset, args, results: Results, setup: dict, ours, edge) -> None:
    """Tessera (REST, and gRPC when measured) against qdrant-edge, unfiltered, each at its
    recall-0.95 operating point, in alternating windows."""
    top = max(args.clients)
    edge_ref = operating_point(results, "edge", None, top, 0.95, args)
    if edge_ref is None:
        return
    print("[paired] Tessera against qdrant-edge, alternating windows", flush=True)
    sides = [
        ("rest", "ours", lambda ef: ours.rest_target(ds, ef, None, args.loadgen)),
        ("grpc", "ours-grpc-raw", lambda ef: ours.grpc_target(ds, ef, None, args.loadgen)),
    ]
    for key, system, make in sides:
        ref = operating_point(results, system, None, top, 0.95, args)
        if ref is None:  # not measured (gRPC without --grpc), or recall 0.95 not reached
            continue
        pair = measure_pair(
            f"{key.upper()} unfiltered: Tessera (ef={ref[0]}) / qdrant-edge (ef={edge_ref[0]})",
            f"Tessera {key.upper()}",
            make(ref[0]),
            "qdrant-edge",
            edge.target(edge_ref[0], None),
            top, args.paired_window, args.paired_rounds, args.warmup,
        )
        _record_pair(setup, key, pair)


def run_faiss(ds: Dataset, args, results: Results, setup: dict) -> None:
    from baselines import Faiss

    print("[faiss] building", flush=True)
    f = Faiss(ds, args.m, args.ef_construct)
    setup["faiss"] = {"build_s": f.build_s, "omp_threads": f.threads}
    batch = {}
    for ef in args.ef:
        qps, labels = f.batch(ef)
        batch[ef] = {"qps": qps, "recall": recall_at(labels, ds.gt)}
        print(
            f"  faiss batch (all queries in one call) ef={ef}: {qps:,.0f} QPS, recall@10 "
            f"{batch[ef]['recall']:.4f}",
            flush=True,
        )
    setup["faiss"]["batch"] = batch
    clients = {None: args.clients, **{k: args.filter_clients for k in args.filter_keys}}
    try:
        sweep("faiss", f.target, ds, args, results, [None, *args.filter_keys], clients)
    finally:
        f.close()


def run_edge(
    ds: Dataset, payloads: list[dict], args, results: Results, setup: dict, ours=None
) -> None:
    from baselines import Edge, edge_available

    ok, ver = edge_available()
    if not ok:
        msg = f"qdrant-edge-py not available ({ver}); `pip install qdrant-edge-py` to compare"
        print(f"[edge] {msg}", flush=True)
        results.notes.append(msg)
        return
    print(f"[edge] qdrant-edge-py {ver}: loading", flush=True)
    e = Edge(ds, payloads, args.m, args.ef_construct)
    setup["edge"] = {
        "upsert_s": e.upsert_s,
        "optimize_s": e.optimize_s,
        "total_s": e.total_s,
        **e.info,
    }
    clients = {None: args.clients, **{k: args.filter_clients for k in args.filter_keys}}
    try:
        sweep("edge", e.target, ds, args, results, [None, *args.filter_keys], clients)
        if ours is not None:
            pair_with_edge(ds, args, results, setup, ours, e)
    finally:
        e.close()


# ------------------------------------------------------------------------------ reporting


def fmt(x: float | None, digits: int = 0, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    return f"{x:,.{digits}f}{unit}"


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.2f}×"


def recall_text(entry: dict | None) -> str:
    if not entry or "recall" not in entry:
        return "–"
    text = f"{entry['recall']:.3f}"
    return text


def _report_grid(args: argparse.Namespace):
    """(filter, ef, clients) of every measured query cell, in the report's row order."""
    for filter_key in [None, *args.filter_keys]:
        client_list = args.clients if filter_key is None else args.filter_clients
        for ef in args.ef:
            for clients in client_list:
                yield filter_key, ef, clients


def report(
    ds: Dataset, args, env: dict, setup: dict, results: Results, command: str, wall: float
) -> str:
    out: list[str] = []
    w = out.append
    w(f"Command: `{command}`\n")
    w(
        f"Dataset: {ds.name} — {ds.n:,} points × {ds.dim}, {len(ds.queries):,} queries, "
        f"allow-lists {', '.join(f'{FILTER_LABEL[k]}={len(v):,}' for k, v in ds.allow.items())}"
        + (f" ({'; '.join(ds.notes)})" if ds.notes else "")
    )
    w("")
    w(
        f"Machine: {env['cpu']}, {env['cores']} cores; Python {env['python']}, Linux "
        f"{env['kernel']}; load average at start {env['loadavg_at_start']}, at end "
        f"{env.get('loadavg_at_end', '–')} (other processes on the machine share the cores)"
    )
    w("")
    w(
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items())
        + f"; git {env['git']}"
    )
    w("")
    w(
        f"Settings: HNSW M={args.m} ef_construct={args.ef_construct}, cosine; top-10; "
        f"{args.duration:g} s windows × {args.repeats} (median), warm-up {args.warmup:g} s; "
        f"upload parallel={args.upload_parallel} batch={args.upload_batch}; REST load "
        f"generator: {LOADGEN_LABEL[args.loadgen]}"
        + (f"; gRPC load generator: {GRPC_LOADGEN_LABEL[args.loadgen]}" if args.grpc else "")
        + f"; whole run {wall:.0f} s"
    )
    w("")

    # -- loading
    w("Loading and indexing")
    w("")
    w("| system | load | load points/s | index / optimize | load → ready | notes |")
    w("|---|---|---|---|---|---|")
    o = setup.get("ours")
    if o:
        green = o.get("green_after_upload_s")
        w(
            f"| Tessera (REST, qdrant-client upload_collection) | {fmt(o['upload_s'], 1, ' s')} | "
            f"{fmt(o['upload_pps'])} | {fmt(green, 1, ' s')} after upload | "
            f"{fmt(o.get('upload_to_green_s'), 1, ' s')} to green | indexed "
            f"{o.get('info', {}).get('indexed_vectors_count', '–')} of "
            f"{o.get('info', {}).get('points_count', '–')} |"
        )
    g = setup.get("ours_grpc")
    if g:
        total = (
            None if g["green_after_upload_s"] is None else g["upload_s"] + g["green_after_upload_s"]
        )
        w(
            f"| Tessera (gRPC upload_collection) | {fmt(g['upload_s'], 1, ' s')} | "
            f"{fmt(g['upload_pps'])} | {fmt(g['green_after_upload_s'], 1, ' s')} after upload | "
            f"{fmt(total, 1, ' s')} to green | |"
        )
    e = setup.get("edge")
    if e:
        w(
            f"| qdrant-edge (in-process upsert, batches of 1000) | {fmt(e['upsert_s'], 1, ' s')} | "
            f"{fmt(ds.n / e['upsert_s'])} | {fmt(e['optimize_s'], 1, ' s')} optimize() | "
            f"{fmt(e['total_s'], 1, ' s')} | {e['segments']} segments, indexed "
            f"{e['indexed']} of {e['points']} |"
        )
    f = setup.get("faiss")
    if f:
        w(
            f"| FAISS IndexHNSWFlat (add) | – | – | {fmt(f['build_s'], 1, ' s')} build | "
            f"{fmt(f['build_s'], 1, ' s')} | {f['omp_threads']} OpenMP threads |"
        )
    w("")
    if f and f.get("batch"):
        w(
            "FAISS batch mode (all queries in one `search` call, "
            f"{f['omp_threads']} OpenMP threads; an upper bound for in-process HNSW here): "
            + "; ".join(
                f"ef={ef} {b['qps']:,.0f} QPS, recall {b['recall']:.3f}"
                for ef, b in f["batch"].items()
            )
        )
        w("")
    if o and o.get("rss_per_point") is not None:
        w(
            f"Tessera resident memory: empty node {fmt(o['rss_empty'] / 2**20, 0, ' MiB')}, after "
            f"load + green {fmt(o['rss_loaded'] / 2**20, 0, ' MiB')} → "
            f"**{o['rss_per_point']:,.0f} bytes/point** (raw float32 vector: {ds.dim * 4} bytes); "
            f"after the query runs {fmt((o.get('rss_after_queries') or 0) / 2**20, 0, ' MiB')}"
        )
        w("")

    # -- queries
    systems = [s for s in ("ours", "faiss", "edge") if s in results.grid]
    if systems:
        w(
            "Queries (top-10; Tessera over REST with the lean load generator; FAISS and "
            "qdrant-edge in-process, one query per call from a thread pool of the same size)"
        )
        w("")
        w(
            "| filter | ef | clients | Tessera QPS | p50 ms | p99 ms | recall@10 | FAISS QPS | "
            "FAISS recall | edge QPS | edge p99 ms | edge recall | ours/FAISS | ours/edge |"
        )
        w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for filter_key, ef, clients in _report_grid(args):
            entries = {s: results.get(s, filter_key, ef) for s in systems}
            cells = {s: results.cell(s, filter_key, ef, clients) for s in systems}
            oc, fc, ec = cells.get("ours"), cells.get("faiss"), cells.get("edge")
            err = (entries.get("ours") or {}).get("error")
            ours_q = fmt(oc.qps) if oc else ("failed" if err else "–")
            w(
                f"| {FILTER_LABEL[filter_key]} | {ef} | {clients} | {ours_q} | "
                f"{fmt(oc.p50_ms if oc else None, 2)} | "
                f"{fmt(oc.p99_ms if oc else None, 2)} | "
                f"{recall_text(entries.get('ours'))} | {fmt(fc.qps if fc else None)} | "
                f"{recall_text(entries.get('faiss'))} | {fmt(ec.qps if ec else None)} | "
                f"{fmt(ec.p99_ms if ec else None, 2)} | "
                f"{recall_text(entries.get('edge'))} | "
                f"{ratio(oc.qps if oc else None, fc.qps if fc else None)} | "
                f"{ratio(oc.qps if oc else None, ec.qps if ec else None)} |"
            )
        w("")
        partial = []
        for s in systems:
            for (fk, ef), entry in results.grid[s].items():
                if entry.get("recall_n") and entry["recall_n"] < len(ds.queries):
                    partial.append(f"{s} {FILTER_LABEL[fk]} ef={ef}: {entry['recall_n']}")
        if partial:
            w(
                "Recall over fewer queries (the timed windows did not reach all of them and the "
                "recall budget ran out): " + "; ".join(partial)
            )
            w("")

    if "ours-grpc-raw" in results.grid:
        w(
            "Tessera over gRPC (`Points/Query` with pre-serialized requests; "
            f"{GRPC_LOADGEN_LABEL[args.loadgen]}), beside the REST figures above"
        )
        w("")
        w(
            "| filter | ef | clients | gRPC QPS | p50 ms | p99 ms | recall@10 | REST QPS | "
            "gRPC/REST | gRPC/edge |"
        )
        w("|---|---|---|---|---|---|---|---|---|---|")
        for filter_key, ef, clients in _report_grid(args):
            entry = results.get("ours-grpc-raw", filter_key, ef)
            gc = results.cell("ours-grpc-raw", filter_key, ef, clients)
            rc = results.cell("ours", filter_key, ef, clients)
            ec = results.cell("edge", filter_key, ef, clients)
            w(
                f"| {FILTER_LABEL[filter_key]} | {ef} | {clients} | "
                f"{fmt(gc.qps if gc else None)} | {fmt(gc.p50_ms if gc else None, 2)} | "
                f"{fmt(gc.p99_ms if gc else None, 2)} | {recall_text(entry)} | "
                f"{fmt(rc.qps if rc else None)} | "
                f"{ratio(gc.qps if gc else None, rc.qps if rc else None)} | "
                f"{ratio(gc.qps if gc else None, ec.qps if ec else None)} |"
            )
        w("")

    floor = (o or {}).get("floor")
    if floor:
        w(
            "REST request floor (POST /points/count, no search): "
            + "; ".join(
                f"{c} client{'s' if c > 1 else ''} {cell.qps:,.0f} QPS, p50 {cell.p50_ms:.2f} ms, "
                f"p99 {cell.p99_ms:.2f} ms"
                for c, cell in sorted(floor.items())
            )
        )
        w("")

    # -- client overhead
    api_rows = [s for s in ("ours-client", "ours-grpc") if s in results.grid]
    if api_rows:
        w("Client overhead: one client, unfiltered")
        w("")
        w("| API | ef | QPS | p50 ms | p99 ms | recall@10 | vs raw REST (1 client) |")
        w("|---|---|---|---|---|---|---|")
        for ef in args.ef:
            raw = results.cell("ours", None, ef, 1)
            if raw:
                w(
                    f"| raw HTTP ({LOADGEN_LABEL[args.loadgen]}) | {ef} | {fmt(raw.qps)} | "
                    f"{fmt(raw.p50_ms, 2)} | {fmt(raw.p99_ms, 2)} | "
                    f"{recall_text(results.get('ours', None, ef))} | 1.00× |"
                )
            for s, label in (
                ("ours-client", "qdrant-client REST query_points"),
                ("ours-grpc", "qdrant-client gRPC query_points"),
            ):
                c = results.cell(s, None, ef, 1)
                if c:
                    w(
                        f"| {label} | {ef} | {fmt(c.qps)} | {fmt(c.p50_ms, 2)} | "
                        f"{fmt(c.p99_ms, 2)} | {recall_text(results.get(s, None, ef))} | "
                        f"{ratio(c.qps, raw.qps if raw else None)} |"
                    )
        w("")

    if setup.get("paired"):
        w(
            f"Paired runs: the two sides of a target in {args.paired_rounds} rounds of alternating "
            f"{args.paired_window:g} s windows (A B, B A, ...); ratio = median over rounds of "
            "A / B in adjacent windows"
        )
        w("")
        w("| comparison | A median QPS | B median QPS | median ratio | per-round ratios |")
        w("|---|---|---|---|---|")
        for pair in setup["paired"].values():
            w(
                f"| {pair.name} | {fmt(pair.a_median)} | {fmt(pair.b_median)} | "
                f"{'–' if pair.ratio is None else f'{pair.ratio:.2f}×'} | "
                f"{', '.join(f'{r:.2f}' for r in pair.ratios)} |"
            )
        w("")

    w("Targets")
    w("")
    for line in targets(ds, args, setup, results):
        w(f"- {line}")
    w("")
    if results.notes:
        w("Notes")
        w("")
        for n in results.notes:
            w(f"- {n}")
        w("")
    return "\n".join(out)


def operating_point(
    results: Results, system: str, filter_key: str | None, clients: int, min_recall: float, args
) -> tuple[int, dict, Cell] | None:
    """The smallest ef whose recall reaches ``min_recall`` (and that was measured)."""
    for ef in sorted(args.ef):
        entry = results.get(system, filter_key, ef)
        if entry and entry.get("recall", 0) >= min_recall and clients in entry["cells"]:
            return ef, entry, entry["cells"][clients]
    return None


def filtered_point(
    results: Results, system: str, key: str, need_recall: float, clients: int, args
) -> tuple[int, dict, Cell] | None:
    """The ef with the most QPS among those whose recall reaches ``need_recall``."""
    best = None
    for ef in sorted(args.ef):
        entry = results.get(system, key, ef)
        if entry and entry.get("recall", 0) >= need_recall and clients in entry["cells"]:
            c = entry["cells"][clients]
            if best is None or c.qps > best[2].qps:
                best = (ef, entry, c)
    return best


def targets(ds: Dataset, args, setup: dict, results: Results) -> list[str]:
    lines = []
    top = max(args.clients)
    ref = operating_point(results, "ours", None, top, 0.95, args)
    edge_ref = operating_point(results, "edge", None, top, 0.95, args)

    def verdict(ok: bool | None) -> str:
        return {True: "**met**", False: "**not met**", None: "**not measured**"}[ok]

    paired: dict[str, Pair] = setup.get("paired", {})

    def by_pair(key: str, ok: bool | None, factor: float, text: str) -> tuple[bool | None, str]:
        """With a paired measurement, the verdict is its median ratio against `factor`."""
        pair = paired.get(key)
        if pair is None or pair.ratio is None:
            return ok, text
        sweep_ok = "met" if ok else "not met" if ok is False else "not judged"
        return pair.ratio >= factor, (
            f"{text} [by the sweep alone: {sweep_ok}]; judged by the paired run: "
            f"{pair.ratio:.2f}× ({pair.a_median:,.0f} vs {pair.b_median:,.0f} QPS, median of "
            f"{len(pair.ratios)} rounds; needs ≥ {factor:g}×)"
        )

    # 1. unfiltered
    if ref is None:
        lines.append(
            f"{verdict(None if 'ours' not in results.grid else False)} — REST "
            f"unfiltered QPS at recall ≥ 0.95 with {top} client(s) ≥ edge and p99 ≤ 10 ms: "
            "no ef reached recall 0.95"
            if "ours" in results.grid
            else f"{verdict(None)} — REST unfiltered target: the node was not measured"
        )
    else:
        ef, entry, cell = ref
        text = (
            f"REST unfiltered at recall ≥ 0.95 with {top} client(s): ef={ef}, recall "
            f"{entry['recall']:.3f}, {cell.qps:,.0f} QPS, p99 {cell.p99_ms:.1f} ms"
        )
        if edge_ref:
            eef, eentry, ecell = edge_ref
            ok = cell.qps >= ecell.qps and cell.p99_ms <= 10.0
            text += (
                f"; qdrant-edge at its recall-0.95 point (ef={eef}, recall "
                f"{eentry['recall']:.3f}, {top} threads): {ecell.qps:,.0f} QPS → "
                f"{cell.qps / ecell.qps:.2f}×, p99 {'≤' if cell.p99_ms <= 10 else '>'} 10 ms"
            )
            ok, text = by_pair("rest", ok, 1.0, text)
            ok = ok and cell.p99_ms <= 10.0
        else:
            ok = None if cell.p99_ms <= 10.0 else False
            text += "; qdrant-edge not measured"
        lines.append(f"{verdict(ok)} — {text}")
    grpc_ref = operating_point(results, "ours-grpc-raw", None, top, 0.95, args)
    if grpc_ref is not None:
        ef, entry, cell = grpc_ref
        text = (
            f"gRPC unfiltered at recall ≥ 0.95 with {top} client(s): ef={ef}, recall "
            f"{entry['recall']:.3f}, {cell.qps:,.0f} QPS, p99 {cell.p99_ms:.1f} ms"
        )
        if edge_ref:
            ecell = edge_ref[2]
            ok = cell.qps >= ecell.qps and cell.p99_ms <= 10.0
            text += f"; qdrant-edge {ecell.qps:,.0f} QPS → {cell.qps / ecell.qps:.2f}×"
            ok, text = by_pair("grpc", ok, 1.0, text)
            ok = ok and cell.p99_ms <= 10.0
        else:
            ok = None if cell.p99_ms <= 10.0 else False
        lines.append(f"{verdict(ok)} — {text}")
    # 2/3. filtered
    for key, need_recall, factor in (("10", 0.95, 1.0), ("01", 0.99, 2.0)):
        if key not in args.filter_keys:
            continue
        label = FILTER_LABEL[key]
        fclients = top if top in args.filter_clients else max(args.filter_clients)
        if ref is None or "ours" not in results.grid:
            lines.append(f"{verdict(None)} — filtered {label}: no unfiltered reference point")
            continue
        _, _, ucell = ref
        want = factor * ucell.qps
        best = filtered_point(results, "ours", key, need_recall, fclients, args)
        entries = [results.get("ours", key, ef) for ef in args.ef]
        if all((not e) or e.get("error") and not e["cells"] for e in entries):
            err = next((e.get("error") for e in entries if e and e.get("error")), "not run")
            lines.append(f"{verdict(False)} — filtered {label}: the search failed ({err})")
            continue
        if best is None:
            recalls = ", ".join(
                f"ef={ef}: {recall_text(results.get('ours', key, ef))}" for ef in args.ef
            )
            lines.append(
                f"{verdict(False)} — filtered {label}: recall ≥ {need_recall} not "
                f"reached ({recalls})"
            )
            continue
        ef, entry, c = best
        ok, text = by_pair(key, c.qps >= want, factor, (
            f"filtered {label}: ef={ef} recall {entry['recall']:.3f} "
            f"(≥ {need_recall}), {c.qps:,.0f} QPS with {fclients} client(s) vs "
            f"{'' if factor == 1 else f'{factor:g}× '}unfiltered {ucell.qps:,.0f} "
            f"= {want:,.0f} needed"
        ))
        lines.append(f"{verdict(ok)} — {text}")
    # 4. upload + index
    o, e = setup.get("ours"), setup.get("edge")
    if o and e and o.get("upload_to_green_s") is not None:
        ok = o["upload_to_green_s"] < e["total_s"]
        lines.append(
            f"{verdict(ok)} — upload + index to green: Tessera "
            f"{o['upload_to_green_s']:.1f} s vs qdrant-edge upsert + optimize "
            f"{e['total_s']:.1f} s ({o['upload_to_green_s'] / e['total_s']:.2f}×)"
        )
    elif o and o.get("upload_to_green_s") is None:
        lines.append(f"{verdict(False)} — upload + index to green: never green")
    else:
        lines.append(f"{verdict(None)} — upload + index to green vs qdrant-edge")
    # 5. memory
    if o and o.get("rss_per_point") is not None:
        ok = o["rss_per_point"] <= 2000
        lines.append(
            f"{verdict(ok)} — RSS per point {o['rss_per_point']:,.0f} bytes (target ≤ 2,000)"
        )
    else:
        lines.append(f"{verdict(None)} — RSS per point")
    return lines


def to_json(ds: Dataset, args, env: dict, setup: dict, results: Results, wall: float) -> dict:
    grid = {}
    for system, entries in results.grid.items():
        for (fk, ef), entry in entries.items():
            grid.setdefault(system, []).append(
                {
                    "filter": FILTER_LABEL[fk],
                    "ef": ef,
                    "recall": entry.get("recall"),
                    "recall_n": entry.get("recall_n"),
                    "error": entry.get("error"),
                    "cells": [
                        {
                            "clients": c.clients,
                            "qps": c.qps,
                            "p50_ms": c.p50_ms,
                            "p99_ms": c.p99_ms,
                            "requests": c.requests,
                            "errors": c.errors,
                            "windows": c.windows,
                        }
                        for c in entry["cells"].values()
                    ],
                }
            )
    setup = dict(setup)
    if "paired" in setup:
        setup["paired"] = {k: p.to_json() for k, p in setup["paired"].items()}
    if "ours" in setup and "floor" in setup["ours"]:
        setup["ours"] = dict(setup["ours"])
        setup["ours"]["floor"] = {
            c: {"qps": v.qps, "p50_ms": v.p50_ms, "p99_ms": v.p99_ms}
            for c, v in setup["ours"]["floor"].items()
        }
    return {
        "dataset": ds.name,
        "points": ds.n,
        "dim": ds.dim,
        "queries": len(ds.queries),
        "env": env,
        "setup": setup,
        "results": grid,
        "notes": results.notes,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
