"""A point-in-time copy of one local shard, and swapping a recovered copy into its place.

**The cut.** Under the write lock, for as long as it takes to hard-link a handful of files,
every file of the shard directory is linked into a staging directory and its size noted. The
shard is not flushed: what the last flush did not write is in the WAL, which goes in too (only
a graph saved since the last flush makes the cut flush first, so that the state names it).
That is the cut: it holds every write applied before the lock was taken and none after (a write
holds the lock from its WAL record to its last change, so no half-applied batch is in it). Why
links are enough:

* ``state.pkl`` and the HNSW graphs are replaced by rename, never rewritten: the link keeps the
  cut's version;
* vector files only grow (rows are never rewritten in place) and vacuum writes a new generation
  of files: the first ``size`` bytes stay what they were at the cut;
* the WAL only grows between flushes; the records appended after the flush, up to the cut, are in
  the first ``size`` bytes and are replayed when the copy opens.

Where a link is impossible (another filesystem) the file is copied, still under the lock. The
staged files are then streamed (``node.snapshot_archive.stream``) without the lock: into a file,
or straight to a peer. ``cut`` is a context manager that removes the staging directory after.

**The swap.** ``install(target, incoming)`` puts a verified shard directory in the place of
``target`` (whose shard must be closed) so that a kill -9 at any instant leaves either the old
directory or the new one: the new one is first renamed to ``<target>.recovered`` (complete by
then), then ``target`` to ``<target>.replaced`` and the new one to ``target``. ``finish_pending``,
run before a shard opens, completes or cleans up a swap a crash interrupted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from node.durable import fsync_dir
from node.shard import LocalShard
from node.snapshot_archive import Member

_SKIP_SUFFIXES = (".tmp", ".partial")


@contextlib.contextmanager
def cut(shard: LocalShard, staging_root: Path, prefix: str = "") -> Iterator[list[Member]]:
    """The shard's files at one instant, staged under ``staging_root`` for as long as the
    ``with`` block runs; member names are ``prefix`` + the path in the shard directory."""
    staging = staging_root / f"cut-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        members: list[Member] = []
        with shard.lock:
            shard.flush_for_cut()
            for path in sorted(shard.path.rglob("*")):
                if not path.is_file() or path.name.endswith(_SKIP_SUFFIXES):
                    continue
                relative = path.relative_to(shard.path).as_posix()
                staged = staging / relative
                staged.parent.mkdir(parents=True, exist_ok=True)
                size = path.stat().st_size
                try:
                    os.link(path, staged)
                except OSError:
                    _copy_prefix(path, staged, size)
                members.append(Member(prefix + relative, staged, size))
        yield members
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_prefix(source: Path, target: Path, size: int) -> None:
    with open(source, "rb") as src, open(target, "wb") as dst:
        left = size
        while left:
            chunk = src.read(min(left, 1 << 20))
            if not chunk:
                break
            dst.write(chunk)
            left -= len(chunk)


def strip_prefix(directory: Path, prefix: str) -> Path:
    """Where the files named ``prefix…`` of an extracted archive are."""
    return directory.joinpath(*[p for p in prefix.split("/") if p])


# -- the swap ------------------------------------------------------------------------------------
def _recovered(target: Path) -> Path:
    return target.with_name(target.name + ".recovered")


def _replaced(target: Path) -> Path:
    return target.with_name(target.name + ".replaced")


def _incoming(target: Path) -> Path:
    return target.with_name(target.name + ".incoming")


def install(target: Path, incoming: Path) -> None:
    """Swap the shard directory ``incoming`` (complete, verified) in for ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    moving, ready = _incoming(target), _recovered(target)
    shutil.rmtree(moving, ignore_errors=True)
    shutil.rmtree(ready, ignore_errors=True)
    shutil.move(str(incoming), str(moving))  # a copy if on another filesystem: not yet "ready"
    os.replace(moving, ready)
    fsync_dir(target.parent)
    finish_pending(target)


def finish_pending(target: Path) -> None:
    """Complete a swap that a crash interrupted (a ``.recovered`` directory is always whole),
    and remove what it left behind."""
    ready, old = _recovered(target), _replaced(target)
    shutil.rmtree(_incoming(target), ignore_errors=True)
    if ready.exists():
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(ready, target)
        fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)
