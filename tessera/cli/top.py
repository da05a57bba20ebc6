"""`tessera top`: a live terminal view, refreshed every second, of the peers (leader,
reachability), the collections (status, points, shards, replicas), request rate and mean
latency per node (the difference of two readings of ``/telemetry``'s ``requests`` section) and
the shard transfers in progress; ``q`` quits.

Request figures need each node's REST address: the ``--url`` node, plus any ``--node URL``.
"""

from __future__ import annotations

import select
import sys
import termios
import time
import tty
from contextlib import contextmanager

import typer
from rich.console import Group
from rich.live import Live

from tessera.cli.client import Api, CliError
from tessera.cli.cluster import status_document
from tessera.cli.layout import layout
from tessera.cli.output import Session, session, table

EXAMPLE = ("Example: tessera top --node http://10.0.0.2:6333 --node http://10.0.0.3:6333  "
           "(q quits)")

#: Endpoints a monitor polls: left out of the request rate, `top`'s own polling among them.
MONITORING = ("/telemetry", "/metrics", "/readyz", "/healthz", "/livez")


def request_totals(api: Api) -> tuple[int, float]:
    """(responses counted, their total duration in microseconds) of one node, monitoring left
    out."""
    report = api.get("/telemetry", params={"details_level": 1})
    responses = ((report.get("requests") or {}).get("rest") or {}).get("responses") or {}
    count, micros = 0, 0.0
    for endpoint, by_status in responses.items():
        if endpoint.split(" ", 1)[-1] in MONITORING:
            continue
        for figures in by_status.values():
            count += int(figures.get("count", 0))
            micros += float(figures.get("total_duration_micros")
                            or figures.get("avg_duration_micros", 0) * figures.get("count", 0))
    return count, micros


class Rates:
    """Per node: requests per second and mean latency between two readings."""

    def __init__(self, apis: list[Api]) -> None:
        self.apis = apis
        self.last: dict[str, tuple[float, int, float]] = {}

    def rows(self) -> list[tuple]:
        rows = []
        for api in self.apis:
            try:
                count, micros = request_totals(api)
            except CliError:
                rows.append((api.url, "unreachable", "-", "-"))
                continue
            now = time.monotonic()
            before = self.last.get(api.url)
            self.last[api.url] = (now, count, micros)
            if before is None or now <= before[0]:
                rows.append((api.url, count, "…", "…"))
                continue
            done = count - before[1]
            qps = done / (now - before[0])
            latency = (micros - before[2]) / done / 1000 if done > 0 else None
            rows.append((api.url, count, f"{qps:.1f}",
                         "-" if latency is None else f"{latency:.2f}"))
        return rows


def frame(s: Session, rates: Rates) -> Group:
    """One screen: peers, collections, requests, transfers."""
    parts = []
    try:
        doc = status_document(s.api.get("/cluster"))
        peers = [("*" if p["is_leader"] else "", p["id"], p["uri"], p["role"],
                  {True: "yes", False: "NO", None: "?"}[p["reachable"]]) for p in doc["peers"]]
        head = (f"tessera top · {s.api.url} · leader {doc['leader']} · term {doc['term']} · "
                f"{'healthy' if doc['healthy'] else 'UNHEALTHY'} · "
                f"{time.strftime('%H:%M:%S')} · q quits")
        parts.append(head)
        parts.append(table("peers", ["", "PEER", "URI", "ROLE", "REACHABLE"], peers
                           or [("", "-", "standalone", "-", "yes")]))
        names = sorted(c["name"] for c in s.api.get("/collections")["collections"])
        rows, transfers = [], []
        for name in names:
            info = s.api.get(f"/collections/{name}")
            params = info.get("config", {}).get("params", {})
            view = layout(s.api, name)
            rows.append((name, info.get("status"), info.get("points_count"),
                         params.get("shard_number"), params.get("replication_factor"),
                         sum(len(sh.replicas) for sh in view.shards)))
            transfers += [(name, t.shard_id, t.source, t.target, t.comment)
                          for t in view.transfers]
        parts.append(table("collections", ["NAME", "STATUS", "POINTS", "SHARDS",
                                           "REPLICATION", "REPLICAS"], rows))
        parts.append(table("requests", ["NODE", "RESPONSES", "QPS", "MEAN MS"], rates.rows()))
        parts.append(table("transfers", ["COLLECTION", "SHARD", "FROM", "TO", "PROGRESS"],
                           transfers or [("-", "", "", "", "none")]))
    except CliError as exc:
        parts.append(f"tessera top · {s.api.url} · error: {exc.message}")
    return Group(*parts)


@contextmanager
def _keys():
    """stdin in cbreak mode (keys one at a time, no echo) while the view runs."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _quit_pressed(wait: float) -> bool:
    ready, _, _ = select.select([sys.stdin], [], [], wait)
    return bool(ready) and sys.stdin.read(1).lower() == "q"


def top(
    ctx: typer.Context,
    nodes: list[str] = typer.Option(None, "--node", help="another node's REST address to "
                                    "show request figures of (repeatable)"),
    interval: float = typer.Option(1.0, "--interval", min=0.2, help="seconds between frames"),
    once: bool = typer.Option(False, "--once", help="print one frame and exit (no terminal "
                              "needed)"),
) -> None:
    """A live view of peers, collections, request rates and transfers (q quits)."""
    s = session(ctx)
    apis = [s.api] + [Api(url=u, api_key=s.api.api_key, timeout=s.api.timeout)
                      for u in nodes or []]
    rates = Rates(apis)
    try:
        if once or not sys.stdin.isatty():
            if not once:
                s.err.print("stdin is not a terminal: one frame (--once)")
            s.out.print(frame(s, rates))
            return
        s.api.get("/cluster")  # cannot reach the server: exit 3 before the screen is taken
        with _keys(), Live(frame(s, rates), console=s.out, screen=True,
                           auto_refresh=False) as live:
            while not _quit_pressed(interval):
                live.update(frame(s, rates), refresh=True)
    finally:
        for api in apis[1:]:
            api.close()
