"""Point ids ↔ offsets, compact for integer ids.

A Python dict of ``int → int`` costs about 100 bytes a point (two int objects and a hash slot),
more than an HNSW graph's links. Integer ids, the common case, are therefore kept in numpy
arrays: ``OffsetIds`` holds one uint64 per offset, and ``IdMap`` keeps most of its integer ids in
a sorted uint64 array with their offsets beside it (about 16 bytes a point), found by binary
search. Ids written since the last ``freeze`` wait in a small dict, and UUIDs always live in
one (they are strings already). Each id is in exactly one of the two places.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from node.ids import PointId

_U64_MAX = 2**64 - 1
_NONE = -1  # the offset of a frozen id that was removed since
_MIN_RECENT = 8192  # recent integer ids are frozen once there are this many…
_RECENT_SHARE = 0.25  # …and at least this share of the frozen ones


class IdMap:
    """Live point id → offset. Supports the dict operations the shard uses."""

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.uint64)  # sorted
        self._offsets = np.empty(0, dtype=np.int64)  # _NONE where removed
        self._frozen_live = 0
        self._recent: dict[PointId, int] = {}
        self._recent_ints = 0

    def _find(self, point_id: int) -> int:
        """Position of an integer id among the frozen keys, or -1."""
        keys = self._keys
        if not len(keys) or not 0 <= point_id <= _U64_MAX:
            return -1
        key = np.uint64(point_id)
        i = int(np.searchsorted(keys, key))
        return i if i < len(keys) and keys[i] == key else -1

    def get(self, point_id: PointId, default: int | None = None) -> int | None:
        offset = self._recent.get(point_id)
        if offset is not None:
            return offset
        if type(point_id) is int:
            i = self._find(point_id)
            if i >= 0:
                offset = int(self._offsets[i])
                if offset != _NONE:
                    return offset
        return default

    def __contains__(self, point_id: PointId) -> bool:
        return self.get(point_id) is not None

    def __getitem__(self, point_id: PointId) -> int:
        offset = self.get(point_id)
        if offset is None:
            raise KeyError(point_id)
        return offset

    def __setitem__(self, point_id: PointId, offset: int) -> None:
        self.put(point_id, offset)

    def put(self, point_id: PointId, offset: int) -> int | None:
        """Map `point_id` to `offset`; returns the live offset it had before, if any."""
        return self.put_many([point_id], offset)[0]

    def put_many(self, point_ids: list, first_offset: int) -> list[int | None]:
        """`put(point_ids[k], first_offset + k)` for every k, with one vectorized search of the
        frozen keys; returns the live offsets they had before. The ids must be distinct."""
        recent = self._recent
        olds: list[int | None] = [None] * len(point_ids)
        keys = self._keys
        frozen: list[int] = []  # positions of integer ids that may be among the frozen keys
        for k, pid in enumerate(point_ids):
            old = recent.get(pid)
            if old is not None:
                olds[k] = old
                recent[pid] = first_offset + k
            elif type(pid) is int and len(keys):
                frozen.append(k)
            else:
                if type(pid) is int:
                    self._recent_ints += 1
                recent[pid] = first_offset + k
        if frozen:
            wanted = np.fromiter((point_ids[k] for k in frozen), np.uint64, len(frozen))
            at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
            hit = keys[at] == wanted
            hit_at = at[hit]
            previous = self._offsets[hit_at].tolist()
            hit_positions = [k for k, h in zip(frozen, hit.tolist(), strict=True) if h]
            for k, old in zip(hit_positions, previous, strict=True):
                if old == _NONE:
                    self._frozen_live += 1
                else:
                    olds[k] = old
            self._offsets[hit_at] = [first_offset + k for k in hit_positions]
            for k, h in zip(frozen, hit.tolist(), strict=True):
                if not h:
                    self._recent_ints += 1
                    recent[point_ids[k]] = first_offset + k
        if self._recent_ints >= max(_MIN_RECENT, _RECENT_SHARE * len(self._keys)):
            self.freeze()
        return olds

    def pop(self, point_id: PointId, default: int | None = None) -> int | None:
        offset = self._recent.pop(point_id, None)
        if offset is not None:
            if type(point_id) is int:
                self._recent_ints -= 1
            return offset
        if type(point_id) is int:
            i = self._find(point_id)
            if i >= 0 and self._offsets[i] != _NONE:
                offset = int(self._offsets[i])
                self._offsets[i] = _NONE
                self._frozen_live -= 1
                return offset
        return default

    def __len__(self) -> int:
        return self._frozen_live + len(self._recent)

    def __iter__(self) -> Iterator[PointId]:
        yield from self._keys[self._offsets != _NONE].tolist()
        yield from list(self._recent)

    def sorted_ints(self) -> tuple[np.ndarray, np.ndarray]:
        """The live integer ids, ascending (uint64), and their offsets."""
        self.freeze()
        return self._keys, self._offsets

    def uuids(self) -> list[str]:
        return [pid for pid in self._recent if type(pid) is not int]

    @property
    def recent_ints(self) -> int:
        """How many integer ids wait in the dict for the next `freeze`."""
        return self._recent_ints

    def freeze(self) -> None:
        """Move the recent integer ids into the sorted arrays (and drop removed ones): a sort of
        the recent ids and one merge, so freezing often stays cheap."""
        if not self._recent_ints and self._frozen_live == len(self._keys):
            return
        ints = [(pid, off) for pid, off in self._recent.items() if type(pid) is int]
        new_keys = np.fromiter((p for p, _ in ints), np.uint64, len(ints))
        new_offsets = np.fromiter((o for _, o in ints), np.int64, len(ints))
        order = np.argsort(new_keys)
        new_keys, new_offsets = new_keys[order], new_offsets[order]
        keep = self._offsets != _NONE
        keys, offsets = self._keys[keep], self._offsets[keep]
        at = np.searchsorted(keys, new_keys)  # recent ids are never among the frozen ones
        self._keys = np.insert(keys, at, new_keys)
        self._offsets = np.insert(offsets, at, new_offsets)
        self._frozen_live = len(self._keys)
        self._recent = {pid: off for pid, off in self._recent.items() if type(pid) is not int}
        self._recent_ints = 0

    @classmethod
    def of_live(cls, ids: OffsetIds, alive: np.ndarray) -> IdMap:
        """The map of the offsets marked alive (a later offset wins for a repeated id)."""
        out = cls()
        live = np.flatnonzero(alive[: len(ids)])
        is_int = ids.int_mask()[live]
        int_offsets = live[is_int]
        keys = ids.ints[int_offsets]
        # a repeated id keeps its last offset: sort by key, offset and take each run's last
        order = np.lexsort((int_offsets, keys))
        keys, int_offsets = keys[order], int_offsets[order]
        last = np.ones(len(keys), dtype=np.bool_)
        last[:-1] = keys[1:] != keys[:-1]
        out._keys, out._offsets = keys[last], int_offsets[last].astype(np.int64)
        out._frozen_live = len(out._keys)
        for offset in live[~is_int].tolist():
            out._recent[ids[offset]] = offset
        return out


class OffsetIds:
    """Offset → point id, for every offset ever allocated (dead ones included)."""

    def __init__(self) -> None:
        self.ints = np.zeros(1024, dtype=np.uint64)
        self.strs: dict[int, str] = {}  # offset → UUID
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, offset: int) -> PointId:
        if offset < 0 or offset >= self._count:
            raise IndexError(offset)
        text = self.strs.get(offset)
        return text if text is not None else int(self.ints[offset])

    def ids_at(self, offsets: np.ndarray) -> list[PointId]:
        """The ids at valid offsets, in their order."""
        out: list = self.ints[offsets].tolist()
        if self.strs:
            for i, offset in enumerate(offsets.tolist()):
                text = self.strs.get(offset)
                if text is not None:
                    out[i] = text
        return out

    def append(self, point_id: PointId) -> None:
        offset = self._count
        if offset >= len(self.ints):
            grown = np.empty(max(2 * len(self.ints), 1024), dtype=np.uint64)  # past count: unread
            grown[:offset] = self.ints[:offset]
            self.ints = grown
        if type(point_id) is int:
            self.ints[offset] = point_id
        else:
            self.strs[offset] = point_id
        self._count += 1

    def extend(self, point_ids: list) -> None:
        """`append` for a batch."""
        start, n = self._count, len(point_ids)
        if start + n > len(self.ints):
            grown = np.empty(max(2 * len(self.ints), start + n, 1024), dtype=np.uint64)
            grown[:start] = self.ints[:start]
            self.ints = grown
        if all(type(pid) is int for pid in point_ids):
            self.ints[start : start + n] = np.fromiter(point_ids, np.uint64, n)
        else:
            for k, pid in enumerate(point_ids):
                if type(pid) is int:
                    self.ints[start + k] = pid
                else:
                    self.strs[start + k] = pid
        self._count += n

    def int_mask(self) -> np.ndarray:
        """Per offset: is the id an integer?"""
        mask = np.ones(self._count, dtype=np.bool_)
        if self.strs:
            mask[np.fromiter(self.strs, np.int64, len(self.strs))] = False
        return mask

    def to_state(self) -> dict:
        return {"ints": self.ints[: self._count].copy(), "strs": dict(self.strs)}

    @classmethod
    def from_state(cls, data) -> OffsetIds:
        """From `to_state`'s dict, or from the list of ids older state files hold."""
        out = cls()
        if isinstance(data, dict):
            ints = data["ints"]
            out.ints = np.zeros(max(len(ints), 1024), dtype=np.uint64)
            out.ints[: len(ints)] = ints
            out.strs = dict(data["strs"])
            out._count = len(ints)
        else:
            for point_id in data:
                out.append(point_id)
        return out
