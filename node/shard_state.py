"""Per-point bookkeeping of one shard: ids, versions, liveness, payloads, vector presence.

Points live at internal offsets that only grow; an overwritten or deleted point's offset is marked
dead and reclaimed by vacuum. This module owns the mapping and its persistence format (one pickle
written atomically); vector rows live in ``VectorStore`` files beside it.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from node.ids import PointId, id_sort_key

STATE_FILE = "state.pkl"
_FORMAT = 1


def _grow(array: np.ndarray, size: int) -> np.ndarray:
    if size <= len(array):
        return array
    grown = np.zeros(max(size, 2 * len(array), 1024), dtype=array.dtype)
    grown[: len(array)] = array
    return grown


@dataclass
class ShardState:
    vector_names: list[str]
    gen: int = 0
    count: int = 0
    last_op: int = 0
    ext_ids: list = field(default_factory=list)
    id_to_offset: dict = field(default_factory=dict)
    versions: np.ndarray = field(default_factory=lambda: np.zeros(1024, np.int64))
    alive: np.ndarray = field(default_factory=lambda: np.zeros(1024, np.bool_))
    present: dict = field(default_factory=dict)
    payloads: list = field(default_factory=list)
    sparse: dict = field(default_factory=dict)
    multi: dict = field(default_factory=dict)  # name -> node.multivector.MultiStore
    indexed: dict = field(default_factory=dict)
    _sorted_ids: list | None = None

    def __post_init__(self) -> None:
        for name in self.vector_names:
            self.present.setdefault(name, np.zeros(len(self.alive), np.bool_))
            self.indexed.setdefault(name, 0)

    # -- points ------------------------------------------------------------------------------
    def offset_of(self, point_id: PointId) -> int | None:
        return self.id_to_offset.get(point_id)

    def add(self, point_id: PointId, version: int, payload: dict | None) -> int:
        """Allocate a new offset for point_id (killing its old one); return it."""
        old = self.id_to_offset.get(point_id)
        if old is not None:
            self.alive[old] = False
        offset = self.count
        self.count += 1
        size = self.count
        self.versions = _grow(self.versions, size)
        self.alive = _grow(self.alive, size)
        for name in self.present:
            self.present[name] = _grow(self.present[name], size)
        self.versions[offset] = version
        self.alive[offset] = True
        self.ext_ids.append(point_id)
        self.payloads.append(payload)
        self.id_to_offset[point_id] = offset
        if old is None:
            self._sorted_ids = None
        return offset

    def remove(self, point_id: PointId) -> bool:
        offset = self.id_to_offset.pop(point_id, None)
        if offset is None:
            return False
        self.alive[offset] = False
        self.payloads[offset] = None
        for vectors in self.sparse.values():
            vectors.pop(offset, None)
        self._sorted_ids = None
        return True

    @property
    def live_count(self) -> int:
        return len(self.id_to_offset)

    @property
    def dead_count(self) -> int:
        return self.count - len(self.id_to_offset)

    def sorted_ids(self) -> list:
        """Live ids in Qdrant's order (ints, then UUIDs); cached until the id set changes."""
        if self._sorted_ids is None:
            self._sorted_ids = sorted(self.id_to_offset, key=id_sort_key)
        return self._sorted_ids

    def live_mask(self) -> np.ndarray:
        return self.alive[: self.count]

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        data = {
            "format": _FORMAT,
            "vector_names": self.vector_names,
            "gen": self.gen,
            "count": self.count,
            "last_op": self.last_op,
            "ext_ids": self.ext_ids,
            "versions": self.versions[: self.count].copy(),
            "alive": self.alive[: self.count].copy(),
            "present": {k: v[: self.count].copy() for k, v in self.present.items()},
            "payloads": self.payloads,
            "sparse": self.sparse,
            "multi": self.multi,
            "indexed": dict(self.indexed),
        }
        tmp = directory / (STATE_FILE + ".tmp")
        with open(tmp, "wb") as handle:
            pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, directory / STATE_FILE)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @classmethod
    def load(cls, directory: Path, vector_names: list[str]) -> "ShardState":
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
            ext_ids=data["ext_ids"],
            versions=_grow(data["versions"], count),
            alive=_grow(data["alive"], count),
            present={k: _grow(v, count) for k, v in data["present"].items()},
            payloads=data["payloads"],
            sparse=data["sparse"],
            multi=data.get("multi", {}),
            indexed=data["indexed"],
        )
        state.id_to_offset = {
            pid: off for off, pid in enumerate(state.ext_ids) if state.alive[off]
        }
        return state
