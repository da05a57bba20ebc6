"""`tessera serve [flags]`: run a node (argparse, as it always was; the admin commands are
typer's, in the sibling modules).

Flags are the last configuration layer: each one becomes an override of a dotted key (see
`tessera.config`), so a flag beats the environment, which beats the config file.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from tessera import __version__
from tessera.config import ConfigError, Settings, load_settings
from tessera.startup_snapshots import StartupSnapshots

# flag destination -> dotted configuration key
_FLAG_KEYS: dict[str, str] = {
    "uri": "uri",
    "bootstrap": "bootstrap",
    "host": "service.host",
    "http_port": "service.http_port",
    "grpc_port": "service.grpc_port",
    "storage_path": "storage.storage_path",
    "log_level": "log_level",
}

_DISABLED = {"none", "null", "off", "disabled"}


def _port(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0..65535: {number}")
    return number


def _optional_port(text: str) -> int | None:
    if text.strip().lower() in _DISABLED:
        return None
    return _port(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tessera",
        description="Tessera: a vector search engine that speaks Qdrant's REST API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run a node until SIGTERM or SIGINT",
        description=(
            "Run a node. Settings come from built-in defaults, then the config file, then "
            "QDRANT__SECTION__KEY environment variables, then these flags."
        ),
    )
    # SUPPRESS: a flag that is not given is absent from the namespace, so it overrides nothing.
    quiet = argparse.SUPPRESS
    serve.add_argument(
        "--config-path", default=None, metavar="PATH",
        help="YAML config file (default: config/config.yaml when it exists)",
    )
    serve.add_argument(
        "--uri", default=quiet, metavar="URI",
        help="this peer's address for other peers, e.g. http://tessera-0:6335",
    )
    serve.add_argument(
        "--bootstrap", default=quiet, metavar="URI",
        help="an existing peer to join the cluster through",
    )
    serve.add_argument("--host", default=quiet, metavar="HOST", help="service.host")
    serve.add_argument(
        "--http-port", type=_port, default=quiet, metavar="N", help="service.http_port"
    )
    serve.add_argument(
        "--grpc-port", type=_optional_port, default=quiet, metavar="N",
        help="service.grpc_port ('none' turns gRPC off)",
    )
    serve.add_argument(
        "--storage-path", default=quiet, metavar="DIR", help="storage.storage_path"
    )
    serve.add_argument("--log-level", default=quiet, metavar="LEVEL", help="log_level")
    # Snapshots to recover before serving, as Qdrant's flags do (not configuration keys).
    serve.add_argument(
        "--snapshot", action="append", default=[], metavar="PATH:COLLECTION",
        type=_snapshot_flag,
        help="recover COLLECTION from the snapshot file PATH at start-up (repeatable)",
    )
    serve.add_argument(
        "--storage-snapshot", default=None, metavar="PATH",
        help="recover every collection and alias of the full snapshot PATH at start-up",
    )
    serve.add_argument(
        "--force-snapshot", action="store_true", default=False,
        help="let --snapshot / --storage-snapshot replace collections that exist",
    )
    return parser


def _snapshot_flag(text: str) -> tuple[str, str]:
    path, sep, name = text.rpartition(":")
    if not sep or not path or not name:
        raise argparse.ArgumentTypeError(f"expected PATH:COLLECTION, got {text!r}")
    return path, name


def overrides_from_args(args: argparse.Namespace) -> dict[str, object]:
    """The dotted-key overrides for the flags that were given."""
    given = vars(args)
    return {key: given[dest] for dest, key in _FLAG_KEYS.items() if dest in given}


def _parse_serve(argv: Sequence[str]) -> argparse.Namespace:
    argv = list(argv)
    if argv[:1] != ["serve"]:
        argv = ["serve", *argv]
    return build_parser().parse_args(argv)


def build_settings(
    argv: Sequence[str], environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings for `tessera serve ARGV` (the leading "serve" is optional); starts nothing.

    Bad flags exit through argparse (SystemExit 2); bad settings raise `ConfigError`.
    """
    args = _parse_serve(argv)
    return load_settings(args.config_path, environ=environ, overrides=overrides_from_args(args))


def _run_serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config_path, overrides=overrides_from_args(args))
    except ConfigError as exc:
        print(f"tessera: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        from tessera.server import serve
    except ModuleNotFoundError as exc:
        if exc.name != "tessera.server":
            raise
        print("tessera: the server (tessera.server) is not available", file=sys.stderr)
        return 1
    restore = StartupSnapshots(args.snapshot, args.storage_snapshot, args.force_snapshot)
    try:
        if restore:
            serve(settings, restore)
        else:  # the common start: the server's signature of old
            serve(settings)
    except KeyboardInterrupt:
        return 130
    return 0


def run(argv: Sequence[str]) -> int:
    """`tessera serve ARGV` (ARGV starts with "serve"): the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # --help, bad flags
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    # OpenMP threads that spin while idle steal the CPU the request threads need: let them
    # sleep (read when FAISS loads, so it is set before the server is imported).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # One BLAS thread per scoring call: parallelism comes from concurrent requests, and a
    # second BLAS thread only fights the event loop for the other core (p99 8.5 -> 2.4 ms
    # for 10%-filtered queries on minilm-75k, one client).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from node import heap

    heap.fix_mmap_threshold()  # before the first large allocation
    return _run_serve(args)
