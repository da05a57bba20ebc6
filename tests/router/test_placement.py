"""Where shards go: a new collection's, and a collection recovered from a snapshot."""

from __future__ import annotations

from router.cluster.placement import place_shards, recovered_placement


def test_new_shards_spread_evenly_over_distinct_peers():
    placement = place_shards(6, 2, [1, 2, 3])
    assert all(len(set(replicas)) == 2 for replicas in placement)
    loads = [sum(peer in replicas for replicas in placement) for peer in (1, 2, 3)]
    assert loads == [4, 4, 4]


def test_a_recovered_shard_stays_here_and_its_other_replicas_refill_from_it():
    shards = [{"shard_id": 0, "included": True}, {"shard_id": 1, "included": True, "key": "k"}]
    out = recovered_placement(shards, 2, here=7, peers=[7, 8, 9])
    assert [s["shard_id"] for s in out] == [0, 1] and out[1]["key"] == "k"
    for shard in out:
        states = shard["replicas"]
        assert states.pop("7") == "Active"
        assert list(states.values()) == ["Dead"] and set(states) <= {"8", "9"}
    assert {next(iter(s["replicas"].keys() - {"7"})) for s in out} == {"8", "9"}  # spread


def test_a_shard_the_snapshot_lacks_starts_empty_wherever_placement_puts_it():
    out = recovered_placement([{"shard_id": 0, "included": False}], 2, here=7, peers=[7, 8, 9])
    assert len(out[0]["replicas"]) == 2
    assert set(out[0]["replicas"].values()) == {"Initializing"}


def test_the_factor_is_bounded_by_the_peers_there_are():
    out = recovered_placement([{"shard_id": 0, "included": True}], 5, here=1, peers=[1, 2])
    assert out[0]["replicas"] == {"1": "Active", "2": "Dead"}
    alone = recovered_placement([{"shard_id": 0, "included": True}], 3, here=1, peers=[1])
    assert alone[0]["replicas"] == {"1": "Active"}
