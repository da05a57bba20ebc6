"""Write-ahead log of one shard.

Every change is appended here before it is applied, so that a restart can replay what the last
flush did not capture. Records are framed ``[u32 length][u32 crc32][pickle of (op_num, op)]``,
an upsert's vectors pickled as one matrix per name (``node.wire.columnar``: a numpy array per
point costs microseconds to pickle, however small);
replay stops at the first torn or corrupt record (only the tail can be torn). The log is split in
files named by the first operation number they hold, so a flush can drop whole files.

The log never interprets operations; it only stores and returns them in order.
"""

from __future__ import annotations

import os
import pickle
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from node.durable import fsync_dir
from node.wire import columnar

_HEADER = struct.Struct("<II")


class WriteAheadLog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._file = None  # type: ignore[assignment]
        self._file_first_op: int | None = None
        self._dirty = False

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
        self._dirty = True

    def sync(self) -> None:
        """Make appended records durable (fsync): the promise behind wait=true."""
        if self._file is not None and self._dirty:
            os.fsync(self._file.fileno())
            self._dirty = False

    def _open_for(self, op_num: int) -> None:
        files = self._files()
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
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None
        for _, path in self._files():
            path.unlink()
        fsync_dir(self.directory)

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None
