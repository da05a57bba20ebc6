"""`tessera collection list | info | create | delete`: Qdrant's collection routes."""

from __future__ import annotations

import sys

import typer

from tessera.cli.client import USAGE, CliError
from tessera.cli.output import choice, session, table

app = typer.Typer(help="Collections: list, inspect, create, delete.", no_args_is_help=True)

DISTANCE = choice("Distance", ["Cosine", "Euclid", "Dot", "Manhattan"])


def _summary(name: str, info: dict) -> dict:
    params = info.get("config", {}).get("params", {})
    vectors = params.get("vectors", {})
    if isinstance(vectors, dict) and "size" in vectors:
        vectors = {"": vectors}
    return {
        "name": name,
        "status": info.get("status"),
        "points_count": info.get("points_count"),
        "shards": params.get("shard_number"),
        "replication_factor": params.get("replication_factor"),
        "vectors": {k: {"size": v.get("size"), "distance": v.get("distance")}
                    for k, v in (vectors or {}).items()},
    }


@app.command("list", epilog="Example: tessera collection list -o json")
def list_(ctx: typer.Context) -> None:
    """Every collection with its status, points, shards and replication factor."""
    s = session(ctx)
    names = sorted(c["name"] for c in s.api.get("/collections")["collections"])
    rows = [_summary(n, s.api.get(f"/collections/{n}")) for n in names]

    def human() -> None:
        def vec(r: dict) -> str:
            return ", ".join(f"{k or '-'}:{v['size']}/{v['distance']}"
                             for k, v in r["vectors"].items())

        s.out.print(table(None, ["NAME", "STATUS", "POINTS", "SHARDS", "REPLICAS", "VECTORS"],
                          [(r["name"], r["status"], r["points_count"], r["shards"],
                            r["replication_factor"], vec(r)) for r in rows]))

    s.emit(rows, human)


@app.command("info", epilog="Example: tessera collection info movies -o json")
def info(ctx: typer.Context, name: str = typer.Argument(..., help="collection")) -> None:
    """A collection's status, counts and configuration (JSON: Qdrant's CollectionInfo + name)."""
    s = session(ctx)
    result = s.api.get(f"/collections/{name}")
    doc = {"name": name, **result}

    def human() -> None:
        summary = _summary(name, result)
        params = result.get("config", {}).get("params", {})
        rows = [("name", name), ("status", result.get("status")),
                ("optimizer_status", result.get("optimizer_status")),
                ("points_count", result.get("points_count")),
                ("indexed_vectors_count", result.get("indexed_vectors_count")),
                ("segments_count", result.get("segments_count")),
                ("shard_number", params.get("shard_number")),
                ("replication_factor", params.get("replication_factor")),
                ("write_consistency_factor", params.get("write_consistency_factor")),
                ("sharding_method", params.get("sharding_method", "auto"))]
        rows += [(f"vectors[{k or 'default'}]", f"size {v['size']}, {v['distance']}")
                 for k, v in summary["vectors"].items()]
        s.out.print(table(None, ["FIELD", "VALUE"], rows))

    s.emit(doc, human)


@app.command("create", epilog="Example: tessera collection create movies --size 384 "
                              "--distance Cosine --shards 3 --replicas 2")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="collection"),
    size: int = typer.Option(..., "--size", min=1, help="vector dimension"),
    distance: DISTANCE = typer.Option("Cosine", "--distance"),  # type: ignore[valid-type]
    shards: int = typer.Option(None, "--shards", min=1, help="shard_number"),
    replicas: int = typer.Option(None, "--replicas", min=1, help="replication_factor"),
    write_consistency: int = typer.Option(None, "--write-consistency", min=1,
                                          help="write_consistency_factor"),
    on_disk: bool = typer.Option(False, "--on-disk", help="vectors on disk"),
) -> None:
    """Create a collection with one unnamed dense vector."""
    s = session(ctx)
    vectors: dict = {"size": size, "distance": distance.value}
    if on_disk:
        vectors["on_disk"] = True
    body: dict = {"vectors": vectors}
    for key, value in (("shard_number", shards), ("replication_factor", replicas),
                       ("write_consistency_factor", write_consistency)):
        if value is not None:
            body[key] = value
    s.api.put(f"/collections/{name}", json=body)
    s.emit({"name": name, "created": True, "config": body},
           lambda: s.out.print(f"created collection {name}"))


@app.command("delete", epilog="Example: tessera collection delete movies --yes")
def delete(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="collection"),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask"),
) -> None:
    """Delete a collection and its points (asks first unless --yes)."""
    s = session(ctx)
    if not yes:
        if not sys.stdin.isatty():
            raise CliError(f"deleting {name} needs --yes when not run from a terminal", USAGE)
        if not typer.confirm(f"Delete collection {name} and all its points?"):
            raise typer.Exit(1)
    deleted = s.api.delete(f"/collections/{name}")
    if deleted is False:
        raise CliError(f"collection {name} was not deleted (the server answered false)")
    s.emit({"name": name, "deleted": True}, lambda: s.out.print(f"deleted collection {name}"))
