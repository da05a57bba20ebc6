"""Scale bench: a real node loaded with up to 1,000,000 points (the minilm-75k set plus perturbed
copies, see scale_data.py), once per collection config, and the same at 75k, to show how load
time, time to green, memory and search figures grow with the collection.

    python bench/scale.py [--points 1000000] [--dataset /work/shared/datasets/minilm-75k]
                          [--configs memory,on_disk,int8,int8_on_disk] [--queries 500]
                          [--cache DIR]

Per (config, N): a fresh node (tests/support/node.py), VmRSS before the collection exists, the
collection (Cosine 384; ``on_disk: true`` vectors, scalar int8 with ``always_ram``, or both),
keyword payload indexes on ``f10`` / ``f01``, the points through qdrant-client ``upload_collection``
(gRPC, parallel 2, batch 512) made chunk by chunk, time to green (status green, every point
counted and indexed), VmRSS after green minus before per point, then every query once at
hnsw_ef 64 and 128, unfiltered and with the 10% and 1% filters, from ``--clients`` REST
threads: p50, p99, QPS and recall@10 against exact ground truth (int8: rescore, oversampling
``--oversampling``). Takes ~20 minutes at 1M on 2 cores; not part of ``make test``.
bench/scale_faiss.py gives FAISS HNSW's recall on the same points, to tell the data's difficulty
from the server's; results of 2026-12-07 in bench/results/scale-2026-12-07.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import scale_data  # noqa: E402
from loadgen import HttpQueryTarget  # noqa: E402
from scale_report import markdown  # noqa: E402

COLLECTION = "scale"
REAL_POINTS = 75_000


def log(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile and VmHWM of a process, in bytes (empty if it is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                    out[key] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def collection_body(config: str, m: int, ef_construct: int) -> dict[str, Any]:
    """PUT /collections body for one config (the server's own keys, as Qdrant spells them)."""
    vectors: dict[str, Any] = {"size": 384, "distance": "Cosine"}
    hnsw = {"m": m, "ef_construct": ef_construct}
    body: dict[str, Any] = {"vectors": vectors, "hnsw_config": hnsw}
    if config == "on_disk":
        vectors["on_disk"] = True
    elif config == "int8":
        body["quantization_config"] = {"scalar": {"type": "int8", "always_ram": True}}
    elif config == "int8_on_disk":  # Qdrant's memory-saving recipe: originals on disk, codes in RAM
        vectors["on_disk"] = True
        body["quantization_config"] = {"scalar": {"type": "int8", "always_ram": True}}
    elif config != "memory":
        raise ValueError(f"unknown config {config!r}")
    return body


def query_bodies(ds: scale_data.ScaleSet, config: str, ef: int, key: str | None,
                 oversampling: float) -> list[bytes]:
    params: dict[str, Any] = {"hnsw_ef": ef}
    if config.startswith("int8"):
        params["quantization"] = {"rescore": True, "oversampling": oversampling}
    out = []
    for vec in ds.queries:
        body: dict[str, Any] = {"query": vec, "limit": 10, "params": params}
        if key is not None:
            field = scale_data.FILTERS[key][0]
            body["filter"] = {"must": [{"key": field, "match": {"value": "y"}}]}
        out.append(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))
    return out


def run_queries(url: str, bodies: list[bytes], clients: int) -> tuple[dict, list[list[int]]]:
    """Every query once from ``clients`` keep-alive threads: latency percentiles, QPS, hits."""
    target = HttpQueryTarget(url, f"/collections/{COLLECTION}/points/query", bodies)
    answers: list[bytes | None] = [None] * len(bodies)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    next_q = [0]

    def loop(c: int) -> None:
        do = target.worker(c)
        try:
            while True:
                with lock:
                    q = next_q[0]
                    next_q[0] += 1
                if q >= len(bodies):
                    return
                t0 = time.perf_counter()
                try:
                    answers[q] = do(q)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t0)
        finally:
            target.close_worker(do)

    threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    lat = np.asarray(latencies) * 1000.0
    cell = {
        "queries": len(bodies),
        "answered": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "qps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
    }
    hits = [target.ids(a) if a is not None else [] for a in answers]
    return cell, hits


