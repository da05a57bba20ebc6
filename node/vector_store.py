"""Dense vector storage of one named vector in one shard: an append-only row array.

Rows are addressed by the shard's internal offsets. In RAM mode the rows live in a numpy array and
a flush appends the new rows to the backing file; with ``on_disk`` the array *is* a memory map of
that file. Either way the file holds rows [0, persisted) after a flush, and rows are never
rewritten in place (a changed vector gets a new offset), which keeps the HNSW graph built over a
prefix valid.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

_MIN_CAPACITY = 1024


class VectorStore:
    def __init__(self, path: Path, dim: int, dtype: str, on_disk: bool, count: int = 0) -> None:
        self.path = path
        self.dim = dim
        self.dtype = np.dtype(dtype)
        self.on_disk = on_disk
        self.count = count
        self.persisted = count
        self._row_bytes = dim * self.dtype.itemsize
        if on_disk:
            self._data = self._map(max(count, _MIN_CAPACITY))
        else:
            self._data = np.zeros((max(count, _MIN_CAPACITY), dim), dtype=self.dtype)
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
    def data(self) -> np.ndarray:
        """Rows [0, count): a view, valid until the next append."""
        return self._data[: self.count]

    def append(self, rows: np.ndarray) -> int:
        """Append rows (already converted); return the offset of the first."""
        start = self.count
        end = start + len(rows)
        if end > len(self._data):
            capacity = max(end, len(self._data) * 2)
            if self.on_disk:
                self._data.flush()
                self._data = self._map(capacity)
            else:
                grown = np.zeros((capacity, self.dim), dtype=self.dtype)
                grown[:start] = self._data[:start]
                self._data = grown
        self._data[start:end] = rows
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
                handle.write(self._data[self.persisted : self.count].tobytes())
                handle.truncate(self.count * self._row_bytes)
                handle.flush()
                os.fsync(handle.fileno())
        self.persisted = self.count

    def close(self) -> None:
        if self.on_disk and isinstance(self._data, np.memmap):
            self._data.flush()
