"""Write-ahead log of one shard.

Every change is appended here before it is applied, so that a restart can replay what the last
flush did not capture. Records are framed ``[u32 length][u32 crc32][pickle of (op_num, op)]``,
an upsert's vectors pickled as one matrix per name (``node.wire.columnar``: a numpy array per
point costs microseconds to pickle, however small);
replay stops at the first torn or corrupt record (only the tail can be torn). The log is split in
files named by the first operation number they hold, so a flush can drop whole files.

The log never interprets operations; it only stores and returns them in order.

A write acknowledged with wait=true must be fsynced, but not under the locks that order writes:
``deferred_syncs`` lets a caller (``Collection``) apply under its locks and fsync after them,
so one writer's fsync overlaps the next one's apply, and one fsync covers every record appended
before it began (group commit).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

from node.durable import fsync_dir
from node.wire import columnar

_HEADER = struct.Struct("<II")
_deferred = threading.local()  # .pending: WALs to sync, with the record count each must cover


@contextlib.contextmanager
def deferred_syncs() -> Iterator[None]:
    """Within this block (in this thread), ``WriteAheadLog.sync_or_defer`` only notes what to
    fsync; leaving it fsyncs each noted log through its noted records, also when the block
    raised (what was applied is then durable, as it would have been)."""
    outer = getattr(_deferred, "pending", None)
    if outer is not None:  # nested: the outermost block syncs
        yield
        return
    pending: dict[int, tuple[WriteAheadLog, int]] = {}
    _deferred.pending = pending
    try:
        yield
    finally:
        _deferred.pending = None
        for wal, records in pending.values():
            wal.sync_through(records)


class WriteAheadLog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._file = None  # type: ignore[assignment]
        self._file_first_op: int | None = None
        self._appended = 0  # records appended since opening (each flushed into the OS first)
        self._synced = 0  # of those, how many an fsync (or a flush's truncation) made durable
        self._sync_lock = threading.Lock()  # one fsync at a time; the file is not swapped under it
        self._fresh = False  # the next append starts a file of its own (after ``rotate``)

    # -- reading -----------------------------------------------------------------------------
    def _files(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.directory.glob("wal-*.log"):
            try:
                found.append((int(path.stem[4:]), path))
            except ValueError:
                continue
        return sorted(found)

    def replay(self, after_op: int) -> Iterator[tuple[int, dict]]:
        """Yield (op_num, op) for every intact record with op_num > after_op, in order."""
        for _, path in self._files():
            with open(path, "rb") as handle:
                data = handle.read()
            pos = 0
            while pos + _HEADER.size <= len(data):
                length, crc = _HEADER.unpack_from(data, pos)
                body = data[pos + _HEADER.size : pos + _HEADER.size + length]
                if len(body) < length or zlib.crc32(body) != crc:
                    # torn tail: cut it off so later appends start clean
                    with open(path, "r+b") as handle:
                        handle.truncate(pos)
                    break
                pos += _HEADER.size + length
                op_num, op = pickle.loads(body)
                if op_num > after_op:
                    yield op_num, op

    # -- writing -----------------------------------------------------------------------------
    def append(self, op_num: int, op: dict) -> None:
        if self._file is None:
            self._open_for(op_num)
        body = pickle.dumps((op_num, columnar(op)), protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(_HEADER.pack(len(body), zlib.crc32(body)) + body)
        self._file.flush()  # into the OS: survives kill -9 of this process
        self._appended += 1

    def sync(self) -> None:
        """Make appended records durable (fsync): the promise behind wait=true."""
        self.sync_through(self._appended)

    def sync_or_defer(self) -> None:
        """``sync``, or inside ``deferred_syncs`` a note to sync what is appended by now."""
        pending = getattr(_deferred, "pending", None)
        if pending is None:
            self.sync()
        else:
            pending[id(self)] = (self, self._appended)

    def sync_through(self, records: int) -> None:
        """Make the first ``records`` appended records durable. Callers need not hold the
        shard's lock: a writer that finds an fsync running waits for it, and then has nothing
        left to do if that fsync began after its own record was appended."""
        if self._synced >= records:
            return
        with self._sync_lock:
            if self._synced >= records:
                return
            target = self._appended  # all of them already flushed into the OS
            if self._file is not None:
                os.fsync(self._file.fileno())
            self._synced = max(self._synced, target)

    def rotate(self) -> list[Path]:
        """Close the current file so that the next append starts a new one; returns the files
        so far, for ``drop`` once a saved state holds every record in them."""
        self.close()
        self._fresh = True
        return [path for _, path in self._files()]

    def drop(self, files: list[Path]) -> None:
        """Remove files ``rotate`` returned (their records are in a durable state)."""
        for path in files:
            path.unlink(missing_ok=True)
        fsync_dir(self.directory)

    def _open_for(self, op_num: int) -> None:
        files = [] if self._fresh else self._files()
        self._fresh = False
        if files:
            first, path = files[-1]
        else:
            first, path = op_num, self.directory / f"wal-{op_num:020d}.log"
        self._file = open(path, "ab")
        self._file_first_op = first
        fsync_dir(self.directory)

    def truncate_through(self, op_num: int) -> None:
        """Drop records with numbers ≤ op_num (they are in a flushed state).

        The current file is closed and a new one begins with the next append; every older file
        holds only records ≤ op_num by then and is removed.
        """
        self.close()
        for _, path in self._files():
            path.unlink()
        fsync_dir(self.directory)

    def close(self) -> None:
        """fsync and close the file (a later append opens one); every record is durable."""
        with self._sync_lock:  # not while a deferred sync uses the file
            if self._file is not None:
                if self._synced < self._appended:
                    os.fsync(self._file.fileno())
                self._file.close()
                self._file = None
            self._synced = self._appended