def recall10(hits: list[list[int]], gt: np.ndarray) -> float:
    return float(np.mean([len(set(h[:10]) & set(g[:10].tolist())) / 10
                          for h, g in zip(hits, gt, strict=True)]))


def upload(node, ds: scale_data.ScaleSet, parallel: int, batch: int) -> None:
    """upload_collection over gRPC from generators: one chunk (one copy) in memory at a time."""
    from qdrant_client import QdrantClient

    def vectors():
        for chunk in ds.chunks():
            yield from chunk.vectors

    client = QdrantClient(url=node.url, prefer_grpc=True, grpc_port=node.grpc_port, timeout=300)
    try:
        client.upload_collection(COLLECTION, vectors=vectors(), payload=ds.payloads(),
                                 ids=range(ds.points), batch_size=batch, parallel=parallel,
                                 wait=True)
    finally:
        client.close()


def wait_green(node, n: int, timeout: float) -> tuple[float | None, dict]:
    """Seconds until green with n points counted and ≥ 99% indexed; progress every 30 s."""
    t0 = time.perf_counter()
    last_log = t0
    info: dict = {}
    with httpx.Client(base_url=node.url, timeout=60) as http:
        while time.perf_counter() - t0 < timeout:
            if not node.running:
                raise RuntimeError(f"node exited (code {node.proc.poll()}) while indexing")
            try:
                resp = http.get(f"/collections/{COLLECTION}")
                if resp.status_code == 200:
                    info = resp.json()["result"]
                    indexed = info.get("indexed_vectors_count") or 0
                    if (info.get("status") == "green" and info.get("points_count") == n
                            and indexed >= 0.99 * n):
                        return time.perf_counter() - t0, info
            except httpx.HTTPError:
                pass
            if time.perf_counter() - last_log > 30:
                last_log = time.perf_counter()
                rss = proc_memory(node.proc.pid).get("VmRSS", 0) / 2**20
                log(f"  ... {last_log - t0:.0f} s: status {info.get('status')}, indexed "
                    f"{info.get('indexed_vectors_count')} of {info.get('points_count')}, "
                    f"RSS {rss:.0f} MiB")
            time.sleep(0.5)
    return None, info


