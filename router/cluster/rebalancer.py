"""What the cluster's replicas should do next, planned from the metadata alone (pure, no I/O).

The Raft leader asks for the plan and carries out its first step with the shard-transfer
machinery, one step at a time (``router.cluster.duties``); ``GET /cluster/rebalance`` shows the
whole plan without doing anything. Steps, most urgent first:

1. **repair**: a shard with fewer live replicas than its ``replication_factor``, because a peer
   has been gone longer than the repair delay (or was removed), gets a new replica on a healthy
   peer, copied from an Active one;
2. **trim**: a shard with more replicas than its factor (once repaired) drops the surplus: the
   replica on the lost peer first, then one that is not Active;
3. **drain**: a replica on a peer being drained moves to another peer;
4. **spread**: while two peers' replica counts differ by more than one, a replica moves from
   the fullest peer to the emptiest that lacks its shard.

A target is never a peer that already holds the shard, is draining, or is down.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    kind: str  # "replicate" | "move" | "drop"
    collection: str
    shard_id: int
    source: int  # the replica copied or moved from; for "drop", the replica dropped
    target: int | None = None
    reason: str = ""

    def document(self) -> dict:
        out = {"kind": self.kind, "collection": self.collection, "shard_id": self.shard_id,
               "from": self.source, "reason": self.reason}
        if self.target is not None:
            out["to"] = self.target
        return out


@dataclass
class _Shard:
    collection: str
    shard_id: int
    factor: int
    replicas: dict[int, str]


def _shards(collections: dict) -> list[_Shard]:
    out = []
    for name, entry in sorted(collections.items()):
        factor = entry["config"]["params"].get("replication_factor", 1)
        for shard in entry["shards"]:
            out.append(_Shard(name, shard["shard_id"], factor,
                              {int(p): s for p, s in shard["replicas"].items()}))
    return out


def plan(collections: dict, live: list[int], draining: set[int] = frozenset(),
         lost: set[int] = frozenset(), limit: int = 10_000) -> list[Step]:
    """The steps, in order, for collections without transfers running (a collection with
    one is left alone until it ends). ``live``: peers up now; ``lost``: peers gone longer than
    the repair delay (their replicas no longer count)."""
    quiet = {name: entry for name, entry in collections.items()
             if not entry.get("transfers") and entry.get("resharding") is None}
    shards = _shards(quiet)
    usable = [p for p in sorted(live) if p not in draining and p not in lost]
    counts = {p: 0 for p in usable}
    for shard in shards:
        for peer in shard.replicas:
            if peer in counts:
                counts[peer] += 1
    steps: list[Step] = []

    def target_for(shard: _Shard) -> int | None:
        free = [p for p in usable if p not in shard.replicas]
        return min(free, key=lambda p: (counts[p], p)) if free else None

    def source_of(shard: _Shard, avoid: set[int] = frozenset()) -> int | None:
        active = [p for p, s in shard.replicas.items()
                  if s == "Active" and p in live and p not in avoid]
        return min(active) if active else None

    for shard in shards:  # 1. repair
        kept = [p for p in shard.replicas if p not in lost]
        while len(kept) < min(shard.factor, len(usable)):
            source, target = source_of(shard), target_for(shard)
            if source is None or target is None:
                break
            steps.append(Step("replicate", shard.collection, shard.shard_id, source, target,
                              "below its replication factor"))
            shard.replicas[target] = "Partial"
            counts[target] += 1
            kept.append(target)
    for shard in shards:  # 2. trim
        surplus = len(shard.replicas) - shard.factor
        # a lost or down peer's replica first, then one that is not Active
        order = sorted(shard.replicas, key=lambda p: (p in usable,
                                                      shard.replicas[p] == "Active", -p))
        for peer in order[:max(0, surplus)]:
            if not any(s == "Active" for p, s in shard.replicas.items() if p != peer):
                continue
            steps.append(Step("drop", shard.collection, shard.shard_id, peer,
                              reason="above its replication factor"))
            del shard.replicas[peer]
            if peer in counts:
                counts[peer] -= 1
    for shard in shards:  # 3. drain
        for peer in [p for p in shard.replicas if p in draining]:
            target = target_for(shard)
            if target is None or shard.replicas[peer] != "Active":
                continue
            steps.append(Step("move", shard.collection, shard.shard_id, peer, target,
                              f"peer {peer} is draining"))
            shard.replicas[target] = shard.replicas.pop(peer)
            counts[target] += 1
    for _ in range(limit):  # 4. spread
        step = _spread_step(shards, counts, live)
        if step is None:
            break
        steps.append(step)
    return steps


def _spread_step(shards: list[_Shard], counts: dict[int, int], live: list[int]) -> Step | None:
    ranked = sorted(counts, key=lambda p: (counts[p], p))
    for low in ranked:
        for high in reversed(ranked):
            if counts[high] - counts[low] <= 1:
                break
            for shard in shards:
                if shard.replicas.get(high) == "Active" and low not in shard.replicas and \
                        high in live:
                    shard.replicas[low] = shard.replicas.pop(high)
                    counts[high] -= 1
                    counts[low] += 1
                    return Step("move", shard.collection, shard.shard_id, high, low,
                                f"peer {high} holds {counts[high] + 1} replicas, "
                                f"peer {low} {counts[low] - 1}")
    return None
