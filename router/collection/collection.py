"""One collection: its config, its shards (replica sets), routing of points, fan-out and merge.

Every change gets the next operation number of the collection (its ``operation_id``); the change
is validated on every shard it touches before any shard applies it, so a failing request writes
nothing. Reads go to every shard and are merged exactly as one shard would order them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from consensus.state import key_text
from node.errors import BadRequest, NotFound, WrongInput
from node.ids import PointId, id_sort_key
from node.shard_config import ShardConfig
from node.shard_search import PointRecord
from node.wal import deferred_syncs
from router.collection import filter_keys, resharding_writes, search_plan, wakeups
from router.collection.hashring import HashRing, shard_for
from router.collection.replica_set import ReplicaSet
from router.collection.resharding import ReadGate, Resharding
from router.collection.search_plan import Query
from router.collection.strict_mode import StrictMode

#: ``set_shards`` without a resharding: the one held stays
_KEEP: Any = object()


@dataclass
class UpdateResult:
    operation_id: int
    status: str  # "completed" | "acknowledged"


class Collection:
    def __init__(
        self,
        name: str,
        config: dict,
        shards: list[ReplicaSet],
        payload_schema: dict | None = None,
        ring: bool = False,
        resharding: dict | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.payload_schema = dict(payload_schema or {})
        self.shard_config = ShardConfig.from_collection(config, self.payload_schema)
        #: the enforced strict mode; None when off (the hot paths test only this)
        self.strict: StrictMode | None = StrictMode.of(config)
        self.uuid: str | None = None
        #: route ids with the hash ring (False: the modulo routing of older collections)
        self.ring = ring
        self._write_lock = threading.Lock()
        #: payload keys read by filters without an index: key -> (index type, when); /issues
        self.unindexed_reads: dict[str, tuple[str, float]] = {}
        #: key group -> its resharding in progress (router.collection.resharding)
        self._resharding: dict[tuple, Resharding] = {}
        self._reads = ReadGate()  # the layout reads take, and the reads in flight under it
        self._noting: set[int] = set()  # shards whose local replica notes writes for it
        self._layout = 0  # counts shard list and resharding changes (writes split anew)
        self.shards = []
        self.set_shards(shards, resharding)
        applied = (s.local.last_op() for s in shards if s.local is not None)
        self._next_op = max(applied, default=0) + 1

    def set_shards(self, shards: list[ReplicaSet], resharding: Any = _KEEP) -> None:
        """The replica sets in shard id order, and the resharding that comes with them. A
        resharding that starts is set before its new shard appears, one that ends after its
        removed shard is gone; with one involved, under the write lock (else not: a write
        waiting on a lost peer holds it, and the peer's deactivation must get through)."""
        involved = bool(self._resharding) or resharding not in (_KEEP, None)
        with self._write_lock if involved else contextlib.nullcontext():
            if resharding is not _KEEP and resharding is not None:
                self._set_resharding(resharding)
            ordered = sorted(shards, key=lambda s: s.shard_id)
            groups: dict = {}
            for shard in ordered:
                groups.setdefault(_key_id(shard.shard_key), []).append(shard)
            self._by_id = {s.shard_id: s for s in ordered}
            self._rings = {k: HashRing([s.shard_id for s in g]) for k, g in groups.items()}
            self._groups = groups
            self.shards = ordered
            if resharding is not _KEEP:
                self._set_resharding(resharding)
            self._layout += 1
        if involved:
            self._reads.drain()

    def set_resharding(self, info: dict | None) -> None:
        """A resharding's stage from consensus (None: none runs). Taken under the write lock:
        once this node says it applied a stage, no write routed the old way is in flight.
        Nothing changed (the common case, every metadata change): no lock taken."""
        if _layout_of(info) == self._resharding:
            return
        with self._write_lock:
            if not self._set_resharding(info):
                return
            self._layout += 1
        self._reads.drain()

    def _set_resharding(self, info: dict | None) -> bool:
        """Whether the layout changed. The local replicas of shards that gain points note the
        ids written to them (their copy must not undo those writes)."""
        layout = _layout_of(info)
        changed = layout != self._resharding
        if changed:
            self._resharding = layout
            self._reads.set(layout)
        gaining = {sid for r in self._resharding.values() for sid in r.gaining}
        for shard in self.shards:
            local = shard.local
            if local is None:
                continue
            if shard.shard_id in gaining and shard.shard_id not in self._noting:
                local.touched = set()
                self._noting.add(shard.shard_id)
            elif shard.shard_id not in gaining and shard.shard_id in self._noting:
                local.touched = None
                self._noting.discard(shard.shard_id)
        return changed

    @staticmethod
    def _read_filter(shard: ReplicaSet, filter_, layout: dict):
        """What a read may take from ``shard``: while its key group is resharded, only the
        points the read ring gives it."""
        if not layout:
            return filter_
        resharding = layout.get(_key_id(shard.shard_key))
        return filter_ if resharding is None else resharding.read_filter(shard.shard_id, filter_)

    def scoped(self, selector) -> Collection:
        """This collection as a request with ``shard_key`` sees it (None: all shards)."""
        return self if selector is None else ShardScope(self, selector)  # type: ignore[return-value]

    @property
    def custom_sharding(self) -> bool:
        return self.config.get("params", {}).get("sharding_method") == "custom"

    @property
    def shard_number(self) -> int:
        return len(self.shards)

    def shard_by_id(self, shard_id: int) -> ReplicaSet | None:
        return self._by_id.get(shard_id)

    def _route(self, point_id: PointId, group: list[ReplicaSet]) -> ReplicaSet:
        if len(group) == 1:
            return group[0]
        if self.ring:
            return self._by_id[self._rings[_key_id(group[0].shard_key)].shard(point_id)]
        return group[shard_for(point_id, len(group))]

    def _locate(self, ids: list, selector, layout: dict) -> dict[int, list]:
        """shard id → the ids (in order) to look for there: in each key group addressed, the
        shard the id routes to."""
        groups: dict = {}
        for shard in self.read_targets(selector, layout):
            groups.setdefault(_key_id(shard.shard_key), []).append(shard)
        located: dict[int, list] = {}
        for group in groups.values():
            full = self._groups[_key_id(group[0].shard_key)]
            resharding = layout.get(_key_id(group[0].shard_key)) if layout else None
            for point_id in ids:
                shard = self._route(point_id, full) if resharding is None else \
                    self._by_id[resharding.read_owner(point_id)]
                if shard in group:
                    located.setdefault(shard.shard_id, []).append(point_id)
        return located

    def _tag(self, shard: ReplicaSet, records: list[PointRecord]) -> list[PointRecord]:
        """Points of custom-sharded collections say which shard key they live under."""
        if shard.shard_key is not None:
            for record in records:
                record.shard_key = shard.shard_key
        return records

    # -- shard keys --------------------------------------------------------------------------
    def _key_group(self, key) -> list[ReplicaSet]:
        group = self._groups.get(_key_id(key))
        if group is None:
            raise BadRequest(f"Shard key {key_text(key)} not found")
        return group

    def _write_groups(self, shard_key) -> list[list[ReplicaSet]]:
        """The shard groups a write goes to: one point lands in one shard of each group."""
        if not self.custom_sharding:
            return [self.shards]
        if shard_key is None:
            raise WrongInput("Shard key not specified")
        keys = shard_key if isinstance(shard_key, list) else [shard_key]
        return [self._key_group(k) for k in keys]

    def read_targets(self, selector=None, layout: dict | None = None) -> list[ReplicaSet]:
        """The shards a read addresses: all (custom: those with an Active replica), a key, a
        list of keys, or ``{"target": …, "fallback": …}``. While a key group is resharded
        (``layout``: the read's, else the current one), only the shards of its read ring."""
        targets = self._read_targets(selector)
        layout = self._reads.layout if layout is None else layout
        if not layout:
            return targets
        return [s for s in targets if (r := layout.get(_key_id(s.shard_key))) is None
                or s.shard_id in r.read_ids]

    def _read_targets(self, selector=None) -> list[ReplicaSet]:
        if selector is None:
            if not self.custom_sharding:
                return self.shards
            return [s for s in self.shards if "Active" in s.states.values()]
        if isinstance(selector, dict) and "target" in selector:
            target = self._read_targets(selector["target"])
            if all(s.readable() for s in target) or selector.get("fallback") is None:
                return target
            return self._read_targets(selector["fallback"])
        keys = selector if isinstance(selector, list) else [selector]
        out: list[ReplicaSet] = []
        for key in keys:
            out.extend(s for s in self._key_group(key) if s not in out)
        return out

    # -- writes ------------------------------------------------------------------------------
    def update(self, op: dict, wait: bool, ordering: str = "weak") -> UpdateResult:
        """Split an operation by shard, validate everywhere, then apply everywhere."""
        if self.strict is not None:
            self.strict.check_update(self, op)
        return self._update(op, wait, ordering)

    def _update(self, op: dict, wait: bool, ordering: str) -> UpdateResult:
        layout = self._layout
        parts = self._split(op)
        with deferred_syncs(), self._write_lock:  # fsynced after the lock: the next applies
            if layout != self._layout:  # the shards or a resharding changed meanwhile
                parts = self._split(op)
            for shard, part in parts:
                shard.check(part)
            if self._resharding and not resharding_writes.whole(op):
                return self._update_migrating(op, parts, wait, ordering)
            op_num = self._next_op
            self._next_op += 1
            for shard, part in parts:
                shard.apply(op_num, part, wait, ordering)
        return UpdateResult(op_num, "completed" if wait else "acknowledged")

    def _update_migrating(self, op: dict, parts: list, wait: bool,
                          ordering: str) -> UpdateResult:
        """A partial write or one by filter while points are copied (under the write lock):
        applied to the old owners, then the points it addressed written whole to their new
        owners (``router.collection.resharding_writes``)."""
        written = {_key_id(g[0].shard_key) for g in self._write_groups(op.get("shard_key"))}
        migrating = [r for k, r in self._resharding.items() if r.migrating and k in written]
        addressed = [resharding_writes.addressed(self, op, r) for r in migrating]
        op_num = self._next_op
        self._next_op += 2
        for shard, part in parts:  # with wait: the follow-ups read what it wrote
            shard.apply(op_num, part, wait or bool(migrating), ordering)
        for resharding, by_old in zip(migrating, addressed, strict=True):
            for shard, part in resharding_writes.follow_ups(self, resharding, by_old):
                shard.apply(op_num + 1, part, wait, ordering)
        return UpdateResult(op_num, "completed" if wait else "acknowledged")

    def next_operation_id(self) -> int:
        """Take an operation number for a change that is not a point write (an index)."""
        with self._write_lock:
            op_num = self._next_op
            self._next_op += 1
            return op_num

    def update_batch(self, ops: list[dict], wait: bool,
                     ordering: str = "weak") -> list[UpdateResult]:
        """Strict mode checks every operation before the first is applied."""
        if self.strict is not None:
            for op in ops:
                self.strict.check_update(self, op)
        return [self._update(op, wait, ordering) for op in ops]

    def _split(self, op: dict) -> list[tuple[ReplicaSet, dict]]:
        groups = self._write_groups(op.get("shard_key"))
        op = {k: v for k, v in op.items() if k != "shard_key"}
        parts: list[tuple[ReplicaSet, dict]] = []
        for group in groups:
            parts.extend(self._split_in(op, group))
        return parts

    def _split_in(self, op: dict, group: list[ReplicaSet]) -> list[tuple[ReplicaSet, dict]]:
        resharding = self._resharding.get(_key_id(group[0].shard_key)) \
            if self._resharding else None
        if resharding is not None:
            return resharding_writes.split(self, op, group, resharding)
        if op["type"] == "upsert":
            rows_of: dict[int, list[int]] = {}
            for i, point_id in enumerate(op["ids"]):
                rows_of.setdefault(self._route(point_id, group).shard_id, []).append(i)
            if len(rows_of) == 1:
                return [(self._by_id[next(iter(rows_of))], op)]
            return self.upsert_parts(op, rows_of)
        if op["type"] == "update_vectors":
            groups_v: dict[int, list] = {}
            for item in op["points"]:
                groups_v.setdefault(self._route(item[0], group).shard_id, []).append(item)
            return [(self._by_id[s], {**op, "points": pts}) for s, pts in groups_v.items()]
        if op.get("ids") is not None:
            groups_i: dict[int, list] = {}
            for point_id in op["ids"]:
                groups_i.setdefault(self._route(point_id, group).shard_id, []).append(point_id)
            return [(self._by_id[s], {**op, "ids": ids}) for s, ids in groups_i.items()]
        return [(shard, op) for shard in group]

    def upsert_parts(self, op: dict, rows_of: dict[int, list[int]]) -> list[tuple]:
        """An upsert cut by shard: shard id -> the rows (points) of ``op`` it takes."""
        parts = []
        for shard_id, rows in rows_of.items():
            part = dict(op)
            part["ids"] = [op["ids"][i] for i in rows]
            part["vectors"] = [op["vectors"][i] for i in rows]
            part["payloads"] = [op["payloads"][i] for i in rows]
            parts.append((self._by_id[shard_id], part))
        return parts

    # -- reads -------------------------------------------------------------------------------
    def observe_filter(self, filter_: dict | None) -> None:
        """Remember the keys a read filtered on without a payload index (for /issues)."""
        if filter_:
            for key, schema in filter_keys.unindexed(filter_, self.payload_schema):
                self.unindexed_reads[key] = (schema, time.time())

    def retrieve(self, ids: list, with_payload, with_vector, shard_key=None) -> list[PointRecord]:
        unique = list(dict.fromkeys(ids))
        found: dict = {}
        with self._reads.read() as layout:
            for shard_id, shard_ids in self._locate(unique, shard_key, layout).items():
                shard = self._by_id[shard_id]
                records = shard.read(
                    lambda r, ids=shard_ids: r.retrieve(ids, with_payload, with_vector)
                )
                for record in self._tag(shard, records):
                    found.setdefault(record.id, record)
        return [found[i] for i in unique if i in found]

    def scroll(
        self, filter_, offset: PointId | None, limit: int, with_payload, with_vector,
        shard_key=None,
    ) -> tuple[list[PointRecord], PointId | None]:
        self.observe_filter(filter_)
        records: list[PointRecord] = []
        with self._reads.read() as layout:
            for shard in self.read_targets(shard_key, layout):
                f = self._read_filter(shard, filter_, layout)
                records.extend(self._tag(shard, shard.read(
                    lambda r, f=f: r.scroll(f, offset, limit + 1, with_payload, with_vector))))
        records.sort(key=lambda r: id_sort_key(r.id))
        next_offset = records[limit].id if len(records) > limit else None
        return records[:limit], next_offset

    def count(self, filter_, shard_key=None) -> int:
        self.observe_filter(filter_)
        total = 0
        with self._reads.read() as layout:
            for shard in self.read_targets(shard_key, layout):
                f = self._read_filter(shard, filter_, layout)
                total += shard.read(lambda r, f=f: r.count(f))
        return total

    def scroll_ordered(
        self, filter_, order_by: dict, limit: int, with_payload, with_vector, shard_key=None
    ) -> list[PointRecord]:
        """Points in order of a payload key's values, merged across shards."""
        self.observe_filter(filter_)
        records: list[PointRecord] = []
        with self._reads.read() as layout:
            for shard in self.read_targets(shard_key, layout):
                f = self._read_filter(shard, filter_, layout)
                records.extend(self._tag(shard, shard.read(lambda r, f=f: r.scroll_ordered(
                    f, order_by, limit, with_payload, with_vector))))
        descending = order_by.get("direction") == "desc"
        records.sort(
            key=lambda r: (-r.order_value if descending else r.order_value, id_sort_key(r.id))
        )
        return records[:limit]

    def facet(self, key: str, filter_, limit: int, shard_key=None) -> list[tuple]:
        """The most frequent values of an indexed key among the allowed points."""
        self.observe_filter(filter_)
        counts: dict = {}
        with self._reads.read() as layout:
            for shard in self.read_targets(shard_key, layout):
                f = self._read_filter(shard, filter_, layout)
                for value, n in shard.read(lambda r, f=f: r.facet(key, f)).items():
                    counts[value] = counts.get(value, 0) + n
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], _facet_order(kv[0])))
        return ranked[:limit]

    def query_vector(self, using: str, point_id: PointId, shard_key=None) -> np.ndarray:
        """The stored vector `using` of a point, for a query by id."""
        records = self.retrieve([point_id], False, [using], shard_key)
        if not records:
            raise NotFound(f"No point with id {point_id} found")
        vectors = records[0].vectors or {}
        if using not in vectors:
            raise WrongInput(f"Vector '{using}' not found in point {point_id}")
        return vectors[using]

    def search(self, queries: list[Query], shard_key=None) -> list[list[PointRecord]]:
        for q in queries:
            if q.filter is not None:
                self.observe_filter(q.filter)
        requests = search_plan.build_requests(self, queries)
        with self._reads.read() as layout:
            targets = self.read_targets(shard_key, layout)
            futures = [shard.search_future(self._shard_requests(shard, requests, layout))
                       for shard in targets]
            answers = [self._tag_all(s, f.result())
                       for s, f in zip(targets, futures, strict=True)]
        return search_plan.merge_results(self, queries, answers)

    async def search_async(self, queries: list[Query], shard_key=None) -> list[list[PointRecord]]:
        """As `search`, awaiting the shards' answers instead of blocking a thread."""
        for q in queries:
            if q.filter is not None:
                self.observe_filter(q.filter)
        if any(q.point_id is not None for q in queries) or self.shard_config.sparse_vectors:
            # a query by id or with idf reads from shards first (maybe over the network):
            # not on the event loop
            requests = await asyncio.to_thread(search_plan.build_requests, self, queries)
        else:
            requests = search_plan.build_requests(self, queries)
        with self._reads.read() as layout:
            targets = self.read_targets(shard_key, layout)
            if len(targets) == 1:  # one shard (the common case): no gathering to pay for
                answers = [await wakeups.wrap(targets[0].search_future(
                    self._shard_requests(targets[0], requests, layout)))]
            else:
                futures = [wakeups.wrap(s.search_future(self._shard_requests(s, requests,
                                                                             layout)))
                           for s in targets]
                answers = await asyncio.gather(*futures)
        if self.custom_sharding:
            answers = [self._tag_all(s, a) for s, a in zip(targets, answers, strict=True)]
        return search_plan.merge_results(self, queries, list(answers))

    def _shard_requests(self, shard: ReplicaSet, requests: list, layout: dict) -> list:
        if not layout or _key_id(shard.shard_key) not in layout:
            return requests
        return [dataclasses.replace(r, filter=self._read_filter(shard, r.filter, layout))
                for r in requests]

    def _tag_all(self, shard: ReplicaSet, per_query: list) -> list:
        if shard.shard_key is not None:
            for records in per_query:
                self._tag(shard, records)
        return per_query

    def cluster_info(self, peer_id: int, transfers: list[dict] | None = None) -> dict:
        """GET /collections/{name}/cluster: this peer's shards and where the others are."""
        local, remote = [], []
        for shard in self.shards:
            keyed = {"shard_key": shard.shard_key} if shard.shard_key is not None else {}
            for peer, state in sorted(shard.states.items()):
                if peer == peer_id and shard.local is not None:
                    local.append({
                        "shard_id": shard.shard_id, **keyed,
                        "points_count": shard.local.info()["points_count"],
                        "state": state,
                    })
                elif peer != peer_id:
                    remote.append({"shard_id": shard.shard_id, **keyed, "peer_id": peer,
                                   "state": state})
        return {
            "peer_id": peer_id,
            "shard_count": len(self.shards),
            "local_shards": local,
            "remote_shards": remote,
            "shard_transfers": [
                {"shard_id": t["shard_id"], "to_shard_id": t.get("to_shard_id"), "from": t["from"],
                 "to": t["to"], "sync": t["sync"], "method": t["method"],
                 **({"comment": t["comment"]} if t.get("comment") else {})}
                for t in transfers or []
            ],
        }

    # -- status ------------------------------------------------------------------------------
    def info(self) -> dict:
        infos = [shard.read(lambda r: r.info()) for shard in self.shards]
        optimizing = any(i["optimizing"] for i in infos)
        return {
            "status": "yellow" if optimizing else "green",
            "optimizer_status": "ok",
            "warnings": [],
            "indexed_vectors_count": sum(i["indexed_vectors_count"] for i in infos),
            "points_count": sum(i["points_count"] for i in infos),
            "segments_count": sum(i["segments_count"] for i in infos),
            "config": self.config,
            "payload_schema": self._payload_schema_info(),
            "update_queue": {"length": 0},  # writes are applied as they come: nothing waits
        }

    def _payload_schema_info(self) -> dict:
        counts: dict[str, int] = {}
        for shard in self.shards:
            for key, n in shard.read(lambda r: r.payload_schema_counts()).items():
                counts[key] = counts.get(key, 0) + n
        out = {}
        for key, schema in self.payload_schema.items():
            info: dict = {"data_type": schema["type"]}
            if len(schema) > 1 or schema.get("_given_as_object"):
                info["params"] = {k: v for k, v in schema.items() if k != "_given_as_object"}
            info["points"] = counts.get(key, 0)
            out[key] = info
        return out

    def estimated_payload_bytes(self) -> int:
        """The payload storage, estimated from up to 64 points of each shard (strict mode's
        max_collection_payload_size_bytes)."""
        total = 0
        for shard in self.shards:
            sample = shard.read(lambda r: r.scroll(None, None, 64, True, False))
            count = shard.read(lambda r: r.count(None))
            if sample:
                size = sum(len(orjson.dumps(r.payload or {})) for r in sample)
                total += size * count // len(sample)
        return total

    def set_config(self, config: dict, payload_schema: dict | None = None) -> None:
        if config.get("strict_mode_config") != self.config.get("strict_mode_config"):
            self.strict = StrictMode.of(config)  # new limits, new (full) rate buckets
        self.config = config
        self.payload_schema = dict(payload_schema or {})
        self.shard_config = ShardConfig.from_collection(config, self.payload_schema)


