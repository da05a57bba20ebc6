"""`tessera shard list | move | replicate | drop-replica | abort`: a collection's replicas and
the operator's shard operations (Qdrant's ``POST /collections/{name}/cluster``)."""

from __future__ import annotations

import typer

from tessera.cli import transfer
from tessera.cli.client import FAILED
from tessera.cli.layout import layout
from tessera.cli.output import Session, choice, session, table

app = typer.Typer(help="Shards and replicas of a collection.", no_args_is_help=True)

METHOD = choice("Method", ["stream_records", "snapshot", "wal_delta"])


def shard_document(s: Session, collection: str) -> dict:
    view = layout(s.api, collection)
    params = s.api.get(f"/collections/{collection}").get("config", {}).get("params", {})
    factor = params.get("replication_factor", 1)
    shards, warnings = [], []
    for shard in view.shards:
        active = shard.active()
        shards.append({
            "shard_id": shard.shard_id, "shard_key": shard.shard_key,
            "replicas": [{"peer_id": r.peer_id, "state": r.state,
                          "points_count": r.points_count} for r in shard.replicas],
            "active_replicas": active, "under_replicated": active < factor})
        if active < factor:
            warnings.append(f"shard {shard.shard_id} has {active} Active replica(s) of "
                            f"replication factor {factor}")
    return {"collection": collection, "replication_factor": factor, "shards": shards,
            "transfers": [t.document() for t in view.transfers], "warnings": warnings}


@app.command("list", epilog="Example: tessera shard list movies -o json")
def list_(ctx: typer.Context, name: str = typer.Argument(..., help="collection")) -> None:
    """Shard → replicas (peer, state, points), transfers in progress, under-replication."""
    s = session(ctx)
    doc = shard_document(s, name)

    def human() -> None:
        rows = [(sh["shard_id"], "" if sh["shard_key"] is None else sh["shard_key"],
                 r["peer_id"], r["state"], r["points_count"])
                for sh in doc["shards"] for r in sh["replicas"]]
        s.out.print(table(f"{name}: replication factor {doc['replication_factor']}",
                          ["SHARD", "KEY", "PEER", "STATE", "POINTS"], rows))
        if doc["transfers"]:
            s.out.print(table("transfers", ["SHARD", "FROM", "TO", "METHOD", "PROGRESS"],
                              [(t["shard_id"], t["from"], t["to"], t["method"],
                                t["comment"]) for t in doc["transfers"]]))
        for warning in doc["warnings"]:
            s.err.print(f"warning: {warning}")

    s.emit(doc, human)


def _copy(ctx: typer.Context, operation: str, name: str, shard: int, source: int, target: int,
          method, wait: bool, timeout: float) -> None:
    s = session(ctx)
    method = method.value if method is not None else None
    transfer.start(s.api, name, operation, shard, source, target, method)
    doc: dict = {"collection": name, "operation": operation, "shard_id": shard,
                 "from": source, "to": target, "method": method, "accepted": True,
                 "waited": wait, "result": None, "elapsed": None, "detail": None}
    if not wait:
        s.emit(doc, lambda: s.out.print(
            f"{operation} of shard {shard} from peer {source} to peer {target} started "
            f"(follow it with: tessera shard list {name})"))
        return
    outcome = transfer.wait_for(s, name, shard, source, target, move=operation == "move_shard",
                            timeout=timeout)
    doc.update(result=outcome.result, elapsed=outcome.elapsed, detail=outcome.detail or None)
    s.emit(doc, lambda: s.out.print(
        f"{operation} of shard {shard} {source} → {target}: {outcome.result} in "
        f"{outcome.elapsed:.1f} s" + (f" ({outcome.detail})" if outcome.detail else "")))
    if outcome.result != "finished":
        raise typer.Exit(FAILED)


_SOURCE = typer.Option(..., "--from", help="peer id that holds the shard")
_TARGET = typer.Option(..., "--to", help="peer id to copy it to")
_METHOD = typer.Option(None, "--method",
                       help="transfer method (server default: stream_records)")
_WAIT = typer.Option(False, "--wait", help="follow the transfer with a progress bar")
_TIMEOUT = typer.Option(600.0, "--wait-timeout", help="seconds --wait waits at most")


@app.command("move", epilog="Example: tessera shard move movies 0 --from 1 --to 2 --wait")
def move(ctx: typer.Context, name: str = typer.Argument(..., help="collection"),
         shard: int = typer.Argument(..., help="shard id"), source: int = _SOURCE,
         target: int = _TARGET, method: METHOD = _METHOD, wait: bool = _WAIT,
         timeout: float = _TIMEOUT) -> None:
    """Move a replica to another peer (exit 1 if --wait sees it fail)."""
    _copy(ctx, "move_shard", name, shard, source, target, method, wait, timeout)


@app.command("replicate",
             epilog="Example: tessera shard replicate movies 0 --from 1 --to 3 --wait")
def replicate(ctx: typer.Context, name: str = typer.Argument(..., help="collection"),
              shard: int = typer.Argument(..., help="shard id"), source: int = _SOURCE,
              target: int = _TARGET, method: METHOD = _METHOD, wait: bool = _WAIT,
              timeout: float = _TIMEOUT) -> None:
    """Copy a replica to another peer, keeping the source (exit 1 if --wait sees it fail)."""
    _copy(ctx, "replicate_shard", name, shard, source, target, method, wait, timeout)


@app.command("drop-replica", epilog="Example: tessera shard drop-replica movies 0 --peer 3")
def drop_replica(ctx: typer.Context, name: str = typer.Argument(..., help="collection"),
                 shard: int = typer.Argument(..., help="shard id"),
                 peer: int = typer.Option(..., "--peer", help="peer whose replica goes")) -> None:
    """Remove one replica of a shard from a peer."""
    s = session(ctx)
    s.api.post(f"/collections/{name}/cluster",
               json={"drop_replica": {"shard_id": shard, "peer_id": peer}})
    s.emit({"collection": name, "operation": "drop_replica", "shard_id": shard,
            "peer_id": peer, "accepted": True},
           lambda: s.out.print(f"dropped the replica of shard {shard} on peer {peer}"))


@app.command("abort", epilog="Example: tessera shard abort movies 0 --from 1 --to 2")
def abort(ctx: typer.Context, name: str = typer.Argument(..., help="collection"),
          shard: int = typer.Argument(..., help="shard id"), source: int = _SOURCE,
          target: int = _TARGET) -> None:
    """Abort a transfer in progress."""
    s = session(ctx)
    s.api.post(f"/collections/{name}/cluster", json={"abort_transfer": {
        "shard_id": shard, "from_peer_id": source, "to_peer_id": target}})
    s.emit({"collection": name, "operation": "abort_transfer", "shard_id": shard,
            "from": source, "to": target, "accepted": True},
           lambda: s.out.print(f"aborted the transfer of shard {shard} {source} → {target}"))
