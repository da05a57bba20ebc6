"""The measurements of a run, in the order run.py calls them: Tessera (start or attach to the
node, upload and index, the REST / qdrant-client / gRPC query sweeps, the REST request floor, the
gRPC upload), raw FAISS, qdrant-edge, and the paired runs (a filter against no filter on the node;
Tessera against qdrant-edge) that the target verdicts prefer over the sweeps.

A sweep measures every (filter, ef, clients) cell of one system and then its recall, into
grid.Results; loading figures go into the ``setup`` dict, keyed by system. A step that fails
is skipped with a note in ``results.notes``, and the run goes on.
"""

from __future__ import annotations

from typing import Any

from data import Dataset, recall_at
from grid import FILTER_LABEL, Results, filtered_point, operating_point
from loadgen import Cell, Target, measure, warm
from paired import Pair, describe, measure_pair


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
