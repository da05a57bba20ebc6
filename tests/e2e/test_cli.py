"""The cluster admin CLI end to end: `python -m tessera ...` as a subprocess against a real
3-node cluster on loopback, every command in JSON (parsed, field by field) and as a table (key
columns), `shard move --wait`, `peer drain --wait` emptying a peer, `tessera top` under a
pseudo-terminal, and `cluster status` exiting 1 once a node is killed (last: it breaks the
cluster)."""

from __future__ import annotations

import fcntl
import os
import random
import select
import struct
import subprocess
import sys
import termios
import time

import httpx
import pytest

from tests.support.cli import cli, cli_env, cli_json
from tests.support.cluster import start_cluster

pytestmark = pytest.mark.slow

POINTS = 3000


def _peer_id(node) -> int:
    return httpx.get(f"{node.url}/cluster", timeout=10).json()["result"]["peer_id"]


def _placement(node, name: str) -> dict[int, set[int]]:
    info = httpx.get(f"{node.url}/collections/{name}/cluster", timeout=10).json()["result"]
    found: dict[int, set[int]] = {}
    for shard in info["local_shards"]:
        found.setdefault(shard["shard_id"], set()).add(info["peer_id"])
    for shard in info["remote_shards"]:
        found.setdefault(shard["shard_id"], set()).add(shard["peer_id"])
    return found


