"""`tessera rebalance NAME [--dry-run]`: the moves that even out a collection's replica count
per peer, printed before anything happens, then run one at a time with move_shard (the server
has no resharding of its own to ask)."""

from __future__ import annotations

import typer

from tessera.cli import planner, transfer
from tessera.cli.client import FAILED
from tessera.cli.layout import layout, peer_ids
from tessera.cli.output import session, table

EXAMPLE = "Example: tessera rebalance movies --dry-run -o json"


def rebalance(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="collection"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the moves, start none"),
    timeout: float = typer.Option(600.0, "--wait-timeout", help="seconds per move at most"),
) -> None:
    """Even out replicas per peer: plan, print, then move one shard at a time (waiting)."""
    s = session(ctx)
    peers = peer_ids(s.api)
    view = layout(s.api, name)
    plan = planner.rebalance(view, peers)
    before = view.counts(peers)
    after = planner.counts_after(view, peers, plan)

    def counts_table(title: str):
        return table(title, ["PEER", "REPLICAS NOW", "AFTER"],
                     [(p, before[p], after[p]) for p in sorted(before)])

    def moves_table(title: str, moves: list[dict]):
        return table(title, ["SHARD", "FROM", "TO", "RESULT"],
                     [(m["shard_id"], m["from"], m["to"], m.get("result", "planned"))
                      for m in moves])

    doc = {"collection": name, "dry_run": dry_run,
           "counts_before": {str(p): n for p, n in sorted(before.items())},
           "counts_after": {str(p): n for p, n in sorted(after.items())},
           "moves": [dict(m.document(), result="planned") for m in plan]}
    if dry_run or not plan:
        def human() -> None:
            s.out.print(counts_table(f"{name}: replicas per peer"))
            if plan:
                s.out.print(moves_table("moves (dry run)", doc["moves"]))
            else:
                s.out.print("balanced: nothing to move")

        s.emit(doc, human)
        return
    if not s.json:
        s.err.print(counts_table(f"{name}: replicas per peer"))
        s.err.print(moves_table("moves", doc["moves"]))
    doc["moves"] = transfer.execute(s, plan, wait=True, timeout=timeout)
    s.emit(doc, lambda: s.out.print(moves_table(f"{name}: rebalanced", doc["moves"])))
    if any(m["result"] != "finished" for m in doc["moves"]):
        raise typer.Exit(FAILED)
