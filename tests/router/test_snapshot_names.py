"""Names of new snapshots: each reservation gets a name no other snapshot has or will take."""

import os
from pathlib import Path

from node import snapshot_archive as archive
from router.cluster import snapshots
from router.cluster.snapshots import SnapshotStore


def test_two_reservations_in_one_second_get_two_names(tmp_path: Path) -> None:
    first = SnapshotStore._target(tmp_path, "c-0-stamp")
    second = SnapshotStore._target(tmp_path, "c-0-stamp")
    assert first.name == "c-0-stamp.snapshot"
    assert second.name == "c-0-stamp-2.snapshot"


def test_a_name_finished_during_the_reservation_is_not_taken(tmp_path: Path, monkeypatch) -> None:
    """The writer of ``X`` renames its partial file into place between our look at ``X`` and
    our reservation of its partial name: we must not get ``X`` (we would overwrite it, and its
    writer's cleanup would delete our partial file)."""
    taken = tmp_path / "c-0-stamp.snapshot"
    theirs = archive.partial_path(taken)
    theirs.write_bytes(b"")
    real_open = os.open

    def open_after_their_rename(path, flags, mode=0o777):
        if Path(path) == theirs and theirs.exists():
            theirs.rename(taken)  # they finish just now
        return real_open(path, flags, mode)

    monkeypatch.setattr(snapshots.os, "open", open_after_their_rename)
    ours = SnapshotStore._target(tmp_path, "c-0-stamp")
    assert ours.name == "c-0-stamp-2.snapshot"
    assert not archive.partial_path(taken).exists()

