"""The `tessera` command: `tessera serve` runs a node (`tessera.cli.serve`, argparse, as it
always was); every other command is a client of a node's public REST API (`tessera.cli.app`,
one module per command group).

The serve helpers stay importable from here (`build_settings`, `overrides_from_args`, ...).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

from tessera.cli.serve import _parse_serve, build_parser, build_settings, overrides_from_args

__all__ = ["main", "build_parser", "build_settings", "overrides_from_args", "_parse_serve"]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        from tessera.cli import serve

        return serve.run(args)
    from tessera.cli.app import run

    if not args:  # the help, on stderr, and the usage error's code
        with contextlib.redirect_stdout(sys.stderr):
            run(["--help"])
        return 2
    return run(args)
