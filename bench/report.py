"""The markdown report of a run: the command, dataset, machine and settings; loading and
indexing; the query table of Tessera beside FAISS and qdrant-edge; gRPC; the REST request floor;
client overhead; the paired runs; and the verdict on each of the project's targets (``targets``),
by the paired run where there is one and by the sweeps otherwise.
"""

from __future__ import annotations

import argparse

import numpy as np
from data import Dataset
from grid import FILTER_LABEL, Results, filtered_point, operating_point
from paired import Pair

LOADGEN_LABEL = {
    "asyncio": "pre-encoded requests, one asyncio loop",
    "threads": "http.client threads + orjson bodies",
}
GRPC_LOADGEN_LABEL = {
    "asyncio": "raw HTTP/2 connections of one asyncio loop (bench/h2load.py)",
    "threads": "a grpcio channel and a thread per client",
}


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
    m = setup.get("memory")
    if m:
        per = [r["bytes_per_point"] for r in m["rounds"]]
        w(
            f"Tessera memory as a qdrant-client user pays it (bench/memory.py: fresh node, "
            f"`upload_collection` over gRPC, parallel 2, batch 512, until green; "
            f"{len(per)} rounds): median **{m['bytes_per_point']:,.0f} bytes/point** "
            f"({min(per):,}–{max(per):,}); the same storage after a restart "
            f"{m['bytes_per_point_after_restart']:,.0f} bytes/point (the data alone)"
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
    m = setup.get("memory")
    if m:
        ok = m["bytes_per_point"] <= 2000
        lines.append(
            f"{verdict(ok)} — memory after a qdrant-client gRPC load, median of "
            f"{len(m['rounds'])} rounds: {m['bytes_per_point']:,.0f} bytes/point (target ≤ 2,000)"
        )
    elif o and o.get("rss_per_point") is not None:
        ok = o["rss_per_point"] <= 2000
        lines.append(
            f"{verdict(ok)} — RSS per point {o['rss_per_point']:,.0f} bytes (target ≤ 2,000)"
        )
    else:
        lines.append(f"{verdict(None)} — RSS per point")
    return lines
