"""Answers to repeated filters of one shard: the allowed mask and the allowed rows.

Users of a vector database filter by the same few things over and over (a tenant, a category).
Evaluating such a filter and gathering the rows it allows costs more than scoring them, so a
shard remembers the last few: an entry is valid until the next write to the shard.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import orjson

_MAX_ENTRIES = 16
_MAX_ROW_BYTES = 128 * 1024 * 1024


@dataclass
class FilterCacheEntry:
    writes: int
    mask: np.ndarray
    candidates: np.ndarray
    rows: np.ndarray | None = None


class FilterCache:
    def __init__(self) -> None:
        self._entries: OrderedDict[tuple, FilterCacheEntry] = OrderedDict()

    @staticmethod
    def _key(name: str, filter_: dict) -> tuple:
        return (name, orjson.dumps(filter_, option=orjson.OPT_SORT_KEYS))

    def get(self, name: str, filter_: dict, writes: int) -> FilterCacheEntry | None:
        key = self._key(name, filter_)
        entry = self._entries.get(key)
        if entry is None or entry.writes != writes:
            return None
        self._entries.move_to_end(key)
        return entry

    def peek(self, name: str, filter_: dict, writes: int) -> FilterCacheEntry | None:
        """As `get`, without marking the entry used: safe without the shard's lock (one dict
        read), for a guess that the shard confirms under its lock."""
        entry = self._entries.get(self._key(name, filter_))
        return entry if entry is not None and entry.writes == writes else None

    def put(self, name: str, filter_: dict, writes: int, mask: np.ndarray) -> FilterCacheEntry:
        entry = FilterCacheEntry(writes, mask, np.flatnonzero(mask))
        self._entries[self._key(name, filter_)] = entry
        while len(self._entries) > _MAX_ENTRIES:
            self._entries.popitem(last=False)
        return entry

    def gather(self, entry: FilterCacheEntry, stored) -> None:
        """Keep the entry's rows, dropping the oldest kept rows beyond the byte budget."""
        entry.rows = np.ascontiguousarray(stored[entry.candidates], dtype=np.float32)
        total = sum(e.rows.nbytes for e in self._entries.values() if e.rows is not None)
        for other in list(self._entries.values()):
            if total <= _MAX_ROW_BYTES:
                break
            if other is not entry and other.rows is not None:
                total -= other.rows.nbytes
                other.rows = None
