"""Dense vector storage of one named vector in one shard: an append-only row array.

Rows are addressed by the shard's internal offsets. In RAM mode the rows live in a numpy array and
a flush appends the new rows to the backing file; with ``on_disk`` the array *is* a memory map of
that file. Either way the file holds rows [0, persisted) after a flush, and rows are never
rewritten in place (a changed vector gets a new offset), which keeps the HNSW graph built over a
prefix valid.

Once an HNSW graph holds a copy of rows [0, n) (FAISS keeps its own float32 storage), a RAM
store *shares* that copy instead of keeping a second one: ``share_prefix`` swaps the store's own
rows [0, n) for a read-only view into the graph's storage, so every vector is held once.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

_MIN_CAPACITY = 1024
_TAIL_CAPACITY = 64  # rows, after share_prefix
_RESERVE_BYTES = 4 << 30  # address space a growing RAM store reserves (pages used on touch)
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)  # Linux's value (Python < 3.10)


def _rows(capacity: int, dim: int, dtype: np.dtype) -> np.ndarray:
    """Room for `capacity` rows, uninitialised: rows past ``count`` are never read. np.empty,
    not np.zeros: numpy asks for transparent huge pages only for the memory it does not zero,
    and on this kind of VM touching calloc'd 4 KB pages made a bulk load's appends ~8x dearer
    (200 MB: 0.33 s against 0.04 s)."""
    return np.empty((capacity, dim), dtype=dtype)


def _reserved_rows(capacity: int, dim: int, dtype: np.dtype) -> np.ndarray | None:
    """Room for at least `capacity` rows in a reservation of address space (anonymous,
    MAP_NORESERVE: only the pages written are memory), so that a growing store appends
    without copying what it holds. Doubling copied it each time, into fresh pages: on this
    kind of VM the first touch of a page is dear, and the last doublings of a 75k x 384 load
    took 1.2 s, all under the shard's lock. None when the reservation is refused (strict
    overcommit)."""
    row_bytes = dim * dtype.itemsize
    rows = max(capacity * 2, _RESERVE_BYTES // row_bytes)
    try:
        region = mmap.mmap(-1, rows * row_bytes,
                           flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE)
    except (OSError, ValueError, OverflowError):
        return None
    if hasattr(region, "madvise") and hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            region.madvise(mmap.MADV_HUGEPAGE)  # as numpy asks for its own large arrays
        except OSError:
            pass
    return np.frombuffer(region, dtype=dtype).reshape(rows, dim)


class Rows:
    """Rows [0, count) of a store that may be split in a shared prefix and its own tail.

    Supports what readers need: ``rows[i]``, ``rows[lo:hi]``, ``rows[offsets]`` (a sorted
    int array) and ``rows.rows_at(offsets)`` (any order); a slice within one part is a view,
    anything across the parts is a copy.
    """

    def __init__(self, prefix: np.ndarray | None, tail: np.ndarray, count: int) -> None:
        self.prefix = prefix
        self.split = 0 if prefix is None else len(prefix)
        self.tail = tail
        self.count = count

    def __len__(self) -> int:
        return self.count

    @property
    def shape(self) -> tuple[int, int]:
        return (self.count, self.tail.shape[1])

    def __getitem__(self, key):
        split = self.split
        if isinstance(key, (int, np.integer)):
            key = int(key)
            return self.prefix[key] if key < split else self.tail[key - split]
        if isinstance(key, slice):
            lo, hi, step = key.indices(self.count)
            assert step == 1
            if hi <= split:
                return self.prefix[lo:hi]
            if lo >= split:
                return self.tail[lo - split : hi - split]
            return np.concatenate([self.prefix[lo:split], self.tail[: hi - split]])
        offsets = np.asarray(key)
        if split == 0:
            return self.tail[offsets]
        cut = int(np.searchsorted(offsets, split))
        if cut == len(offsets):
            return self.prefix[offsets]
        if cut == 0:
            return self.tail[offsets - split]
        return np.concatenate([self.prefix[offsets[:cut]], self.tail[offsets[cut:] - split]])

    def rows_at(self, offsets: np.ndarray) -> np.ndarray:
        """Rows at int offsets in any order (a copy)."""
        split = self.split
        if split == 0:
            return self.tail[offsets]
        low = offsets < split
        if low.all():
            return self.prefix[offsets]
        out = np.empty((len(offsets), self.tail.shape[1]), dtype=self.tail.dtype)
        out[low] = self.prefix[offsets[low]]
        out[~low] = self.tail[offsets[~low] - split]
        return out


class VectorStore:
    def __init__(self, path: Path, dim: int, dtype: str, on_disk: bool, count: int = 0) -> None:
        self.path = path
        self.dim = dim
        self.dtype = np.dtype(dtype)
        self.on_disk = on_disk
        self.count = count
        self.persisted = count
        self._row_bytes = dim * self.dtype.itemsize
        self._prefix: np.ndarray | None = None  # shared rows [0, _split)
        self._owner: object = None  # keeps the memory behind _prefix alive
        self._split = 0
        if on_disk:
            self._data = self._map(max(count, _MIN_CAPACITY))
        else:
            self._data = _rows(max(count, _MIN_CAPACITY), dim, self.dtype)
            if count:
                self._data[:count] = np.fromfile(path, dtype=self.dtype, count=count * dim).reshape(
                    count, dim
                )

    def _map(self, capacity: int) -> np.ndarray:
        need = capacity * self._row_bytes
        mode = "r+b" if self.path.exists() else "w+b"
        with open(self.path, mode) as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() < need:
                handle.truncate(need)
        return np.memmap(self.path, dtype=self.dtype, mode="r+", shape=(capacity, self.dim))

    @property
    def data(self) -> Rows:
        """Rows [0, count): valid until the next append or share_prefix."""
        return Rows(self._prefix, self._data, self.count)

    @property
    def can_share(self) -> bool:
        return not self.on_disk and self.dtype == np.float32

    def share_prefix(self, rows: np.ndarray, owner: object) -> None:
        """Serve rows [0, len(rows)) from `rows` (equal to ours, already persisted) and free our
        own copy of them. `owner` is kept referenced for as long as the view is used."""
        n = len(rows)
        if not self.can_share or n <= self._split or n > self.persisted:
            return
        own_from = n - self._split  # index in _data of row n
        tail = self._data[own_from : self.count - self._split]
        # room for what is appended next, not _MIN_CAPACITY rows: after a bulk load the tail is
        # usually empty, and 1,024 idle rows of 384 floats were 20 bytes per point of 75k
        fresh = _rows(max(len(tail) * 2, _TAIL_CAPACITY), self.dim, self.dtype)
        fresh[: len(tail)] = tail
        self._data = fresh
        self._prefix, self._owner, self._split = rows, owner, n

    def append(self, rows: np.ndarray) -> int:
        """Append rows (already converted); return the offset of the first."""
        start = self.count
        end = start + len(rows)
        own_start, own_end = start - self._split, end - self._split
        if own_end > len(self._data):
            capacity = max(own_end, len(self._data) * 2)
            if self.on_disk:
                self._data.flush()
                self._data = self._map(capacity)
            else:
                grown = _reserved_rows(capacity, self.dim, self.dtype)
                if grown is None:
                    grown = _rows(capacity, self.dim, self.dtype)
                grown[:own_start] = self._data[:own_start]
                self._data = grown
        self._data[own_start:own_end] = rows
        self.count = end
        return start

    def flush(self) -> None:
        """Persist rows [persisted, count) to the backing file and fsync it."""
        if self.count == self.persisted:
            return
        if self.on_disk:
            self._data.flush()
        else:
            with open(self.path, "r+b" if self.path.exists() else "wb") as handle:
                handle.seek(self.persisted * self._row_bytes)
                own = self._data[self.persisted - self._split : self.count - self._split]
                handle.write(own.tobytes())
                handle.truncate(self.count * self._row_bytes)
                handle.flush()
                os.fsync(handle.fileno())
        self.persisted = self.count

    def release_pages(self) -> None:
        """On disk: unmap this process's pages of the persisted rows. Appending and a graph
        build touch every row, and their pages stayed resident (1,536 B a point of 384-d in the
        node's RSS) though the file holds them; the page cache keeps them until the kernel needs
        the room, and a read maps a page back. Dirty pages of a shared file mapping are not
        lost by this: the kernel writes them back as usual."""
        region = getattr(self._data, "_mmap", None) if self.on_disk else None
        if region is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        length = self.persisted * self._row_bytes // mmap.PAGESIZE * mmap.PAGESIZE
        if length:
            region.madvise(mmap.MADV_DONTNEED, 0, length)

    def close(self) -> None:
        if self.on_disk and isinstance(self._data, np.memmap):
            self._data.flush()
