"""The scale bench's markdown: load and memory per (config, N), search cells side by side for the
smallest and largest N, the growth between them and the issue's targets, so a reader sees at a
glance what grows with the collection and by how much."""

from __future__ import annotations

from typing import Any

# (config, what) -> bytes-per-point limit of the issue (at the largest N)
RSS_TARGETS = {"memory": 2000, "on_disk": 600, "int8": 800, "int8_on_disk": 800}
INT8_RECALL = 0.95


def _f(value: Any, fmt: str = ",.1f") -> str:
    return "—" if value is None else format(value, fmt)


def _ratio(a: Any, b: Any) -> str:
    return "—" if not a or b is None else f"{b / a:.1f}×"


def _cell(run: dict, key: str | None, ef: int) -> dict | None:
    for cell in run.get("search", []):
        if cell["filter"] == key and cell["ef"] == ef:
            return cell
    return None


def _label(key: str | None) -> str:
    return {None: "none", "10": "10%", "01": "1%"}[key]


def load_table(runs: list[dict]) -> list[str]:
    rows = ["| config | points | load s | points/s | green after load s | RSS before → after MiB "
            "| B/pt (anon + file) | peak RSS MiB | disk B/pt |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        if "error" in r and "load_s" not in r:
            rows.append(f"| {r['config']} | {r['points']:,} | failed: {r['error'][:120]} |"
                        " | | | | | |")
            continue
        before = r.get("mem_before", {}).get("VmRSS", 0) / 2**20
        after = r.get("mem_green", {}).get("VmRSS", 0) / 2**20
        peak = r.get("mem_end", r.get("mem_green", {})).get("VmHWM", 0) / 2**20
        rows.append(
            f"| {r['config']} | {r['points']:,} | {_f(r.get('load_s'))} | "
            f"{_f(r['points'] / r['load_s'], ',.0f')} | {_f(r.get('green_after_load_s'))} | "
            f"{before:,.0f} → {after:,.0f} | {_f(r.get('VmRSS_per_point'), ',.0f')} "
            f"({_f(r.get('RssAnon_per_point'), ',.0f')} + {_f(r.get('RssFile_per_point'), ',.0f')})"
            f" | {peak:,.0f} | {_f(r.get('disk_bytes', 0) / r['points'], ',.0f')} |")
    return rows


def search_table(small: list[dict], large: list[dict], n_small: int, n_large: int) -> list[str]:
    s, lg = f"{n_small // 1000}k", f"{n_large // 1000}k"
    rows = [f"| config | filter | ef | {s} p50 / p99 ms | {s} QPS | {s} recall@10 "
            f"| {lg} p50 / p99 ms | {lg} QPS | {lg} recall@10 |",
            "|---|---|---|---|---|---|---|---|---|"]
    by_config = {r["config"]: r for r in small}
    for r in large:
        a = by_config.get(r["config"], {})
        for cell in r.get("search", []):
            key, ef = cell["filter"], cell["ef"]
            c0 = _cell(a, key, ef) if a else None

            def fmt(c):
                if c is None:
                    return "— | — | —"
                err = f" ({c['errors']} errors)" if c["errors"] else ""
                return (f"{_f(c['p50_ms'])} / {_f(c['p99_ms'])} | {_f(c['qps'], ',.0f')}{err} "
                        f"| {c['recall10']:.3f}")

            rows.append(f"| {r['config']} | {_label(key)} | {ef} | {fmt(c0)} | {fmt(cell)} |")
    return rows


def growth_table(small: list[dict], large: list[dict], n_small: int, n_large: int) -> list[str]:
    rows = [f"| config | load s | green s | B/pt | unfiltered ef 64 p50 ms | ef 64 recall@10 "
            f"| 10% ef 64 p50 ms | 1% ef 64 p50 ms |  ({n_small:,} → {n_large:,}) |",
            "|---|---|---|---|---|---|---|---|---|"]
    by_config = {r["config"]: r for r in small}
    for r in large:
        a = by_config.get(r["config"])
        if not a:
            continue
        cells = []
        for key in (None, "10", "01"):
            c0, c1 = _cell(a, key, 64), _cell(r, key, 64)
            cells.append((c0, c1))
        u0, u1 = cells[0]

        def arrow(x, y, fmt=",.1f"):
            return f"{_f(x, fmt)} → {_f(y, fmt)} ({_ratio(x, y)})"

        rec = (f"{u0['recall10']:.3f} → {u1['recall10']:.3f}" if u0 and u1 else "—")
        p50 = [arrow(c0 and c0["p50_ms"], c1 and c1["p50_ms"]) for c0, c1 in cells]
        rows.append(
            f"| {r['config']} | {arrow(a.get('load_s'), r.get('load_s'))} "
            f"| {arrow(a.get('green_after_load_s'), r.get('green_after_load_s'))} "
            f"| {arrow(a.get('VmRSS_per_point'), r.get('VmRSS_per_point'), ',.0f')} "
            f"| {p50[0]} | {rec} | {p50[1]} | {p50[2]} | |")
    return rows


def targets(large: list[dict]) -> list[str]:
    out = []
    for r in large:
        limit = RSS_TARGETS.get(r["config"])
        bpp = r.get("VmRSS_per_point")
        if limit is not None and bpp is not None:
            verdict = "met" if bpp <= limit else "not met"
            out.append(f"- **{verdict}** — {r['config']} RSS per point at {r['points']:,}: "
                       f"{bpp:,.0f} B (target ≤ {limit:,})")
        if r["config"].startswith("int8"):
            best = max((c["recall10"] for c in r.get("search", []) if c["filter"] is None),
                       default=None)
            if best is not None:
                verdict = "met" if best >= INT8_RECALL else "not met"
                out.append(f"- **{verdict}** — {r['config']} + rescoring unfiltered recall@10 "
                           f"(best ef): {best:.3f} (target ≥ {INT8_RECALL})")
    return out


def markdown(results: dict) -> str:
    runs = results["runs"]
    sizes = sorted({r["points"] for r in runs})
    lines = [f"git {results['env'].get('git')}", "", "### Load and memory", ""]
    lines += load_table(runs)
    small = [r for r in runs if r["points"] == sizes[0]] if len(sizes) > 1 else []
    large = [r for r in runs if r["points"] == sizes[-1]]
    lines += ["", "### Search (every query once, REST)", ""]
    lines += search_table(small, large, sizes[0], sizes[-1])
    if len(sizes) > 1:
        lines += ["", f"### Growth {sizes[0]:,} → {sizes[-1]:,}", ""]
        lines += growth_table(small, large, sizes[0], sizes[-1])
    lines += ["", "### Targets", ""] + targets(large)
    notes = [f"- {r['config']} N={r['points']:,}: {n}" for r in runs for n in r.get("notes", [])]
    notes += [f"- {r['config']} N={r['points']:,}: ERROR {r['error']}"
              for r in runs if "error" in r]
    if notes:
        lines += ["", "### Notes", ""] + notes
    return "\n".join(lines)