def _count(node, name: str) -> int:
    resp = httpx.post(f"{node.url}/collections/{name}/points/count", json={"exact": True},
                      timeout=30)
    return resp.json()["result"]["count"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    nodes = start_cluster(tmp_path_factory.mktemp("cli"), 3)
    yield nodes
    for node in nodes:
        node.kill()


@pytest.fixture(scope="module")
def ids(cluster) -> list[int]:
    return [_peer_id(n) for n in cluster]


@pytest.fixture(scope="module")
def data(cluster) -> str:
    """A collection of 3 shards, 1 replica each, with POINTS points."""
    name = "cli_data"
    cli(cluster[0], "collection", "create", name, "--size", "4", "--distance", "Dot",
        "--shards", "3", "--replicas", "1")
    rng = random.Random(5)
    points = [{"id": i, "vector": [rng.random() for _ in range(4)]} for i in range(POINTS)]
    resp = httpx.put(f"{cluster[0].url}/collections/{name}/points", params={"wait": "true"},
                     json={"points": points}, timeout=60)
    assert resp.status_code == 200, resp.text
    return name


def test_cluster_status(cluster, ids):
    doc = cli_json(cluster[1], "cluster", "status")
    assert doc["enabled"] is True and doc["healthy"] is True and doc["problems"] == []
    assert doc["peer_id"] == ids[1]
    assert doc["leader"] in ids
    assert doc["term"] >= 1 and doc["commit"] >= 1 and doc["pending_operations"] >= 0
    assert doc["consensus"] == "working"
    assert sorted(p["id"] for p in doc["peers"]) == sorted(ids)
    for peer in doc["peers"]:
        assert peer["reachable"] is True
        assert peer["is_leader"] == (peer["id"] == doc["leader"])
        assert peer["role"] == ("Leader" if peer["is_leader"] else "Follower")
        assert peer["this_node"] == (peer["id"] == ids[1])
        assert peer["uri"].startswith("http://127.0.0.1:")
    out = cli(cluster[1], "cluster", "status").stdout
    assert "PEER" in out and "REACHABLE" in out and "healthy" in out
    for pid in ids:
        assert str(pid) in out


def test_collection_lifecycle(cluster):
    name = "cli_life"
    created = cli_json(cluster[0], "collection", "create", name, "--size", "8",
                       "--distance", "Cosine", "--shards", "2", "--replicas", "2")
    assert created == {"name": name, "created": True, "config": {
        "vectors": {"size": 8, "distance": "Cosine"}, "shard_number": 2,
        "replication_factor": 2}}
    listed = {c["name"]: c for c in cli_json(cluster[1], "collection", "list")}
    assert listed[name] == {"name": name, "status": "green", "points_count": 0, "shards": 2,
                            "replication_factor": 2,
                            "vectors": {"": {"size": 8, "distance": "Cosine"}}}
    info = cli_json(cluster[2], "collection", "info", name)
    assert info["name"] == name and info["status"] == "green"
    assert info["config"]["params"]["shard_number"] == 2
    assert info["config"]["params"]["vectors"] == {"size": 8, "distance": "Cosine"}
    table = cli(cluster[0], "collection", "list").stdout
    header, *rows = table.splitlines()
    assert header.split() == ["NAME", "STATUS", "POINTS", "SHARDS", "REPLICAS", "VECTORS"]
    assert any(r.split()[:5] == [name, "green", "0", "2", "2"] for r in rows)
    assert "replication_factor" in cli(cluster[0], "collection", "info", name).stdout
    # no terminal and no --yes: a usage error, nothing deleted
    assert cli(cluster[0], "collection", "delete", name, code=2).stderr.count("\n") == 1
    assert cli_json(cluster[0], "collection", "delete", name, "--yes") == {
        "name": name, "deleted": True}
    gone = cli(cluster[0], "collection", "info", name, code=1)
    assert gone.stderr.count("\n") == 1 and name in gone.stderr and "404" in gone.stderr


def test_shard_list(cluster, ids, data):
    doc = cli_json(cluster[0], "shard", "list", data)
    assert doc["collection"] == data and doc["replication_factor"] == 1
    assert [s["shard_id"] for s in doc["shards"]] == [0, 1, 2]
    assert doc["transfers"] == [] and doc["warnings"] == []
    for shard in doc["shards"]:
        (replica,) = shard["replicas"]
        assert replica["peer_id"] in ids and replica["state"] == "Active"
        assert shard["active_replicas"] == 1 and shard["under_replicated"] is False
        if replica["peer_id"] == ids[0]:
            assert replica["points_count"] > 0
        else:
            assert replica["points_count"] is None
    out = cli(cluster[0], "shard", "list", data).stdout
    assert "SHARD" in out and "PEER" in out and "STATE" in out and "Active" in out


def test_shard_move_wait_finishes(cluster, ids, data):
    placement = _placement(cluster[0], data)
    (source,) = placement[0]
    target = next(p for p in ids if p != source)
    doc = cli_json(cluster[1], "shard", "move", data, "0", "--from", str(source),
                   "--to", str(target), "--wait")
    assert doc["operation"] == "move_shard" and doc["result"] == "finished"
    assert (doc["shard_id"], doc["from"], doc["to"]) == (0, source, target)
    assert doc["elapsed"] >= 0 and doc["detail"] is None
    assert _placement(cluster[0], data)[0] == {target}
    assert _count(cluster[2], data) == POINTS


def test_replicate_then_drop_replica(cluster, ids, data):
    (source,) = _placement(cluster[0], data)[1]
    target = next(p for p in ids if p != source)
    done = cli(cluster[0], "shard", "replicate", data, "1", "--from", str(source),
               "--to", str(target), "--wait")
    assert "finished" in done.stdout and "records" in done.stderr  # the bar, on stderr
    assert _placement(cluster[0], data)[1] == {source, target}
    doc = cli_json(cluster[0], "shard", "list", data)
    shard = next(s for s in doc["shards"] if s["shard_id"] == 1)
    assert sorted(r["peer_id"] for r in shard["replicas"]) == sorted([source, target])
    assert all(r["state"] == "Active" for r in shard["replicas"])
    dropped = cli_json(cluster[0], "shard", "drop-replica", data, "1", "--peer", str(target))
    assert dropped == {"collection": data, "operation": "drop_replica", "shard_id": 1,
                       "peer_id": target, "accepted": True}
    assert _placement(cluster[0], data)[1] == {source}


def test_refusals_carry_the_servers_message(cluster, ids, data):
    (source,) = _placement(cluster[0], data)[2]
    target = next(p for p in ids if p != source)
    refused = cli(cluster[0], "shard", "move", data, "9", "--from", str(source),
                  "--to", str(target), "--method", "snapshot", code=1)
    assert refused.stderr.startswith("tessera: POST /collections/cli_data/cluster: 400 ")
    assert "Shard 9 of cli_data does not exist" in refused.stderr
    assert refused.stderr.count("\n") == 1
    aborted = cli(cluster[0], "shard", "abort", data, "2", "--from", str(source),
                  "--to", str(target), code=1)
    assert "transfer" in aborted.stderr and aborted.stderr.count("\n") == 1
    held = cli(cluster[0], "peer", "remove", str(source), code=1)
    assert "shards on it" in held.stderr


def test_rebalance(cluster, ids, data):
    # everything onto one peer first
    crowded = ids[0]
    for shard_id, holders in _placement(cluster[0], data).items():
        (holder,) = holders
        if holder != crowded:
            cli(cluster[0], "shard", "move", data, str(shard_id), "--from", str(holder),
                "--to", str(crowded), "--wait")
    plan = cli_json(cluster[1], "rebalance", data, "--dry-run")
    assert plan["dry_run"] is True
    assert plan["counts_before"] == {str(crowded): 3, **{str(p): 0 for p in ids[1:]}}
    assert sorted(plan["counts_after"].values()) == [1, 1, 1]
    assert len(plan["moves"]) == 2
    assert all(m["from"] == crowded and m["result"] == "planned" for m in plan["moves"])
    assert {m["to"] for m in plan["moves"]} == set(ids[1:])
    assert all(h == {crowded} for h in _placement(cluster[0], data).values())  # dry: untouched
    table = cli(cluster[1], "rebalance", data, "--dry-run").stdout
    assert "REPLICAS NOW" in table and "planned" in table
    done = cli_json(cluster[1], "rebalance", data)
    assert [m["result"] for m in done["moves"]] == ["finished", "finished"]
    per_peer = [sum(p in h for h in _placement(cluster[0], data).values()) for p in ids]
    assert per_peer == [1, 1, 1]
    assert _count(cluster[0], data) == POINTS


def test_peer_drain_wait_empties_a_node(cluster, ids, data):
    cli(cluster[0], "collection", "create", "cli_drain", "--size", "4", "--shards", "3",
        "--replicas", "2")
    victim = ids[2]
    doc = cli_json(cluster[0], "peer", "drain", str(victim), "--wait")
    assert doc["peer_id"] == victim and doc["remaining"] == 0 and doc["dry_run"] is False
    assert doc["moves"] and all(m["result"] == "finished" for m in doc["moves"])
    assert {m["collection"] for m in doc["moves"]} == {data, "cli_drain"}
    for name in (data, "cli_drain"):
        for holders in _placement(cluster[0], name).values():
            assert victim not in holders
    assert _count(cluster[1], data) == POINTS
    again = cli_json(cluster[0], "peer", "drain", str(victim), "--dry-run")
    assert again["moves"] == []


def _read_until(fd: int, pattern: str, seen: list[str], timeout: float = 60.0) -> str:
    """The terminal's output up to and including ``pattern`` (all of it kept in ``seen``)."""
    deadline = time.monotonic() + timeout
    while pattern not in "".join(seen):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{pattern!r} never showed; screen: {''.join(seen)[-2000:]}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the terminal closed: the program ended
                chunk = b""
            if not chunk:
                raise AssertionError(f"ended before {pattern!r}: {''.join(seen)[-2000:]}")
            seen.append(chunk.decode("utf-8", "replace"))
    return "".join(seen)


def test_top_under_a_terminal(cluster, ids, data):
    """``tessera top`` on a pseudo-terminal of its own, read as a person would read it. The
    program is started by subprocess (no fork of this process, which holds gRPC clients:
    gRPC's fork handlers can kill a forked child before it runs the program)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tessera", "--url", cluster[0].url, "top", "--node",
         cluster[1].url], stdin=slave, stdout=slave, stderr=slave, env=cli_env(),
        start_new_session=True, close_fds=True)
    os.close(slave)
    seen: list[str] = []
    try:
        _read_until(master, "tessera top", seen)  # the frame's first line
        screen = _read_until(master, "PROGRESS", seen)  # ... up to its last table
        for shown in ("peers", "REACHABLE", "collections", data, "POINTS", "requests",
                      cluster[1].url, "MEAN MS", "transfers", *map(str, ids)):
            assert shown in screen, shown
        os.write(master, b"q")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)


def test_peer_remove_then_status_fails_after_a_kill(cluster, ids):
    removed = cli_json(cluster[0], "peer", "remove", str(ids[2]))
    assert removed == {"peer_id": ids[2], "removed": True, "force": False}
    doc = cli_json(cluster[0], "cluster", "status")
    assert sorted(p["id"] for p in doc["peers"]) == sorted(ids[:2])
    cluster[1].kill()
    failed = cli_json(cluster[0], "cluster", "status", code=1)
    assert failed["healthy"] is False
    dead = next(p for p in failed["peers"] if p["id"] == ids[1])
    assert dead["reachable"] is False
    assert any(str(ids[1]) in problem for problem in failed["problems"])
    table = cli(cluster[0], "cluster", "status", code=1)
    assert "UNHEALTHY" in table.stdout and "NO" in table.stdout
