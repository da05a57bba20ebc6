"""Snapshots and crashes, and recovery at start-up.

* kill -9 while a snapshot is written: after the restart every listed snapshot is whole (its
  checksum is the sha256 of its bytes and it recovers), no partial file is left;
* kill -9 while a snapshot is recovered over a collection: after the restart the collection is
  the old one or the recovered one, complete, never a mix;
* ``--storage-snapshot`` restores every collection and alias of a full snapshot into an empty
  node; ``--snapshot PATH:NAME`` one collection, kept on a restart unless ``--force-snapshot``.
"""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.e2e.conftest import READY_TIMEOUT
from tests.support import api
from tests.support.api import create_collection
from tests.support.node import Node

pytestmark = pytest.mark.durability

DIM = 64


def points(ids, tag: str) -> list[dict]:
    return [{"id": i, "vector": [float((i * 7 + j) % 13) for j in range(DIM)],
             "payload": {"tag": tag, "n": i}} for i in ids]


def fill(http, name: str, ids, tag: str) -> None:
    create_collection(http, name, {"vectors": {"size": DIM, "distance": "Dot"}})
    ids = list(ids)
    for lo in range(0, len(ids), 2500):
        api.upsert(http, name, points(ids[lo:lo + 2500], tag))


def ids_and_tags(http, name: str) -> tuple[set, set]:
    found = api.scroll_all(http, name, page=5000)
    return {p["id"] for p in found}, {p["payload"]["tag"] for p in found}


@pytest.fixture
def crash_node(tmp_path):
    made: list[Node] = []

    def make(**kw) -> Node:
        n = Node(tmp_path / f"n{len(made)}", **kw)
        made.append(n)
        n.start()
        n.wait_ready(timeout=READY_TIMEOUT)
        return n

    yield make
    for n in made:
        n.close_clients()
        n.kill()


def _mid_write(node: Node) -> bool:
    """Whether a snapshot was being made: its partial file or its cut's staging is there."""
    staging = node.storage_path / "snapshots_temp" / "tessera-snapshots"
    return any(node.snapshots_path.rglob(".*.partial")) or any(staging.iterdir())


def test_kill_during_snapshot_creation_leaves_only_whole_snapshots(crash_node):
    node = crash_node()
    fill(node.http, "c", range(12_000), "old")
    api.ok(node.http.post("/collections/c/snapshots"))  # one whole snapshot to begin with
    caught_mid_write = False
    for _ in range(8):
        resp = node.http.post("/collections/c/snapshots?wait=false")
        assert resp.status_code == 202
        deadline = time.monotonic() + 5
        while not _mid_write(node) and time.monotonic() < deadline:
            time.sleep(0.001)  # the kill lands as soon as the snapshot is under way
        node.kill()
        caught_mid_write |= _mid_write(node)
        node.start()
        node.wait_ready(timeout=READY_TIMEOUT)
        assert not any(node.snapshots_path.rglob(".*.partial"))
        for snap in api.ok(node.http.get("/collections/c/snapshots")):
            data = node.http.get(f"/collections/c/snapshots/{snap['name']}").content
            assert hashlib.sha256(data).hexdigest() == snap["checksum"]
            assert len(data) == snap["size"]
        if caught_mid_write:
            break
    assert caught_mid_write, "no kill landed while a snapshot was being written"
    listed = api.ok(node.http.get("/collections/c/snapshots"))
    location = f"file://{node.snapshots_path / 'c' / listed[-1]['name']}"
    api.ok(node.http.put("/collections/copy/snapshots/recover", json={"location": location}))
    assert ids_and_tags(node.http, "copy") == (set(range(12_000)), {"old"})


def test_kill_during_recovery_leaves_old_or_new_never_a_mix(crash_node):
    node = crash_node()
    fill(node.http, "src", range(5000, 15_000), "new")
    snap = api.ok(node.http.post("/collections/src/snapshots"))
    location = f"file://{node.snapshots_path / 'src' / snap['name']}"
    old = (set(range(5000)), {"old"})
    new = (set(range(5000, 15_000)), {"new"})
    started = time.monotonic()
    api.ok(node.http.put("/collections/probe/snapshots/recover", json={"location": location}))
    took = time.monotonic() - started
    outcomes = set()
    for delay in (took * 0.25, took * 0.6, None):  # None: kill once it has finished
        if api.ok(node.http.get("/collections/dst/exists"))["exists"]:
            api.ok(node.http.delete("/collections/dst"))
        fill(node.http, "dst", range(5000), "old")
        resp = node.http.put("/collections/dst/snapshots/recover?wait=false",
                             json={"location": location})
        assert resp.status_code == 202
        if delay is None:
            api.wait_until(lambda: ids_and_tags(node.http, "dst") == new, timeout=30)
        else:
            time.sleep(delay)
        node.kill()
        node.start()
        node.wait_ready(timeout=READY_TIMEOUT)
        state = ids_and_tags(node.http, "dst")
        assert state in (old, new)
        outcomes.add("old" if state == old else "new")
        assert not any((node.storage_path / "snapshots_temp" / "tessera-snapshots").iterdir())
    assert "new" in outcomes, outcomes  # a finished recovery survives the kill


def test_storage_snapshot_and_snapshot_flags_at_start_up(crash_node, tmp_path):
    source = crash_node()
    fill(source.http, "alpha", range(300), "a")
    fill(source.http, "beta", range(100, 150), "b")
    api.ok(source.http.post("/collections/aliases", json={"actions": [
        {"create_alias": {"collection_name": "alpha", "alias_name": "first"}},
        {"create_alias": {"collection_name": "beta", "alias_name": "second"}}]}))
    full = api.ok(source.http.post("/snapshots"))
    full_file = tmp_path / "full.snapshot"
    full_file.write_bytes(source.http.get(f"/snapshots/{full['name']}").content)
    single = api.ok(source.http.post("/collections/beta/snapshots"))
    single_file = tmp_path / "beta.snapshot"
    single_file.write_bytes(
        source.http.get(f"/collections/beta/snapshots/{single['name']}").content)

    restored = crash_node(args=["--storage-snapshot", str(full_file),
                                "--snapshot", f"{single_file}:gamma"])
    assert ids_and_tags(restored.http, "alpha") == (set(range(300)), {"a"})
    assert ids_and_tags(restored.http, "beta") == (set(range(100, 150)), {"b"})
    aliases = api.ok(restored.http.get("/aliases"))["aliases"]
    assert sorted((a["alias_name"], a["collection_name"]) for a in aliases) == \
        [("first", "alpha"), ("second", "beta")]
    assert ids_and_tags(restored.http, "gamma") == (set(range(100, 150)), {"b"})

    api.upsert(restored.http, "gamma", points([999], "later"))
    restored.kill()  # and back with the same flags: the collections exist, and are kept
    restored.start()
    restored.wait_ready(timeout=READY_TIMEOUT)
    assert 999 in ids_and_tags(restored.http, "gamma")[0]
    restored.kill()
    restored.args.append("--force-snapshot")
    restored.start()
    restored.wait_ready(timeout=READY_TIMEOUT)
    assert ids_and_tags(restored.http, "gamma") == (set(range(100, 150)), {"b"})