def run_config(ds: scale_data.ScaleSet, gts: dict, config: str, args) -> dict[str, Any]:
    from tests.support.node import Node

    workdir = args.workdir / f"node-{config}-{ds.points}"
    shutil.rmtree(workdir, ignore_errors=True)
    node = Node(workdir)
    node.start().wait_ready(timeout=120)
    out: dict[str, Any] = {"config": config, "points": ds.points, "notes": []}
    try:
        pid = node.proc.pid
        time.sleep(1.0)
        out["mem_before"] = before = proc_memory(pid)
        body = collection_body(config, args.m, args.ef_construct)
        out["collection"] = body
        http = node.http
        resp = http.put(f"/collections/{COLLECTION}", json=body)
        resp.raise_for_status()
        for field, _ in scale_data.FILTERS.values():
            r = http.put(f"/collections/{COLLECTION}/index", params={"wait": "true"},
                         json={"field_name": field, "field_schema": "keyword"})
            if r.status_code != 200:
                out["notes"].append(f"payload index {field}: HTTP {r.status_code} {r.text[:200]}")
        log(f"{config} N={ds.points}: node pid {pid}, RSS {before.get('VmRSS', 0) / 2**20:.0f} "
            f"MiB; uploading (gRPC, parallel {args.parallel}, batch {args.batch}) ...")
        t0 = time.perf_counter()
        upload(node, ds, args.parallel, args.batch)
        out["load_s"] = time.perf_counter() - t0
        out["mem_after_load"] = proc_memory(pid)
        log(f"  loaded in {out['load_s']:.1f} s ({ds.points / out['load_s']:,.0f} points/s), "
            f"RSS {out['mem_after_load'].get('VmRSS', 0) / 2**20:.0f} MiB; waiting for green")
        green, info = wait_green(node, ds.points, args.green_timeout)
        out["green_after_load_s"] = green
        out["info"] = {k: info.get(k) for k in ("status", "points_count", "indexed_vectors_count",
                                                "segments_count")}
        if green is None:
            out["notes"].append(f"not green after {args.green_timeout:.0f} s: {out['info']}")
            log("  " + out["notes"][-1])
        time.sleep(1.0)
        out["mem_green"] = after = proc_memory(pid)
        for key in ("VmRSS", "RssAnon", "RssFile"):
            out[f"{key}_per_point"] = (after.get(key, 0) - before.get(key, 0)) / ds.points
        log(f"  green {green if green is None else round(green, 1)} s after the load; RSS "
            f"{after.get('VmRSS', 0) / 2**20:.0f} MiB = {out['VmRSS_per_point']:,.0f} B/pt "
            f"(anon {out['RssAnon_per_point']:,.0f}, file {out['RssFile_per_point']:,.0f})")
        disk = sum(f.stat().st_size for f in workdir.rglob("*") if f.is_file())
        out["disk_bytes"] = disk
        run_queries(node.url, query_bodies(ds, config, 64, None, args.oversampling)[:100],
                    args.clients)  # warm-up: connections, caches, page-ins
        out["search"] = []
        for key in (None, "10", "01"):
            for ef in args.ef:
                bodies = query_bodies(ds, config, ef, key, args.oversampling)
                cell, hits = run_queries(node.url, bodies, args.clients)
                cell.update(filter=key, ef=ef, recall10=recall10(hits, gts[key or "all"]))
                out["search"].append(cell)
                errs = f", {cell['errors']} errors: {cell['first_error']}" if cell["errors"] else ""
                log(f"  filter={key or '-':>2} ef={ef:<3} p50 {_ms(cell['p50_ms'])} ms, p99 "
                    f"{_ms(cell['p99_ms'])} ms, {cell['qps']:.0f} QPS, recall@10 "
                    f"{cell['recall10']:.3f}{errs}")
        out["mem_end"] = proc_memory(pid)
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        out["log_tail"] = node.log_text(4000)
        log(f"  FAILED: {out['error']}")
    finally:
        node.close_clients()
        node.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--dataset", type=Path, default=Path("/work/shared/datasets/minilm-75k"))
    p.add_argument("--configs", default="memory,on_disk,int8")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--cache", type=Path, default=Path("/tmp/scale-cache"))
    p.add_argument("--workdir", type=Path, default=Path("/tmp/scale-nodes"))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--ef", type=lambda s: [int(x) for x in s.split(",")], default=[64, 128])
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--oversampling", type=float, default=2.0, help="int8 rescoring")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construct", type=int, default=100)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--green-timeout", type=float, default=1800.0)
    p.add_argument("--no-small", action="store_true", help="skip the 75k runs")
    p.add_argument("--keep", action="store_true", help="keep node directories")
    p.add_argument("--json", type=Path, help="default bench/results/scale-N<points>-<date>.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from run import environment

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    sizes = [args.points] if args.no_small or args.points <= REAL_POINTS else [REAL_POINTS,
                                                                               args.points]
    env = environment()
    log(f"git {env.get('git')}, sizes {sizes}, configs {configs}")
    results: dict[str, Any] = {"env": env, "args": {k: str(v) for k, v in vars(args).items()},
                               "sets": {}, "runs": []}
    for n in sizes:
        ds = scale_data.ScaleSet(args.dataset, n, args.seed, args.queries)
        gts, gt_info = scale_data.ground_truth(ds, args.cache)
        results["sets"][str(n)] = {**ds.describe(), "ground_truth": gt_info}
        how = "cached" if gt_info["cached"] else f"computed in {gt_info['seconds']:.1f} s"
        log(f"N={n}: d_nn {ds.d_nn:.3f}, ground truth {how}, allowed {gt_info['allowed']}")
        for config in configs:
            results["runs"].append(run_config(ds, gts, config, args))
        del ds, gts
    out = args.json or BENCH / "results" / f"scale-N{args.points}-{time.strftime('%Y-%m-%d')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    print(markdown(results))
    log(f"wrote {out}")
    failed = [r for r in results["runs"] if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

