"""What a command shows: a rich table (or lines) for people, one JSON document for scripts
(``-o json``, the shapes README documents), progress and errors on stderr so that stdout stays
parseable. Holds the per-invocation state the global options set (`Session`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tessera.cli.client import Api, CliError


def choice(name: str, values: list[str]) -> type[Enum]:
    """An Enum of string values, for a typer option that takes one of them."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]

#: Width for tables when stdout is not a terminal (a pipe, a test): wide enough not to fold.
PIPE_WIDTH = 200


def _console(stream, no_color: bool) -> Console:
    tty = stream.isatty()
    return Console(file=stream, no_color=no_color or not tty, highlight=False, markup=False,
                   width=None if tty else PIPE_WIDTH, soft_wrap=not tty)


@dataclass
class Session:
    """The global options of one `tessera ...` run."""

    api: Api
    output: str = "table"
    no_color: bool = False
    _out: Console | None = field(default=None, repr=False)
    _err: Console | None = field(default=None, repr=False)

    @property
    def json(self) -> bool:
        return self.output == "json"

    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = _console(sys.stdout, self.no_color)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = _console(sys.stderr, self.no_color)
        return self._err

    def emit(self, document: Any, human: Callable[[], None]) -> None:
        """JSON document to stdout with -o json, else the human rendering."""
        if self.json:
            sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
            sys.stdout.flush()
        else:
            human()

    def note(self, text: str) -> None:
        """A line for people on stderr (never mixed into JSON on stdout)."""
        self.err.print(text)


def session(ctx: typer.Context) -> Session:
    obj = ctx.find_root().obj
    if not isinstance(obj, Session):  # a command run without the root callback (tests)
        obj = Session(Api())
        ctx.find_root().obj = obj
    return obj


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    grid = Table(title=title, title_justify="left", box=None, header_style="bold",
                 pad_edge=False, show_edge=False)
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(Text("-" if cell is None else str(cell)) for cell in row))
    return grid


def fail(message: str, code: int = 1) -> CliError:
    return CliError(message, code)
