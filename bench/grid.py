"""What the sweeps measured: the ``Results`` grid (system -> (filter, ef) -> entry with one
``Cell`` per client count, recall and errors), the run's notes, the lookups of operating points
on it that both the paired runs and the target verdicts use, and the JSON form of a whole run.

The systems are "ours" (Tessera over REST), "ours-grpc-raw", "ours-client", "ours-grpc",
"faiss" and "edge"; the filter keys are None (unfiltered), "10" and "01" (FILTER_LABEL).
"""

from __future__ import annotations

from pathlib import Path

from data import Dataset
from loadgen import Cell

FILTER_LABEL = {None: "none", "10": "10%", "01": "1%"}


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
