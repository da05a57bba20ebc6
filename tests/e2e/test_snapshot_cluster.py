"""Snapshots in a 3-node cluster: a collection snapshot holds the node's local shards, and
recovers them after the node lost its data; shard snapshot recovery on a peer holding a replica
with each priority (``no_sync`` keeps the replicas apart, ``replica`` lets the cluster's data win,
``snapshot`` makes the recovered replica the source the others refill from)."""

from __future__ import annotations

import random
import shutil

import httpx
import pytest

from node import snapshot_archive as archive
from node.shard import LocalShard
from node.shard_config import ShardConfig
from router.collection.remote_replica import PeerChannels, ReplicaUnavailable, fetch_shard_snapshot
from tests.e2e.test_cluster import _create, _points, _replica_counts, _upsert
from tests.support.cluster import (
    cluster_node,
    exact_count,
    replicas_all_active,
    start_cluster,
    wait_peers,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    nodes = start_cluster(tmp_path_factory.mktemp("snapcluster"), 3)
    yield nodes
    for node in nodes:
        node.kill()


def _ok(resp: httpx.Response):
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


def _loaded(cluster, name: str, ids, seed: int, **params) -> random.Random:
    """A new collection, all Active, holding points ``ids``; the generator that made them."""
    rng = random.Random(seed)
    _create(cluster[0], name, **params)
    wait_until(lambda: replicas_all_active(cluster[0], name), 30, "all Active")
    assert _upsert(cluster[0], name, _points(ids, rng)).status_code == 200
    return rng


def _local_counts(node, name: str) -> dict[int, int]:
    info = _ok(httpx.get(f"{node.url}/collections/{name}/cluster", timeout=10))
    return {s["shard_id"]: s["points_count"] for s in info["local_shards"]}


def test_a_node_recovers_its_shards_from_its_snapshot_after_losing_its_data(cluster):
    name = "snap_lost"
    _loaded(cluster, name, range(300), 5, shard_number=3, replication_factor=1)
    victim = cluster[2]
    held = _local_counts(victim, name)
    assert held and sum(held.values()) > 0
    snap = _ok(httpx.post(f"{victim.url}/collections/{name}/snapshots", timeout=60))
    victim.stop()
    for directory in (victim.storage_path / "collections").iterdir():
        shutil.rmtree(directory)  # the operator lost this peer's data (its snapshots remain)
    victim.start().wait_ready(60)
    assert sum(_local_counts(victim, name).values()) == 0
    location = f"file://{victim.snapshots_path / name / snap['name']}"
    assert _ok(httpx.put(f"{victim.url}/collections/{name}/snapshots/recover",
                         json={"location": location}, timeout=60)) is True
    assert _local_counts(victim, name) == held
    for node in cluster:
        assert exact_count(node, name) == 300


def test_a_collection_recovered_in_a_cluster_gets_its_replication_factor_back(cluster):
    """The collection no longer exists: recovery creates it with the snapshot's config, its
    shards replicated over the cluster as a new collection's are, refilled from this peer."""
    name = "snap_reborn"
    _loaded(cluster, name, range(200), 8, shard_number=2, replication_factor=3)
    source = cluster[1]
    snap = _ok(httpx.post(f"{source.url}/collections/{name}/snapshots", timeout=60))
    assert _ok(httpx.delete(f"{cluster[0].url}/collections/{name}", timeout=60)) is True
    location = f"file://{source.snapshots_path / name / snap['name']}"
    assert _ok(httpx.put(f"{source.url}/collections/{name}/snapshots/recover",
                         json={"location": location}, timeout=60)) is True

    def settled() -> bool:
        info = _ok(httpx.get(f"{source.url}/collections/{name}/cluster", timeout=10))
        replicas = len(info["local_shards"]) + len(info["remote_shards"])
        here = _local_counts(source, name)
        return replicas == 6 and all(replicas_all_active(n, name) for n in cluster) and \
            _replica_counts(cluster, name) == {shard: {n} for shard, n in here.items()}

    wait_until(settled, 60, "three Active replicas of each shard, equal everywhere")
    assert sum(_local_counts(source, name).values()) == 200
    for node in cluster:
        assert exact_count(node, name) == 200
        assert sum(_local_counts(node, name).values()) == 200


def test_shard_snapshot_recovery_with_each_priority(cluster):
    name = "snap_priority"
    rng = _loaded(cluster, name, range(100), 6, shard_number=1, replication_factor=3)
    source = cluster[1]
    snap = _ok(httpx.post(f"{source.url}/collections/{name}/shards/0/snapshots", timeout=60))
    location = f"file://{source.snapshots_path / name / 'shards' / '0' / snap['name']}"
    assert _upsert(cluster[0], name, _points(range(100, 150), rng)).status_code == 200

    def recover(priority: str) -> None:
        assert _ok(httpx.put(f"{source.url}/collections/{name}/shards/0/snapshots/recover",
                             json={"location": location, "priority": priority},
                             timeout=60)) is True

    def settled(expected: set[int]):
        return lambda: all(replicas_all_active(n, name) for n in cluster) and \
            _replica_counts(cluster, name) == {0: expected}

    recover("no_sync")  # this replica alone goes back to the snapshot
    assert _local_counts(source, name) == {0: 100}
    assert {_local_counts(n, name)[0] for n in cluster if n is not source} == {150}
    recover("replica")  # the other replicas' data wins: this one refills from them
    wait_until(settled({150}), 60, "the replica refilled from the others")
    recover("snapshot")  # the snapshot wins: the others refill from this replica
    wait_until(settled({100}), 60, "the others refilled from the recovered replica")
    for node in cluster:
        assert exact_count(node, name) == 100


def test_a_peer_streams_a_shard_snapshot_without_writing_it(cluster, tmp_path):
    """The peer service's ShardSnapshot (what the snapshot transfer method builds on): the
    archive arrives whole and opens as the shard; nothing is left on the source."""
    source = cluster[1]
    before = {p.name for p in (source.storage_path / "collections").iterdir()}
    files_before = set(source.snapshots_path.rglob("*"))
    name = "snap_stream"
    _create(cluster[0], name, shard_number=1, replication_factor=3)
    wait_until(lambda: replicas_all_active(cluster[0], name), 30, "all Active")
    assert _upsert(cluster[0], name, _points(range(120), random.Random(7))).status_code == 200
    (uuid_,) = {p.name for p in (source.storage_path / "collections").iterdir()} - before
    address = f"127.0.0.1:{source.grpc_port}"
    target = fetch_shard_snapshot(PeerChannels(), address, uuid_, 0, tmp_path / "s.snapshot")
    manifest = archive.extract(target, tmp_path / "shard", kind="shard")
    assert manifest["shard_id"] == 0
    config = ShardConfig.from_collection({"params": {"vectors": {"size": 8, "distance": "Dot"}}})
    assert LocalShard(tmp_path / "shard", config).count(None) == 120
    staging = source.storage_path / "snapshots_temp" / "tessera-snapshots"
    assert not any(staging.iterdir())
    assert set(source.snapshots_path.rglob("*")) == files_before
    with pytest.raises(ReplicaUnavailable, match="NOT_FOUND"):
        fetch_shard_snapshot(PeerChannels(), address, uuid_, 7, tmp_path / "none.snapshot")


def test_a_cluster_seeded_by_its_first_peers_start_up_snapshot_flag(cluster, tmp_path):
    """``tessera serve --snapshot PATH:NAME`` on the first peer of a new cluster: the
    collection is created from the file, and its shards are replicated to peers that join."""
    name = "snap_seed"
    _loaded(cluster, name, range(250), 9, shard_number=2, replication_factor=3)
    source = cluster[0]
    snap = _ok(httpx.post(f"{source.url}/collections/{name}/snapshots", timeout=60))
    file = tmp_path / "seed.snapshot"
    file.write_bytes(httpx.get(f"{source.url}/collections/{name}/snapshots/{snap['name']}",
                               timeout=60).content)
    assert len(_local_counts(source, name)) == 2  # a snapshot holds the local shards: all
    origin = cluster_node(tmp_path / "seed-0")
    origin.args = ["--snapshot", f"{file}:{name}"]
    nodes = [origin.start()]
    try:
        origin.wait_ready(60)
        assert exact_count(origin, name) == 250
        nodes += [cluster_node(tmp_path / f"seed-{i}", bootstrap=origin).start() for i in (1, 2)]
        for node in nodes[1:]:
            node.wait_ready(60)
        wait_peers(nodes, 3)
        assert _ok(httpx.post(f"{origin.url}/collections/{name}/cluster", json={
            "replicate_shard": {"shard_id": 0, "from_peer_id": _peer(origin),
                                "to_peer_id": _peer(nodes[1])}}, timeout=30)) is True
        wait_until(lambda: _local_counts(nodes[1], name).get(0, 0) > 0
                   and replicas_all_active(origin, name), 60, "a replica on a joiner")
        for node in nodes:
            assert exact_count(node, name) == 250
    finally:
        for node in nodes:
            node.kill()


def _peer(node) -> int:
    return int(_ok(httpx.get(f"{node.url}/cluster", timeout=10))["peer_id"])
