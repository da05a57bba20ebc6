"""Per-point bookkeeping of one shard: ids, versions, liveness, payloads, vector presence.

Points live at internal offsets that only grow; an overwritten or deleted point's offset is marked
dead and reclaimed by vacuum. This module owns the mapping and its persistence format (one pickle
written atomically); vector rows live in ``VectorStore`` files beside it. Ids are kept compact by
``node.id_map``.
"""

from __future__ import annotations

import bisect
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from node.id_map import IdMap, OffsetIds
from node.ids import PointId

STATE_FILE = "state.pkl"
_FORMAT = 1


def _grow(array: np.ndarray, size: int) -> np.ndarray:
    if size <= len(array):
        return array
    grown = np.empty(max(size, 2 * len(array), 1024), dtype=array.dtype)  # see node.vector_store
    grown[: len(array)] = array
    grown[len(array) :] = 0
    return grown


@dataclass
class ShardState:
    vector_names: list[str]
    gen: int = 0
    count: int = 0
    last_op: int = 0
    ext_ids: OffsetIds = field(default_factory=OffsetIds)
    id_to_offset: IdMap = field(default_factory=IdMap)
    versions: np.ndarray = field(default_factory=lambda: np.zeros(1024, np.int64))
    alive: np.ndarray = field(default_factory=lambda: np.zeros(1024, np.bool_))
    present: dict = field(default_factory=dict)
    payloads: list = field(default_factory=list)
    sparse: dict = field(default_factory=dict)
    multi: dict = field(default_factory=dict)  # name -> node.multivector.MultiStore
    indexed: dict = field(default_factory=dict)
    _sorted_uuids: list | None = None

    def __post_init__(self) -> None:
        for name in self.vector_names:
            self.present.setdefault(name, np.zeros(len(self.alive), np.bool_))
            self.indexed.setdefault(name, 0)

    # -- points ------------------------------------------------------------------------------
    def offset_of(self, point_id: PointId) -> int | None:
        return self.id_to_offset.get(point_id)

    def add(self, point_id: PointId, version: int, payload: dict | None) -> int:
        """Allocate a new offset for point_id (killing its old one); return it."""
        self.add_many([point_id], [version], [payload])
        return self.count - 1

    def add_many(self, point_ids: list, versions: list, payloads: list) -> list[int | None]:
        """Allocate offsets [count, count + n) for distinct ids (killing their old ones);
        returns each id's previous live offset, or None."""
        first, n = self.count, len(point_ids)
        olds = self.id_to_offset.put_many(point_ids, first)
        killed = [old for old in olds if old is not None]
        if killed:
            self.alive[killed] = False
        self.count += n
        size = self.count
        self.versions = _grow(self.versions, size)
        self.alive = _grow(self.alive, size)
        for name in self.present:
            self.present[name] = _grow(self.present[name], size)
        self.versions[first:size] = versions
        self.alive[first:size] = True
        self.ext_ids.extend(point_ids)
        self.payloads.extend(payloads)
        if len(killed) < n:
            self._sorted_uuids = None
        return olds

    def remove(self, point_id: PointId) -> bool:
        offset = self.id_to_offset.pop(point_id, None)
        if offset is None:
            return False
        self.alive[offset] = False
        self.payloads[offset] = None
        for vectors in self.sparse.values():
            vectors.pop(offset, None)
        self._sorted_uuids = None
        return True

    @property
    def live_count(self) -> int:
        return len(self.id_to_offset)

    @property
    def dead_count(self) -> int:
        return self.count - len(self.id_to_offset)

    def points_from(self, start: PointId | None) -> Iterator[tuple[PointId, int]]:
        """(id, offset) of the live points with id ≥ start, in Qdrant's order: integer ids
        ascending, then UUIDs in text order."""
        if start is None or type(start) is int:
            ints, offsets = self.id_to_offset.sorted_ints()
            lo = 0 if start is None else int(np.searchsorted(ints, np.uint64(start)))
            for chunk in range(lo, len(ints), 256):
                part = slice(chunk, chunk + 256)
                yield from zip(ints[part].tolist(), offsets[part].tolist(), strict=True)
            start = None
        if self._sorted_uuids is None:
            self._sorted_uuids = sorted(self.id_to_offset.uuids())
        uuids = self._sorted_uuids
        for point_id in uuids[0 if start is None else bisect.bisect_left(uuids, start) :]:
            yield point_id, self.id_to_offset[point_id]

    def live_mask(self) -> np.ndarray:
        return self.alive[: self.count]

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        install_state(directory, write_state(directory, self.data()))

    def data(self) -> dict:
        """What ``save`` writes, as copies: pickling it needs no lock. Payload dicts are never
        changed in place (a write replaces them), so a copy of the list holds them as they are;
        sparse and multi vectors are changed in place and are copied only by ``save``."""
        return {
            "format": _FORMAT,
            "vector_names": list(self.vector_names),
            "gen": self.gen,
            "count": self.count,
            "last_op": self.last_op,
            "ext_ids": self.ext_ids.to_state(),
            "versions": self.versions[: self.count].copy(),
            "alive": self.alive[: self.count].copy(),
            "present": {k: v[: self.count].copy() for k, v in self.present.items()},
            "payloads": list(self.payloads),
            "sparse": self.sparse,
            "multi": self.multi,
            "indexed": dict(self.indexed),
        }

    @property
    def copies_whole(self) -> bool:
        """``data()`` is a snapshot by itself (no sparse or multi vectors, which it shares)."""
        return not self.sparse and not self.multi

    @classmethod
    def load(cls, directory: Path, vector_names: list[str]) -> ShardState:
        path = directory / STATE_FILE
        if not path.exists():
            return cls(vector_names=list(vector_names))
        with open(path, "rb") as handle:
            data = pickle.load(handle)
        count = data["count"]
        state = cls(
            vector_names=list(vector_names),
            gen=data["gen"],
            count=count,
            last_op=data["last_op"],
            ext_ids=OffsetIds.from_state(data["ext_ids"]),
            versions=_grow(data["versions"], count),
            alive=_grow(data["alive"], count),
            present={k: _grow(v, count) for k, v in data["present"].items()},
            payloads=data["payloads"],
            sparse=data["sparse"],
            multi=data.get("multi", {}),
            indexed=data["indexed"],
        )
        state.id_to_offset = IdMap.of_live(state.ext_ids, state.alive[:count])
        return state


def write_state(directory: Path, data: dict, staged_name: str = STATE_FILE + ".tmp") -> Path:
    """``data`` pickled into a staged file beside the state file, fsynced (the slow part).
    The name ends in ``.tmp``: a snapshot's cut leaves such files out."""
    tmp = directory / staged_name
    with open(tmp, "wb") as handle:
        pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
        handle.flush()
        os.fsync(handle.fileno())
    return tmp


def install_state(directory: Path, staged: Path) -> None:
    """The staged state file renamed into place, the rename made durable."""
    os.replace(staged, directory / STATE_FILE)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
