"""One collection: its config, its shards (replica sets), routing of points, fan-out and merge.

Every change gets the next operation number of the collection (its ``operation_id``); the change
is validated on every shard it touches before any shard applies it, so a failing request writes
nothing. Reads go to every shard and are merged exactly as one shard would order them.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import numpy as np

from node.errors import NotFound, WrongInput
from node.ids import PointId, id_sort_key
from node.shard_config import ShardConfig
from node.shard_search import PointRecord
from router import search_plan
from router.hashring import shard_for
from router.replica_set import ReplicaSet
from router.search_plan import Query


@dataclass
class UpdateResult:
    operation_id: int
    status: str  # "completed" | "acknowledged"


class Collection:
    def __init__(
        self, name: str, config: dict, shards: list[ReplicaSet], payload_schema: dict | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.payload_schema = dict(payload_schema or {})
        self.shard_config = ShardConfig.from_collection(config, self.payload_schema)
        self.shards = shards
        self._write_lock = threading.Lock()
        self._next_op = max((s.local.last_op() for s in shards if s.local is not None), default=0) + 1

    @property
    def shard_number(self) -> int:
        return len(self.shards)

    def _shard_of(self, point_id: PointId) -> ReplicaSet:
        return self.shards[shard_for(point_id, len(self.shards))]

    # -- writes ------------------------------------------------------------------------------
    def update(self, op: dict, wait: bool, ordering: str = "weak") -> UpdateResult:
        """Split an operation by shard, validate everywhere, then apply everywhere."""
        parts = self._split(op)
        with self._write_lock:
            for shard, part in parts:
                shard.check(part)
            op_num = self._next_op
            self._next_op += 1
            for shard, part in parts:
                shard.apply(op_num, part, wait, ordering)
        return UpdateResult(op_num, "completed" if wait else "acknowledged")

    def next_operation_id(self) -> int:
        """Take an operation number for a change that is not a point write (an index)."""
        with self._write_lock:
            op_num = self._next_op
            self._next_op += 1
            return op_num

    def update_batch(self, ops: list[dict], wait: bool, ordering: str = "weak") -> list[UpdateResult]:
        return [self.update(op, wait, ordering) for op in ops]

    def _split(self, op: dict) -> list[tuple[ReplicaSet, dict]]:
        if op["type"] == "upsert":
            groups: dict[int, list[int]] = {}
            for i, point_id in enumerate(op["ids"]):
                groups.setdefault(shard_for(point_id, len(self.shards)), []).append(i)
            parts = []
            for shard_id, rows in groups.items():
                part = dict(op)
                part["ids"] = [op["ids"][i] for i in rows]
                part["vectors"] = [op["vectors"][i] for i in rows]
                part["payloads"] = [op["payloads"][i] for i in rows]
                parts.append((self.shards[shard_id], part))
            return parts
        if op["type"] == "update_vectors":
            groups_v: dict[int, list] = {}
            for item in op["points"]:
                groups_v.setdefault(shard_for(item[0], len(self.shards)), []).append(item)
            return [(self.shards[s], {**op, "points": pts}) for s, pts in groups_v.items()]
        if op.get("ids") is not None:
            groups_i: dict[int, list] = {}
            for point_id in op["ids"]:
                groups_i.setdefault(shard_for(point_id, len(self.shards)), []).append(point_id)
            return [(self.shards[s], {**op, "ids": ids}) for s, ids in groups_i.items()]
        return [(shard, op) for shard in self.shards]

    # -- reads -------------------------------------------------------------------------------
    def retrieve(self, ids: list, with_payload, with_vector) -> list[PointRecord]:
        unique = list(dict.fromkeys(ids))
        groups: dict[int, list] = {}
        for point_id in unique:
            groups.setdefault(shard_for(point_id, len(self.shards)), []).append(point_id)
        found: dict = {}
        for shard_id, shard_ids in groups.items():
            shard = self.shards[shard_id]
            for record in shard.read(lambda r, ids=shard_ids: r.retrieve(ids, with_payload, with_vector)):
                found[record.id] = record
        return [found[i] for i in unique if i in found]

    def scroll(
        self, filter_, offset: PointId | None, limit: int, with_payload, with_vector
    ) -> tuple[list[PointRecord], PointId | None]:
        records: list[PointRecord] = []
        for shard in self.shards:
            records.extend(shard.read(
                lambda r: r.scroll(filter_, offset, limit + 1, with_payload, with_vector)))
        records.sort(key=lambda r: id_sort_key(r.id))
        next_offset = records[limit].id if len(records) > limit else None
        return records[:limit], next_offset

    def count(self, filter_) -> int:
        return sum(shard.read(lambda r: r.count(filter_)) for shard in self.shards)

    def scroll_ordered(
        self, filter_, order_by: dict, limit: int, with_payload, with_vector
    ) -> list[PointRecord]:
        """Points in order of a payload key's values, merged across shards."""
        records: list[PointRecord] = []
        for shard in self.shards:
            records.extend(shard.read(
                lambda r: r.scroll_ordered(filter_, order_by, limit, with_payload, with_vector)))
        descending = order_by.get("direction") == "desc"
        records.sort(key=lambda r: (-r.order_value if descending else r.order_value, id_sort_key(r.id)))
        return records[:limit]

    def facet(self, key: str, filter_, limit: int) -> list[tuple]:
        """The most frequent values of an indexed key among the allowed points."""
        counts: dict = {}
        for shard in self.shards:
            for value, n in shard.read(lambda r: r.facet(key, filter_)).items():
                counts[value] = counts.get(value, 0) + n
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], _facet_order(kv[0])))
        return ranked[:limit]

    def query_vector(self, using: str, point_id: PointId) -> np.ndarray:
        """The stored vector `using` of a point, for a query by id."""
        records = self._shard_of(point_id).read(lambda r: r.retrieve([point_id], False, [using]))
        if not records:
            raise NotFound(f"No point with id {point_id} found")
        vectors = records[0].vectors or {}
        if using not in vectors:
            raise WrongInput(f"Vector '{using}' not found in point {point_id}")
        return vectors[using]

    def search(self, queries: list[Query]) -> list[list[PointRecord]]:
        requests = search_plan.build_requests(self, queries)
        futures = [shard.search_future(requests) for shard in self.shards]
        return search_plan.merge_results(self, queries, [f.result() for f in futures])

    async def search_async(self, queries: list[Query]) -> list[list[PointRecord]]:
        """As `search`, awaiting the shards' answers instead of blocking a thread."""
        requests = search_plan.build_requests(self, queries)
        futures = [asyncio.wrap_future(s.search_future(requests)) for s in self.shards]
        return search_plan.merge_results(self, queries, list(await asyncio.gather(*futures)))

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
                {"shard_id": t["shard_id"], "to_shard_id": None, "from": t["from"],
                 "to": t["to"], "sync": t["sync"], "method": t["method"]}
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
            "indexed_vectors_count": sum(i["indexed_vectors_count"] for i in infos),
            "points_count": sum(i["points_count"] for i in infos),
            "segments_count": sum(i["segments_count"] for i in infos),
            "config": self.config,
            "payload_schema": self._payload_schema_info(),
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

    def set_config(self, config: dict, payload_schema: dict | None = None) -> None:
        self.config = config
        self.payload_schema = dict(payload_schema or {})
        self.shard_config = ShardConfig.from_collection(config, self.payload_schema)


def _facet_order(value) -> tuple:
    """Ties in facet counts: values in ascending order, numbers before strings."""
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, (int, float)):
        return (1, value, "")
    return (2, 0, str(value))
