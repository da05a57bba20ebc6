"""The `tessera` command tree (typer): the global connection and output options, `serve`
handed to its argparse parser untouched, and one sub-command group per module."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer

from tessera import __version__
from tessera.cli import cluster, collection, peer, rebalance, shard, snapshot, top
from tessera.cli.client import DEFAULT_URL, Api, CliError
from tessera.cli.output import Session, choice

OUTPUTS = choice("Output", ["table", "json"])

app = typer.Typer(
    name="tessera",
    help="Tessera: run a node (serve) or operate a cluster through any node's REST API "
         "(Qdrant's API, so the admin commands work against Qdrant too).",
    epilog="Example: tessera --url http://10.0.0.1:6333 cluster status -o json",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tessera {__version__}")
        raise typer.Exit(0)


@app.callback()
def options(
    ctx: typer.Context,
    url: str = typer.Option(DEFAULT_URL, "--url", envvar="QDRANT_URL",
                            help="any node's REST address"),
    api_key: str = typer.Option(None, "--api-key", envvar="QDRANT_API_KEY",
                                help="sent as the api-key header"),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="seconds per request"),
    output: OUTPUTS = typer.Option("table", "--output", "-o",  # type: ignore[valid-type]
                               help="table for people, json for scripts (see README)"),
    no_color: bool = typer.Option(False, "--no-color",
                                  help="plain text, no colour (also when NO_COLOR is set)"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="print the version and exit"),
) -> None:
    """Global options; they go before the command."""
    ctx.obj = Session(Api(url=url, api_key=api_key, timeout=timeout), output=output.value,
                      no_color=no_color or bool(os.environ.get("NO_COLOR")))
    ctx.call_on_close(ctx.obj.api.close)


@app.command(
    "serve",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
    epilog="Example: tessera serve --http-port 6333 --storage-path ./storage",
)
def serve_command(ctx: typer.Context) -> None:
    """Run a node until SIGTERM or SIGINT (flags: tessera serve --help)."""
    from tessera.cli import serve

    raise typer.Exit(serve.run(["serve", *ctx.args]))


app.add_typer(cluster.app, name="cluster")
app.add_typer(collection.app, name="collection")
app.add_typer(shard.app, name="shard")
app.add_typer(peer.app, name="peer")
app.add_typer(snapshot.app, name="snapshot")
app.command("rebalance", epilog=rebalance.EXAMPLE)(rebalance.rebalance)
app.command("top", epilog=top.EXAMPLE)(top.top)


def run(argv: Sequence[str]) -> int:
    """Run the typer app on ARGV; the exit code (errors as one line on stderr)."""
    try:
        app(args=list(argv), prog_name="tessera", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except CliError as exc:
        print(f"tessera: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("tessera: interrupted", file=sys.stderr)
        return 130
    return 0