class ShardScope:
    """A collection seen through a shard key selector: its reads address only the selected
    shards; everything else is the collection's own."""

    def __init__(self, collection: Collection, selector) -> None:
        self._collection = collection
        self.shard_selector = selector

    def __getattr__(self, name: str):
        return getattr(self._collection, name)

    def scoped(self, selector):
        return self._collection.scoped(selector)

    def _key(self, shard_key):
        return self.shard_selector if shard_key is None else shard_key

    def retrieve(self, ids, with_payload, with_vector, shard_key=None):
        return self._collection.retrieve(ids, with_payload, with_vector, self._key(shard_key))

    def scroll(self, filter_, offset, limit, with_payload, with_vector, shard_key=None):
        return self._collection.scroll(filter_, offset, limit, with_payload, with_vector,
                                       self._key(shard_key))

    def count(self, filter_, shard_key=None):
        return self._collection.count(filter_, self._key(shard_key))

    def scroll_ordered(self, filter_, order_by, limit, with_payload, with_vector,
                       shard_key=None):
        return self._collection.scroll_ordered(filter_, order_by, limit, with_payload,
                                               with_vector, self._key(shard_key))

    def facet(self, key, filter_, limit, shard_key=None):
        return self._collection.facet(key, filter_, limit, self._key(shard_key))

    def query_vector(self, using, point_id, shard_key=None):
        return self._collection.query_vector(using, point_id, self._key(shard_key))

    def search(self, queries, shard_key=None):
        return self._collection.search(queries, self._key(shard_key))

    async def search_async(self, queries, shard_key=None):
        return await self._collection.search_async(queries, self._key(shard_key))


def _layout_of(info: dict | None) -> dict[tuple, Resharding]:
    """Key group -> its resharding, from consensus's entry (None: no resharding)."""
    return {} if info is None else {_key_id(info.get("key")): Resharding.of(info)}


def _key_id(key) -> tuple:
    """Shard keys 1 and "1" are different keys: the type is part of the identity."""
    return (type(key).__name__, key)


def _facet_order(value) -> tuple:
    """Ties in facet counts: values in ascending order, numbers before strings."""
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, (int, float)):
        return (1, value, "")
    return (2, 0, str(value))
