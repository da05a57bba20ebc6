"""How a collection routes one key group's points while it is resharded: which shards a write
goes to, which shards a read asks, and what each of them may answer.

The stages are consensus's (``consensus.resharding``). Before the switch reads use the old
ring, after it the new one; a shard read under a ring answers only the points that ring gives
it (the ``tessera_ring`` filter condition, evaluated by the shard), so a point copied into its
new shard, or not yet dropped from its old one, is never answered twice. While points are
copied (``migrating``) a write goes to the id's old and new owner, so neither misses it.
This module only decides; the collection does the reading and writing.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

from consensus.resharding import OLD_RING_STAGES
from node.ids import PointId
from node.ring import ring_of

#: how long a stage change waits for the reads begun under the previous one
DRAIN_SECONDS = 10.0


def ring_condition(shard_ids, shard_id: int) -> dict:
    """The filter condition of the points the ring of ``shard_ids`` gives to ``shard_id``."""
    return {"tessera_ring": {"shards": sorted(shard_ids), "shard": shard_id}}


@dataclass(frozen=True)
class Resharding:
    stage: str
    old: tuple[int, ...]
    new: tuple[int, ...]

    @classmethod
    def of(cls, info: dict) -> Resharding:
        return cls(info["stage"], tuple(sorted(info["old"])), tuple(sorted(info["new"])))

    @property
    def read_ids(self) -> tuple[int, ...]:
        return self.old if self.stage in OLD_RING_STAGES else self.new

    @property
    def gaining(self) -> tuple[int, ...]:
        """The shards whose replicas note what is written to them (their copy must not undo
        it): those of the new ring, until the switch."""
        return self.new if self.stage in ("init", "migrating") else ()

    @property
    def migrating(self) -> bool:
        return self.stage == "migrating"

    def old_owner(self, point_id: PointId) -> int:
        return ring_of(self.old).shard(point_id)

    def new_owner(self, point_id: PointId) -> int:
        return ring_of(self.new).shard(point_id)

    def read_owner(self, point_id: PointId) -> int:
        return ring_of(self.read_ids).shard(point_id)

    def write_owners(self, point_id: PointId) -> tuple[int, ...]:
        old = ring_of(self.old).shard(point_id)
        if self.stage == "migrating":
            new = ring_of(self.new).shard(point_id)
            return (old,) if new == old else (old, new)
        if self.stage in OLD_RING_STAGES:
            return (old,)
        return (ring_of(self.new).shard(point_id),)

    def read_filter(self, shard_id: int, filter_: dict | None) -> dict:
        """``filter_`` narrowed to the points the read ring gives to ``shard_id``."""
        ring = ring_condition(self.read_ids, shard_id)
        return {"must": [ring, filter_]} if filter_ else {"must": [ring]}


class _Read:
    """One read under a resharding layout (``ReadGate.read``)."""

    __slots__ = ("_gate", "_gen")

    def __init__(self, gate: ReadGate) -> None:
        self._gate = gate
        self._gen = 0

    def __enter__(self) -> dict:
        gate = self._gate
        with gate._cond:
            self._gen = gate._gen
            gate._open[self._gen] = gate._open.get(self._gen, 0) + 1
            return gate.layout

    def __exit__(self, *exc) -> None:
        gate = self._gate
        with gate._cond:
            left = gate._open[self._gen] - 1
            if left:
                gate._open[self._gen] = left
            else:
                del gate._open[self._gen]
            gate._cond.notify_all()


_NO_RESHARDING = contextlib.nullcontext({})


class ReadGate:
    """The resharding layout reads take (key group -> ``Resharding``), and the reads in flight
    under each. A read takes one layout for all its shards; before this node says it applied a
    new stage (its applied index, which a peer waits on before it drops points), the reads begun
    under the previous layout are let end (``drain``). Reads with no resharding running cost
    one attribute test."""

    def __init__(self) -> None:
        self.layout: dict = {}
        self._cond = threading.Condition()
        self._gen = 0
        self._open: dict[int, int] = {}

    def read(self) -> contextlib.AbstractContextManager[dict]:
        return _Read(self) if self.layout else _NO_RESHARDING

    def set(self, layout: dict) -> None:
        with self._cond:
            self.layout = layout
            self._gen += 1

    def drain(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Until no read begun under an earlier layout is in flight (or the timeout)."""
        with self._cond:
            gen = self._gen
            return self._cond.wait_for(lambda: all(g >= gen for g in self._open), timeout)
