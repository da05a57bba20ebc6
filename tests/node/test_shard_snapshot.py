"""A shard's cut, its archive and the swap on their own: the cut holds exactly the writes applied
before it (also those only in the WAL, also after vacuum and graph builds since), the archive
refuses anything not whole, and a swap interrupted at any step ends old-or-new."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from node import snapshot_archive as archive
from node.shard import LocalShard
from node.shard_snapshot import cut, finish_pending, install
from tests.node.test_shard import _config, _upsert


def _ids(shard: LocalShard) -> set:
    return {pid for pid, _ in shard.state.points_from(None)}


def _snapshot(shard: LocalShard, tmp_path, name: str = "s.snapshot"):
    target = tmp_path / name
    with cut(shard, tmp_path / "staging") as members:
        archive.write_file(archive.stream("shard", members, {"note": "x"}), target)
    return target


def _restore(target, tmp_path, where: str = "restored") -> LocalShard:
    dest = tmp_path / where
    manifest = archive.extract(target, dest, kind="shard")
    assert manifest["note"] == "x" and manifest["version"] == archive.VERSION
    return LocalShard(dest, _config())


def test_cut_holds_writes_in_the_wal_and_not_later_ones(tmp_path):
    rng = np.random.default_rng(2)
    shard = LocalShard(tmp_path / "s", _config())
    _upsert(shard, 1, range(100), rng.normal(size=(100, 8)))
    shard.flush()
    _upsert(shard, 2, range(100, 150), rng.normal(size=(50, 8)))  # only in the WAL
    with cut(shard, tmp_path / "staging") as members:
        _upsert(shard, 3, range(150, 200), rng.normal(size=(50, 8)))  # after the cut
        shard.apply(4, {"type": "delete", "ids": list(range(10))})
        shard.flush()
        target = tmp_path / "s.snapshot"
        size, checksum = archive.write_file(archive.stream("shard", members, {"note": "x"}),
                                            target)
    assert archive.checksum_path(target).read_text() == checksum == archive.sha256_of(target)
    assert target.stat().st_size == size
    assert not (tmp_path / "staging").exists() or not any((tmp_path / "staging").iterdir())
    restored = _restore(target, tmp_path)
    assert _ids(restored) == set(range(150))
    assert restored.last_op == 2
    assert restored.count(None) == 150


def test_cut_survives_vacuum_after_it(tmp_path):
    rng = np.random.default_rng(3)
    shard = LocalShard(tmp_path / "s", _config())
    _upsert(shard, 1, range(200), rng.normal(size=(200, 8)))
    with cut(shard, tmp_path / "staging") as members:
        shard.apply(2, {"type": "delete", "ids": list(range(100))})
        shard._vacuum()  # new generation of files; the old ones are unlinked
        target = tmp_path / "s.snapshot"
        archive.write_file(archive.stream("shard", members, {"note": "x"}), target)
    assert _ids(_restore(target, tmp_path)) == set(range(200))


def _tamper(data: bytes, tmp_path, name: str):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_archive_refuses_what_is_not_whole(tmp_path):
    shard = LocalShard(tmp_path / "s", _config())
    _upsert(shard, 1, range(20), np.ones((20, 8)))
    data = _snapshot(shard, tmp_path).read_bytes()
    cases = {
        "truncated": data[: len(data) - 2000],
        "empty": b"",
        "foreign": b"PK\x03\x04 not a tar at all" * 40,
    }
    flipped = bytearray(data)
    flipped[1500] ^= 0x01
    cases["flipped"] = bytes(flipped)
    for name, body in cases.items():
        with pytest.raises(archive.InvalidSnapshot):
            archive.extract(_tamper(body, tmp_path, name), tmp_path / f"x-{name}")
    with pytest.raises(archive.InvalidSnapshot, match="not a collection snapshot"):
        archive.extract(_tamper(data, tmp_path, "kind"), tmp_path / "x-kind", kind="collection")


def _tar(members: list[tuple[str, bytes]], link: str | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, body in members:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        if link:
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return out.getvalue()


HEADER = (archive.HEADER, b'{"format": "tessera-snapshot", "version": 1, "kind": "shard"}')


@pytest.mark.parametrize("members, link, why", [
    ([HEADER, ("../x", b"1"), (archive.MANIFEST, b'{"files": {}}')], None, "unsafe"),
    ([HEADER, ("/abs", b"1"), (archive.MANIFEST, b'{"files": {}}')], None, "unsafe"),
    ([HEADER], "state.pkl", "not a regular file"),
    ([HEADER, ("a", b"1"), (archive.MANIFEST, b'{"files": {}}')], None, "not in the manifest"),
    ([HEADER, (archive.MANIFEST, b'{"files": {"a": {"size": 1, "sha256": "0"}}}')], None,
     "missing"),
    ([(archive.HEADER, b'{"format": "tessera-snapshot", "version": 2, "kind": "shard"}')],
     None, "version 2 is newer"),
    ([("state.pkl", b"1")], None, "no header"),
])
def test_archive_refuses_unsafe_or_inconsistent_members(tmp_path, members, link, why):
    path = _tamper(_tar(members, link), tmp_path, "bad")
    with pytest.raises(archive.InvalidSnapshot, match=why):
        archive.extract(path, tmp_path / "out")
    assert not (tmp_path / "x").exists() and not (tmp_path / "abs").exists()


@pytest.mark.parametrize("crash_after", ["incoming", "recovered", "replaced"])
def test_interrupted_swap_ends_old_or_new(tmp_path, crash_after):
    target = tmp_path / "shard"
    target.mkdir()
    (target / "f").write_text("old")
    new = tmp_path / "new"
    new.mkdir()
    (new / "f").write_text("new")
    # the states a crash can leave between install()'s steps
    if crash_after == "incoming":
        new.rename(target.with_name("shard.incoming"))
    elif crash_after == "recovered":
        new.rename(target.with_name("shard.recovered"))
    else:
        target.rename(target.with_name("shard.replaced"))
        new.rename(target.with_name("shard.recovered"))
    finish_pending(target)
    text = (target / "f").read_text()
    assert text == ("old" if crash_after == "incoming" else "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard"]


def test_install_swaps_in_place(tmp_path):
    target = tmp_path / "shard"
    target.mkdir()
    (target / "f").write_text("old")
    new = tmp_path / "elsewhere" / "new"
    new.mkdir(parents=True)
    (new / "f").write_text("new")
    install(target, new)
    assert (target / "f").read_text() == "new"
    assert not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "shard"]


def test_cut_after_a_graph_build_keeps_the_graph(tmp_path):
    """A graph saved since the last flush: the cut flushes first, so the copy opens with the
    graph instead of rebuilding it; writes after the build are in the WAL part."""
    rng = np.random.default_rng(4)
    shard = LocalShard(tmp_path / "s", _config())
    _upsert(shard, 1, range(300), rng.normal(size=(300, 8)))
    shard.flush()
    shard._build_graph("")
    _upsert(shard, 2, range(300, 320), rng.normal(size=(20, 8)))
    restored = _restore(_snapshot(shard, tmp_path), tmp_path)
    assert restored.graphs[""] is not None and restored.state.indexed[""] == 300
    assert restored.count(None) == 320
