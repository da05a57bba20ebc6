"""`tessera snapshot create | list | download | restore`: Qdrant's snapshot routes (a
collection's on the node asked, or the full storage with --full), with progress bars for the
bytes moved and SHA-256 checked: a download against the checksum the server lists, an upload by
the server against the checksum the CLI sends."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from tessera.cli.client import USAGE, CliError, server_message
from tessera.cli.output import Session, choice, session, table

app = typer.Typer(help="Snapshots: create, list, download, restore.", no_args_is_help=True)

PRIORITY = choice("Priority", ["no_sync", "snapshot", "replica"])
CHUNK = 1 << 20


def _base(name: str | None, full: bool) -> str:
    if full:
        return "/snapshots"
    if not name:
        raise CliError("a collection name is needed (or --full)", USAGE)
    return f"/collections/{name}/snapshots"


def _bar(s: Session) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=s.err,
                    disable=s.json)


def _snapshots_table(rows: list[dict]):
    return table(None, ["NAME", "CREATED", "SIZE", "SHA256"],
                 [(r.get("name"), r.get("creation_time"), r.get("size"), r.get("checksum"))
                  for r in rows])


@app.command("create", epilog="Example: tessera snapshot create movies  |  "
                              "tessera snapshot create --full")
def create(ctx: typer.Context,
           name: str = typer.Argument(None, help="collection (omit with --full)"),
           full: bool = typer.Option(False, "--full", help="every collection of the node")) -> None:
    """Take a snapshot on the node asked and wait for it (JSON: SnapshotDescription)."""
    s = session(ctx)
    result = s.api.post(_base(name, full), params={"wait": "true"})
    s.emit(result, lambda: s.out.print(_snapshots_table([result])))


@app.command("list", epilog="Example: tessera snapshot list movies -o json")
def list_(ctx: typer.Context, name: str = typer.Argument(None, help="collection"),
          full: bool = typer.Option(False, "--full", help="full-storage snapshots")) -> None:
    """The snapshots the node asked holds."""
    s = session(ctx)
    rows = s.api.get(_base(name, full))
    s.emit(rows, lambda: s.out.print(_snapshots_table(rows)))


@app.command("download", epilog="Example: tessera snapshot download movies "
                                "movies-2025-01-01.snapshot -o movies.snapshot")
def download(ctx: typer.Context, name: str = typer.Argument(None, help="collection"),
             snap: str = typer.Argument(..., help="snapshot name"),
             file: Path = typer.Option(None, "--file", "-o", help="where to (default: SNAP)"),
             full: bool = typer.Option(False, "--full", help="a full-storage snapshot")) -> None:
    """Download a snapshot with a progress bar; its SHA-256 is checked against the listing."""
    s = session(ctx)
    if full and snap is None:
        raise CliError("the snapshot name is needed", USAGE)
    base = _base(name, full)
    listed = {d["name"]: d for d in s.api.get(base)}
    expected = (listed.get(snap) or {}).get("checksum")
    target = file or Path(snap)
    digest = hashlib.sha256()
    partial = target.with_name(target.name + ".part")
    with s.api.http.stream("GET", f"{base}/{snap}") as resp:
        if resp.status_code >= 400:
            resp.read()
            raise CliError(f"GET {base}/{snap}: {resp.status_code} {server_message(resp)}")
        total = int(resp.headers.get("content-length") or 0) or None
        with _bar(s) as bar, open(partial, "wb") as out:
            task = bar.add_task(f"download {snap}", total=total)
            for chunk in resp.iter_bytes(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                bar.advance(task, len(chunk))
    checksum = digest.hexdigest()
    if expected and expected != checksum:
        partial.unlink(missing_ok=True)
        raise CliError(f"checksum mismatch for {snap}: the server lists {expected}, "
                       f"the download is {checksum}")
    os.replace(partial, target)
    doc = {"name": snap, "file": str(target), "size": target.stat().st_size,
           "checksum": checksum, "verified": bool(expected)}
    s.emit(doc, lambda: s.out.print(
        f"saved {target} ({doc['size']} bytes, sha256 {checksum}"
        + (", verified)" if expected else ", no checksum listed to verify)")))


class _Reading:
    """A file whose reads advance a progress bar (what httpx's multipart body reads)."""

    def __init__(self, handle: BinaryIO, advance) -> None:
        self.handle, self.advance = handle, advance

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.advance(len(data))
        return data

    def seek(self, *args):
        return self.handle.seek(*args)

    def tell(self) -> int:
        return self.handle.tell()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@app.command("restore", epilog="Example: tessera snapshot restore movies ./movies.snapshot "
                               "--priority snapshot")
def restore(ctx: typer.Context, name: str = typer.Argument(..., help="collection"),
            source: str = typer.Argument(..., help="a local FILE (uploaded) or a URL the "
                                         "server fetches (http://, https://, file://)"),
            priority: PRIORITY = typer.Option(None, "--priority",  # type: ignore[valid-type]
                                         help="source of truth against other replicas")) -> None:
    """Recover a collection from a snapshot file (uploaded, checksum sent) or URL."""
    s = session(ctx)
    priority = priority.value if priority is not None else None
    doc: dict = {"collection": name, "source": source, "priority": priority, "checksum": None}
    if source.startswith(("http://", "https://", "file://")):
        body = {"location": source}
        if priority:
            body["priority"] = priority
        s.api.put(f"/collections/{name}/snapshots/recover", params={"wait": "true"}, json=body)
    else:
        path = Path(source)
        if not path.is_file():
            raise CliError(f"no such file: {source}", USAGE)
        checksum = _sha256(path)
        params = {"wait": "true", "checksum": checksum}
        if priority:
            params["priority"] = priority
        with _bar(s) as bar, open(path, "rb") as handle:
            task = bar.add_task(f"upload {path.name}", total=path.stat().st_size)
            reading = _Reading(handle, lambda n: bar.advance(task, n))
            s.api.post(f"/collections/{name}/snapshots/upload", params=params,
                       files={"snapshot": (path.name, reading, "application/octet-stream")})
        doc["checksum"] = checksum
    doc["restored"] = True
    s.emit(doc, lambda: s.out.print(f"restored collection {name} from {source}"))
