"""`tessera peer drain | remove`: empty a peer of replicas (move_shard, one at a time, to
peers that lack the shard) and take it out of the cluster (``DELETE /cluster/peer/{id}``)."""

from __future__ import annotations

import typer

from tessera.cli import planner, transfer
from tessera.cli.client import FAILED, CliError
from tessera.cli.layout import collection_names, layout, peer_ids
from tessera.cli.output import session, table

app = typer.Typer(help="Peers: drain one of replicas, remove one.", no_args_is_help=True)


def _moves_table(title: str, moves: list[dict]):
    return table(title, ["COLLECTION", "SHARD", "FROM", "TO", "RESULT", "DETAIL"],
                 [(m["collection"], m["shard_id"], m["from"], m["to"], m.get("result", "planned"),
                   m.get("detail")) for m in moves])


@app.command("drain", epilog="Example: tessera peer drain 3 --wait")
def drain(
    ctx: typer.Context,
    peer: int = typer.Argument(..., help="peer id to empty"),
    wait: bool = typer.Option(False, "--wait", help="move one replica at a time, each followed "
                              "to its end, then check the peer holds nothing"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the moves, start none"),
    timeout: float = typer.Option(600.0, "--wait-timeout", help="seconds per move at most"),
) -> None:
    """Move every replica off a peer (all collections) to peers that lack that shard."""
    s = session(ctx)
    peers = peer_ids(s.api)
    if peer not in peers:
        raise CliError(f"peer {peer} is not in the cluster (peers: "
                       f"{', '.join(map(str, peers))})")
    names = collection_names(s.api)
    plan = [m for n in names for m in planner.drain(layout(s.api, n), peer, peers)]
    if dry_run:
        docs = [dict(m.document(), result="planned" if m.target is not None else "skipped")
                for m in plan]
        s.emit({"peer_id": peer, "dry_run": True, "moves": docs, "remaining": None},
               lambda: s.out.print(_moves_table(f"drain peer {peer} (dry run)", docs)))
        return
    if not s.json:
        s.err.print(_moves_table(f"drain peer {peer}: plan", [m.document() for m in plan]))
    done = transfer.execute(s, plan, wait=wait, timeout=timeout)
    remaining = None
    if wait:
        remaining = sum(peer in shard.peers() for n in names for shard in layout(s.api, n).shards)
    ok = all(d["result"] in ("finished", "started") for d in done) and not remaining
    doc = {"peer_id": peer, "dry_run": False, "moves": done, "remaining": remaining}

    def human() -> None:
        s.out.print(_moves_table(f"drain peer {peer}", done))
        if remaining is not None:
            s.out.print(f"peer {peer} holds {remaining} replica(s)")

    s.emit(doc, human)
    if not ok:
        raise typer.Exit(FAILED)


@app.command("remove", epilog="Example: tessera peer remove 3 --force")
def remove(
    ctx: typer.Context,
    peer: int = typer.Argument(..., help="peer id"),
    force: bool = typer.Option(False, "--force", help="even if it still holds replicas"),
) -> None:
    """Remove a peer from the cluster (the server refuses while it holds shards, unless --force)."""
    s = session(ctx)
    s.api.delete(f"/cluster/peer/{peer}", params={"force": str(force).lower()})
    s.emit({"peer_id": peer, "removed": True, "force": force},
           lambda: s.out.print(f"removed peer {peer}"))
