"""The write path of one shard: validate, log to the WAL, apply. A part of ``LocalShard`` kept in
its own module (like ``node.shard_search``).

Owns the operations (upsert, update and delete of vectors, delete, set / overwrite / delete /
clear of payload), the ids an operation addresses, and the sharing of small equal payloads.
Every change keeps the planner's payload indexes in step. An operation is checked against the
current state before it is logged, so one that cannot apply changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import orjson

from node.errors import NotFound, ShardClosed
from node.ids import PointId
from node.payload_path import delete_by_path, set_by_path

_POOLED_PAYLOAD_BYTES = 128  # payloads this small are shared between equal points
_PAYLOAD_POOL_SIZE = 100_000


class ShardWrites:
    """Write methods of ``LocalShard`` (which provides the state, stores, planner, WAL and lock)."""

    def apply(self, op_num: int, op: dict, wait: bool = True) -> None:
        """Validate, log, apply. Raises before logging when the operation cannot apply."""
        with self.lock:
            if self.closed:
                raise ShardClosed(f"shard {self.path.name} was closed: its copy was replaced")
            self._check(op)
            self.wal.append(op_num, op)
            self._apply(op_num, op)
            self._last_write = time.monotonic()
            if wait:
                self.wal.sync_or_defer()  # fsynced here, or after the caller's locks

    def sync(self) -> None:
        """fsync what was applied without ``wait`` (the promise of wait=true, made later)."""
        with self.lock:
            self.wal.sync()

    def _check(self, op: dict) -> None:
        kind = op["type"]
        if kind in ("update_vectors",):
            for point_id, _ in op["points"]:
                self._require(point_id)
        elif kind in ("set_payload", "overwrite_payload", "delete_payload", "delete_vectors"):
            for point_id in op.get("ids") or ():
                self._require(point_id)

    def _require(self, point_id: PointId) -> int:
        offset = self.state.offset_of(point_id)
        if offset is None:
            raise NotFound(f"No point with id {point_id} found")
        return offset

    def _apply(self, op_num: int, op: dict) -> None:
        handler: Callable[[int, dict], None] = getattr(self, "_op_" + op["type"])
        handler(op_num, op)
        self._writes += 1
        self.state.last_op = max(self.state.last_op, op_num)
        self._dirty = True

    def addressed_ids(self, op: dict) -> list:
        """The ids a write touches, before it applies (for a filter: its present matches)."""
        if op["type"] == "upsert":
            return list(op["ids"])
        if op["type"] == "update_vectors":
            return [point_id for point_id, _ in op["points"]]
        with self.lock:
            return self._selected(op)

    def _selected(self, op: dict) -> list:
        """Ids an operation addresses, each once: its explicit ids that are present (a
        request may name one twice), or those its filter matches."""
        if op.get("ids") is not None:
            return [pid for pid in dict.fromkeys(op["ids"])
                    if self.state.offset_of(pid) is not None]
        return self._matching_ids(op.get("filter"))

    def _op_upsert(self, op_num: int, op: dict) -> None:
        update_filter = self.planner.compile(op.get("update_filter"))
        # a transfer's pages keep each point's version from the source (see ``versions``)
        versions = op.get("versions") or [op_num] * len(op["ids"])
        mode = op.get("update_mode")  # None: upsert; "insert_only" / "update_only"
        ids, vectors, payloads = op["ids"], op["vectors"], op["payloads"]
        if len(set(ids)) == len(ids):  # distinct: each checked against the state before
            batches: list = [range(len(ids))]
        else:  # a repeated id: one at a time, each seeing the write before it
            batches = [[k] for k in range(len(ids))]
        for batch in batches:
            if update_filter is not None or mode is not None:
                batch = [k for k in batch if self._may_upsert(ids[k], update_filter, mode)]
            if len(batch) == len(ids):
                self._write_points(ids, versions, vectors, payloads)
            elif batch:
                self._write_points([ids[k] for k in batch], [versions[k] for k in batch],
                                   [vectors[k] for k in batch], [payloads[k] for k in batch])

    def _may_upsert(self, point_id: PointId, update_filter, mode: str | None) -> bool:
        offset = self.state.offset_of(point_id)
        if mode is not None and (offset is None) != (mode == "insert_only"):
            return False  # an existing point for insert_only, a new one for update_only
        return offset is None or update_filter is None or self._matches(update_filter, offset)

    def _write_point(self, point_id: PointId, version: int, vectors: dict, payload) -> None:
        self._write_points([point_id], [version], [vectors], [payload])

    def _write_points(self, ids: list, versions: list, vectors: list, payloads: list) -> None:
        """Write points of distinct ids at new offsets, a column at a time: one id-map search
        and one append per vector store (a bulk load spent most of its shard time per point
        when each point took its own)."""
        state = self.state
        payloads = [self._pooled(payload) for payload in payloads]
        first = state.count
        olds = state.add_many(ids, versions, payloads)
        planner = self.planner
        for old in olds:
            if old is not None:
                planner.remove(old, state.payloads[old])
        for k, payload in enumerate(payloads):
            planner.add(first + k, payload)
        n = len(ids)
        for name, store in self.stores.items():
            rows = [point.get(name) for point in vectors]
            have = [k for k, row in enumerate(rows) if row is not None]
            if len(have) == n:
                store.append(np.stack(rows).reshape(n, -1))
                state.present[name][first : first + n] = True
                continue
            block = np.zeros((n, store.dim), store.dtype)
            for k in have:
                block[k] = rows[k].reshape(-1)
            store.append(block)
            state.present[name][[first + k for k in have]] = True
        sparse_names, multi = self.config.sparse_vectors, state.multi
        if sparse_names or multi:
            for k, point in enumerate(vectors):
                offset = first + k
                for name, value in point.items():
                    if name in sparse_names:
                        state.sparse.setdefault(name, {})[offset] = value
                        self.sparse_indexes[name].add(offset, value[0], value[1])
                    elif name in multi:
                        multi[name].add(offset, value)
                        state.present[name][offset] = True

    def _op_update_vectors(self, op_num: int, op: dict) -> None:
        update_filter = self.planner.compile(op.get("update_filter"))
        for point_id, new_vectors in op["points"]:
            offset = self.state.offset_of(point_id)
            if offset is None:
                continue
            if update_filter is not None and not self._matches(update_filter, offset):
                continue
            vectors = self._current_vectors(offset)
            vectors.update(new_vectors)
            self._write_point(point_id, op_num, vectors, self.state.payloads[offset])

    def _op_delete_vectors(self, op_num: int, op: dict) -> None:
        for point_id in self._selected(op):
            offset = self.state.offset_of(point_id)
            vectors = self._current_vectors(offset)
            for name in op["names"]:
                vectors.pop(name, None)
            self._write_point(point_id, op_num, vectors, self.state.payloads[offset])

    def _op_delete(self, op_num: int, op: dict) -> None:
        for point_id in self._selected(op):
            offset = self.state.offset_of(point_id)
            self.planner.remove(offset, self.state.payloads[offset])
            self.state.remove(point_id)

    def _touch(self, op_num: int, op: dict, change: Callable[[dict | None], dict]) -> None:
        for point_id in self._selected(op):
            offset = self.state.offset_of(point_id)
            self.planner.remove(offset, self.state.payloads[offset])
            self.state.payloads[offset] = self._pooled(change(self.state.payloads[offset]))
            self.state.versions[offset] = op_num
            self.planner.add(offset, self.state.payloads[offset])

    def _pooled(self, payload: dict | None) -> dict | None:
        """Equal small payloads (tags, tenants) share one dict; stored payloads are never
        changed in place (changes build a new one), so sharing is safe."""
        if not payload:
            return payload
        try:
            key = orjson.dumps(payload)
        except TypeError:
            return payload
        if len(key) > _POOLED_PAYLOAD_BYTES:
            return payload
        pooled = self._payload_pool.get(key)
        if pooled is not None:
            return pooled
        if len(self._payload_pool) < _PAYLOAD_POOL_SIZE:
            self._payload_pool[key] = payload
        return payload

    def _op_set_payload(self, op_num: int, op: dict) -> None:
        def change(payload: dict | None) -> dict:
            payload = _deep_copy(payload or {})
            if op.get("key"):
                set_by_path(payload, op["key"], op["payload"])
            else:
                payload.update(op["payload"])
            return payload

        self._touch(op_num, op, change)

    def _op_overwrite_payload(self, op_num: int, op: dict) -> None:
        self._touch(op_num, op, lambda _: dict(op["payload"]))

    def _op_delete_payload(self, op_num: int, op: dict) -> None:
        def change(payload: dict | None) -> dict:
            payload = _deep_copy(payload or {})
            for key in op["keys"]:
                delete_by_path(payload, key)
            return payload

        self._touch(op_num, op, change)

    def _op_clear_payload(self, op_num: int, op: dict) -> None:
        self._touch(op_num, op, lambda _: {})


def _deep_copy(payload: dict) -> dict:
    """A copy that shares nothing with the stored payload (which other points may share)."""
    return orjson.loads(orjson.dumps(payload))
