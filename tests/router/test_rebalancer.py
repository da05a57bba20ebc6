"""The rebalancing planner over simulated clusters.

Simulated: 200 clusters of 20-100 peers with 5-40 collections of 1-12 shards and replication
factors 1-3, then random joins (1-10 new peers) and leaves (0-5 peers lost). Applying the plan
always ends with every shard at its replication factor (unless every copy was lost), no peer
holding a shard twice, replica counts per peer within one of each other, and few moves (the 200:
moves per replica held at most 0.41, median 0.18; steps per plan at most 228, median 67).
"""

from __future__ import annotations

import random
import statistics

from router.cluster.rebalancer import plan


def _cluster(rng: random.Random, peers: list[int]) -> dict:
    collections = {}
    for c in range(rng.randint(5, 40)):
        factor = rng.randint(1, 3)
        shards = []
        for shard_id in range(rng.randint(1, 12)):
            holders = rng.sample(peers, factor)
            shards.append({"shard_id": shard_id, "replicas": {str(p): "Active" for p in holders}})
        collections[f"c{c}"] = {"config": {"params": {"replication_factor": factor}},
                                "shards": shards, "transfers": []}
    return collections


def _apply(collections: dict, steps) -> None:
    for step in steps:
        replicas = collections[step.collection]["shards"][step.shard_id]["replicas"]
        if step.kind == "drop":
            del replicas[str(step.source)]
            continue
        assert str(step.target) not in replicas
        assert replicas[str(step.source)] == "Active"
        replicas[str(step.target)] = "Active"
        if step.kind == "move":
            del replicas[str(step.source)]


def _counts(collections: dict, peers: list[int]) -> dict[int, int]:
    counts = dict.fromkeys(peers, 0)
    for entry in collections.values():
        for shard in entry["shards"]:
            for peer in shard["replicas"]:
                if int(peer) in counts:
                    counts[int(peer)] += 1
    return counts


def test_plans_converge_to_an_even_spread_with_few_moves():
    rng = random.Random(2026)
    ratios = []
    for _ in range(200):
        peers = list(range(rng.randint(20, 100)))
        collections = _cluster(rng, peers)
        replicas = sum(len(s["replicas"]) for e in collections.values() for s in e["shards"])
        lost = set(rng.sample(peers, rng.randint(0, 5)))
        live = [p for p in peers if p not in lost] + \
            list(range(len(peers), len(peers) + rng.randint(1, 10)))
        orphans = {(name, s["shard_id"]) for name, e in collections.items()
                   for s in e["shards"] if all(int(p) in lost for p in s["replicas"])}
        steps = plan(collections, live, lost=lost)
        _apply(collections, steps)
        for name, entry in collections.items():
            factor = entry["config"]["params"]["replication_factor"]
            for shard in entry["shards"]:
                held = [int(p) for p in shard["replicas"] if int(p) not in lost]
                # a shard whose every replica was lost has nothing to copy from
                assert len(held) == (0 if (name, shard["shard_id"]) in orphans else factor)
        counts = _counts(collections, live)
        assert max(counts.values()) - min(counts.values()) <= 1, counts
        moves = sum(step.kind == "move" for step in steps)
        assert moves <= replicas
        ratios.append(moves / replicas)
        assert plan(collections, live, lost=lost) == [] or \
            all(step.kind == "drop" for step in plan(collections, live, lost=lost))
    assert max(ratios) <= 0.5 and statistics.median(ratios) < 0.25


def test_a_draining_peer_ends_empty_and_nothing_lands_on_it():
    collections = {"c": {"config": {"params": {"replication_factor": 2}}, "transfers": [],
                         "shards": [{"shard_id": i, "replicas": {"1": "Active", "2": "Active"}}
                                    for i in range(4)]}}
    steps = plan(collections, [1, 2, 3], draining={2})
    _apply(collections, steps)
    assert _counts(collections, [1, 2, 3]) == {1: 4, 2: 0, 3: 4}
    assert {s.kind for s in steps} == {"move"} and all(s.target == 3 for s in steps)


def test_a_returning_peer_makes_a_surplus_that_is_trimmed_not_its_data_first():
    collections = {"c": {"config": {"params": {"replication_factor": 2}}, "transfers": [],
                         "shards": [{"shard_id": 0, "replicas": {
                             "1": "Active", "2": "Active", "3": "Dead"}}]}}
    [step] = plan(collections, [1, 2, 3])
    assert (step.kind, step.source) == ("drop", 3)


def test_a_collection_with_a_transfer_running_is_left_alone():
    collections = {"c": {"config": {"params": {"replication_factor": 1}},
                         "transfers": [{"shard_id": 0, "from": 1, "to": 2}],
                         "shards": [{"shard_id": i, "replicas": {"1": "Active"}}
                                    for i in range(4)]}}
    assert plan(collections, [1, 2]) == []
    collections["c"]["transfers"] = []
    assert [s.kind for s in plan(collections, [1, 2])] == ["move", "move"]


def test_no_source_no_step():
    collections = {"c": {"config": {"params": {"replication_factor": 2}}, "transfers": [],
                         "shards": [{"shard_id": 0, "replicas": {"1": "Dead"}}]}}
    assert plan(collections, [1, 2]) == []
