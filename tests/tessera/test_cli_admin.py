"""The admin CLI without a server: the move planner (drain, rebalance), the progress read from
Qdrant's transfer comment, exit codes for usage and unreachable servers, and that the admin
commands stay a pure REST client (no import of the server's rooms)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tessera.cli import planner
from tessera.cli.layout import Layout, Replica, Shard, Transfer

REPO = Path(__file__).resolve().parents[2]


def _layout(placement: dict[int, list[int]]) -> Layout:
    return Layout("c", [Shard(s, None, [Replica(p, "Active") for p in peers])
                        for s, peers in sorted(placement.items())], [])


def test_drain_moves_every_replica_to_a_peer_without_it():
    view = _layout({0: [1, 2], 1: [1, 3], 2: [2, 3], 3: [1]})
    moves = planner.drain(view, 1, [1, 2, 3, 4])
    assert {m.shard_id for m in moves} == {0, 1, 3}
    for move in moves:
        assert move.source == 1
        assert move.target not in view.shard(move.shard_id).peers()
    # the least loaded peer (4, empty) takes the first one
    assert moves[0].target == 4


def test_drain_reports_a_shard_no_peer_can_take():
    moves = planner.drain(_layout({0: [1, 2]}), 1, [1, 2])
    assert [(m.shard_id, m.target) for m in moves] == [(0, None)]


def test_rebalance_evens_out_counts():
    view = _layout({0: [1], 1: [1], 2: [1], 3: [1], 4: [2], 5: [1]})
    peers = [1, 2, 3]
    moves = planner.rebalance(view, peers)
    after = planner.counts_after(view, peers, moves)
    assert max(after.values()) - min(after.values()) <= 1
    assert sum(after.values()) == 6 and len(moves) == 3
    for move in moves:
        assert move.source == 1


def test_rebalance_of_a_balanced_collection_moves_nothing():
    assert planner.rebalance(_layout({0: [1, 2], 1: [2, 3], 2: [3, 1]}), [1, 2, 3]) == []


def test_rebalance_never_puts_two_replicas_of_a_shard_on_one_peer():
    view = _layout({0: [1, 2], 1: [1, 2], 2: [1, 2], 3: [1, 2]})
    moves = planner.rebalance(view, [1, 2, 3, 4])
    placement = {s.shard_id: s.peers() for s in view.shards}
    for move in moves:
        assert move.target not in placement[move.shard_id]
        placement[move.shard_id] = placement[move.shard_id] - {move.source} | {move.target}
    after = planner.counts_after(view, [1, 2, 3, 4], moves)
    assert max(after.values()) - min(after.values()) <= 1


def test_transfer_progress_from_the_comment():
    t = Transfer(0, 1, 2, "stream_records", False,
                 "Transferring records (1500/6000), started 3s ago, ETA: 9.00s")
    assert t.progress() == (1500, 6000)
    assert t.document()["done"] == 1500 and t.document()["total"] == 6000
    assert Transfer(0, 1, 2, None, False, None).progress() is None


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tessera", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=60,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_unreachable_server_exits_3_with_one_line():
    done = _cli("--url", "http://127.0.0.1:9", "cluster", "status")
    assert done.returncode == 3
    assert done.stderr.strip().count("\n") == 0
    assert "cannot reach http://127.0.0.1:9" in done.stderr


def test_usage_error_exits_2():
    assert _cli("shard", "move", "c").returncode == 2
    assert _cli("-o", "yaml", "cluster", "status").returncode == 2


def test_every_command_has_an_example_in_its_help():
    commands = [["cluster", "status"], ["collection", "list"], ["collection", "info"],
                ["collection", "create"], ["collection", "delete"], ["shard", "list"],
                ["shard", "move"], ["shard", "replicate"], ["shard", "drop-replica"],
                ["shard", "abort"], ["peer", "drain"], ["peer", "remove"], ["rebalance"],
                ["snapshot", "create"], ["snapshot", "list"], ["snapshot", "download"],
                ["snapshot", "restore"], ["top"]]
    for command in commands:
        done = _cli(*command, "--help")
        assert done.returncode == 0, (command, done.stderr)
        assert "Example: tessera" in done.stdout, command


def test_admin_commands_import_no_server_room():
    """The admin commands are a REST client: only `tessera serve` may reach the rooms."""
    wrong = []
    for path in sorted((REPO / "tessera" / "cli").glob("*.py")):
        if path.name == "serve.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            wrong += [f"{path.name}: {n}" for n in names
                      if n.split(".")[0] in ("router", "node", "consensus")
                      or n in ("tessera.config", "tessera.server")]
    assert wrong == []
