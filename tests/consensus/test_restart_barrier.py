"""After a whole-cluster restart a node calls itself synced only once its state holds every
operation the cluster had committed before.

Three real Raft members (pysyncobj over loopback, in this process) commit a few operations and
stop. Their stored commit indexes are set back to before the last operations, as a crash right
before pysyncobj's once-a-second save leaves them. While they restart, each one is watched in
a tight loop: it must never say synced while its state lacks a committed operation. Before the
barrier, the new leader said so from its election until its first entry committed, and the
node's reconciliation then removed the directories of the collection it did not see.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pysyncobj.pickle import dumps, loads

from consensus.raft import RaftConsensus
from tests.support.node import free_port

pytestmark = pytest.mark.cluster  # three Raft members in this process: timing matters


def _member(root: Path, i: int, ports: list[int], bootstrap: str | None) -> RaftConsensus:
    return RaftConsensus(root / f"peer-{i}", f"http://127.0.0.1:{ports[i]}", bootstrap,
                         grpc_port=0, http_port=0)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _stop(members: list[RaftConsensus]) -> None:
    for member in members:
        member.log.destroy_synchronous()


def _commit_index_path(root: Path, i: int) -> Path:
    return root / f"peer-{i}" / "raft" / "journal.meta"


def _stored_commit_index(root: Path, i: int) -> int:
    return loads(_commit_index_path(root, i).read_bytes()).get("raftCommitIndex", 1)


def _rewind(root: Path, i: int, index: int) -> None:
    meta = loads(_commit_index_path(root, i).read_bytes())
    meta["raftCommitIndex"] = index
    _commit_index_path(root, i).write_bytes(dumps(meta))


def _create(name: str, uuid_: str) -> dict:
    return {"type": "create_collection", "name": name, "uuid": uuid_,
            "config": {"params": {}}, "placement": [[]]}


def test_no_member_is_synced_on_a_state_older_than_the_commits_before_the_restart(tmp_path):
    used: set[int] = set()
    ports = []
    for _ in range(3):
        ports.append(free_port(frozenset(used)))
        used.add(ports[-1])
    first = _member(tmp_path, 0, ports, None)
    members = [first]
    try:
        _wait(first.is_synced, 20, "the first member to lead")
        bootstrap = f"http://127.0.0.1:{ports[0]}"
        members += [_member(tmp_path, i, ports, bootstrap) for i in (1, 2)]
        _wait(lambda: all(m.is_synced() for m in members), 30, "three synced members")
        assert first.propose(_create("early", "u-early")).ok
        _wait(lambda: all("early" in m.state.collections for m in members), 10, "early")
        time.sleep(1.5)  # each member stores its commit index once a second
        before = [_stored_commit_index(tmp_path, i) for i in range(3)]
        for i in range(20):
            assert members[i % 3].propose(_create(f"late-{i}", f"u-late-{i}")).ok
        _wait(lambda: all(len(m.state.collections) == 21 for m in members), 10, "late ones")
        time.sleep(1.5)
        _stop(members)
        for i in range(3):
            assert _stored_commit_index(tmp_path, i) > before[i]  # the rewind undoes something
            _rewind(tmp_path, i, before[i])

        members = []
        seen: list[tuple[int, int]] = []  # (member, collections) seen while it said synced
        done = threading.Event()

        def watch(i: int, member: RaftConsensus) -> None:
            while not done.is_set():
                if member.is_synced():
                    seen.append((i, len(member.state.collections)))
                time.sleep(0.0005)

        members = [_member(tmp_path, i, ports, None) for i in range(3)]
        watchers = [threading.Thread(target=watch, args=(i, m)) for i, m in enumerate(members)]
        for watcher in watchers:
            watcher.start()
        try:
            _wait(lambda: all(m.is_synced() and len(m.state.collections) == 21
                              for m in members), 60, "all members synced again")
        finally:
            done.set()
            for watcher in watchers:
                watcher.join()
        stale = [(i, n) for i, n in seen if n != 21]
        assert seen and not stale, f"synced on an older state: {stale[:5]}"
    finally:
        _stop(members)
