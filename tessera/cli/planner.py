"""Plans of replica moves, computed from a collection's layout (pure, no I/O): draining a
peer (every replica it holds to a peer that lacks that shard, the least loaded first) and
evening out replica counts per peer (from the fullest peer to the emptiest, while they differ
by more than one)."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.cli.layout import Layout


@dataclass(frozen=True)
class Move:
    collection: str
    shard_id: int
    source: int
    target: int | None  # None: no peer can take it

    def document(self) -> dict:
        return {"collection": self.collection, "shard_id": self.shard_id,
                "from": self.source, "to": self.target}


def _holders(view: Layout) -> dict[int, set[int]]:
    return {shard.shard_id: shard.peers() for shard in view.shards}


def drain(view: Layout, peer: int, peers: list[int]) -> list[Move]:
    """Moves that empty ``peer`` of this collection; target None where every peer holds it."""
    holders = _holders(view)
    counts = view.counts(peers)
    others = [p for p in peers if p != peer]
    moves = []
    for shard_id, held in sorted(holders.items()):
        if peer not in held:
            continue
        candidates = [p for p in others if p not in held]
        if not candidates:
            moves.append(Move(view.collection, shard_id, peer, None))
            continue
        target = min(candidates, key=lambda p: (counts[p], p))
        counts[target] += 1
        counts[peer] -= 1
        held.add(target)
        moves.append(Move(view.collection, shard_id, peer, target))
    return moves


def rebalance(view: Layout, peers: list[int]) -> list[Move]:
    """Moves after which no two peers' replica counts differ by more than one (as far as a
    shard the emptier peer lacks can be found)."""
    holders = _holders(view)
    counts = view.counts(peers)
    moves: list[Move] = []
    for _ in range(sum(counts.values()) + 1):
        ranked = sorted(counts, key=lambda p: (counts[p], p))
        move = None
        for low in ranked:
            for high in reversed(ranked):
                if counts[high] - counts[low] <= 1:
                    break
                shard_id = next((s for s, held in sorted(holders.items())
                                 if high in held and low not in held), None)
                if shard_id is not None:
                    move = Move(view.collection, shard_id, high, low)
                    break
            if move:
                break
        if move is None:
            break
        holders[move.shard_id].discard(move.source)
        holders[move.shard_id].add(move.target)  # type: ignore[arg-type]
        counts[move.source] -= 1
        counts[move.target] += 1  # type: ignore[index]
        moves.append(move)
    return moves


def counts_after(view: Layout, peers: list[int], moves: list[Move]) -> dict[int, int]:
    counts = view.counts(peers)
    for move in moves:
        if move.target is not None:
            counts[move.source] -= 1
            counts[move.target] += 1
    return counts
