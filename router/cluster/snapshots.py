"""Snapshot files of this node: where they live, what they are called, making and listing them.

Layout under ``storage.snapshots_path``::

    <collection>/<collection>-<peer>-<YYYY-MM-DD-HH-MM-SS>.snapshot      collection snapshots
    <collection>/shards/<id>/<collection>-shard-<id>-<peer>-<…>.snapshot  shard snapshots
    full-snapshot-<YYYY-MM-DD-HH-MM-SS>.snapshot                          full snapshots

each with ``<name>.checksum`` (sha256 hex) beside it. A snapshot is written to a hidden partial
file and renamed into place when complete (``node.snapshot_archive.write_file``): a listing never
shows a partial file, and partial files a crash left are removed when the node starts.

A collection snapshot holds this node's local shards (as in Qdrant), each cut at one instant
(``node.shard_snapshot.cut``); a full snapshot holds a collection snapshot of every collection and
the aliases. The archive format is ``node.snapshot_archive``'s; recovery is
``router.cluster.snapshot_recovery``'s. Staging space (hard links of a cut, downloads, uploads,
extraction) is a directory of Tessera's own under ``storage.temp_path``, emptied at start-up.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from node import snapshot_archive as archive
from node.durable import fsync_dir
from node.errors import BadRequest, Forbidden, NotFound
from node.shard_snapshot import cut
from router.cluster.toc import TableOfContent
from router.collection.replica_set import ReplicaSet

SUFFIX = ".snapshot"
FULL_PREFIX = "full-snapshot-"


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d-%H-%M-%S")


def check_name(name: str) -> None:
    """A snapshot name is a plain file name: nothing that could point outside its directory."""
    if not name or "/" in name or "\\" in name or "\0" in name or ".." in name \
            or name.startswith("."):
        raise BadRequest(f"Invalid snapshot name `{name}`: it must be a plain file name")


def describe(path: Path) -> dict:
    """Qdrant's SnapshotDescription of a snapshot file."""
    stat = path.stat()
    created = datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc).replace(tzinfo=None)
    checksum_file = archive.checksum_path(path)
    checksum = checksum_file.read_text().strip() if checksum_file.exists() else None
    return {"name": path.name, "creation_time": created.isoformat(timespec="seconds"),
            "size": stat.st_size, "checksum": checksum}


class SnapshotStore:
    """The snapshot files of one node, and their creation from the node's local shards."""

    def __init__(self, toc: TableOfContent, snapshots_path: Path, temp_path: Path | None = None,
                 rate: int = 0) -> None:
        self.toc = toc
        self.rate = rate  # bytes per second a snapshot file is written at while busy (0: any)
        self.root = Path(snapshots_path)
        self.root.mkdir(parents=True, exist_ok=True)
        if temp_path is None:
            self.temp = toc.storage_path / "snapshots_temp" / "tessera-snapshots"
        else:  # a directory other nodes may share: this node's own part of it
            mine = hashlib.sha256(str(toc.storage_path.resolve()).encode()).hexdigest()[:12]
            self.temp = Path(temp_path) / f"tessera-snapshots-{mine}"
        shutil.rmtree(self.temp, ignore_errors=True)  # what a crash left: never anyone's data
        self.temp.mkdir(parents=True, exist_ok=True)
        for partial in self.root.rglob(".*.partial"):
            partial.unlink(missing_ok=True)

    # -- places --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def workdir(self) -> Iterator[Path]:
        """A fresh staging directory, removed after the ``with`` block whatever happens."""
        path = self.temp / uuid.uuid4().hex
        path.mkdir(parents=True)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def collection_dir(self, collection: str) -> Path:
        return self.root / collection

    def shard_dir(self, collection: str, shard_id: int) -> Path:
        return self.root / collection / "shards" / str(shard_id)

    def file_in(self, directory: Path, name: str) -> Path:
        """The snapshot ``name`` in ``directory``; NotFound if there is none."""
        check_name(name)
        path = directory / name
        if not name.endswith(SUFFIX) or not path.is_file():
            raise NotFound(f"Snapshot {name} not found")
        return path

    def inside(self, path: Path) -> Path:
        """``path`` resolved, if it is inside the snapshots directory (Forbidden otherwise)."""
        resolved = Path(path).resolve()
        root = self.root.resolve()
        if resolved != root and root not in resolved.parents:
            raise Forbidden(f"Snapshot file {path} is outside of the snapshots directory "
                            f"{self.root}")
        return resolved

    @staticmethod
    def listing(directory: Path) -> list[dict]:
        if not directory.is_dir():
            return []
        found = [describe(p) for p in directory.iterdir()
                 if p.is_file() and p.name.endswith(SUFFIX) and not p.name.startswith(".")]
        return sorted(found, key=lambda d: (d["creation_time"], d["name"]))

    @staticmethod
    def delete(path: Path) -> bool:
        archive.checksum_path(path).unlink(missing_ok=True)
        path.unlink()
        fsync_dir(path.parent)
        return True

    @contextlib.contextmanager
    def _reserved(self, directory: Path, stem: str) -> Iterator[Path]:
        """A name for a new snapshot, for the ``with`` block that writes it; its reservation
        goes away if the block fails."""
        target = self._target(directory, stem)
        try:
            yield target
        except BaseException:
            # only on failure: once renamed into place, a partial file of this name may be a
            # newer reservation's (which then steps aside, seeing the name taken)
            archive.partial_path(target).unlink(missing_ok=True)
            raise

    @staticmethod
    def _target(directory: Path, stem: str) -> Path:
        """A free name for a new snapshot, reserved by creating its partial file (two
        snapshots in the same second get two names)."""
        directory.mkdir(parents=True, exist_ok=True)
        n = 1
        while True:
            target = directory / (f"{stem}{SUFFIX}" if n == 1 else f"{stem}-{n}{SUFFIX}")
            n += 1
            if target.exists():
                continue
            partial = archive.partial_path(target)
            try:
                os.close(os.open(partial, os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                continue
            if target.exists():  # finished and renamed between the check and the reservation
                partial.unlink(missing_ok=True)
                continue
            return target

    # -- collection snapshots ------------------------------------------------------------------
    def _entry(self, collection: str) -> dict:
        entry = self.toc.consensus.state.collections.get(collection)
        if entry is None:
            raise NotFound(f"Collection `{collection}` doesn't exist!")
        return entry

    def collection_manifest(self, collection: str, included: list[int]) -> dict:
        entry = self._entry(collection)
        return {
            "collection": collection,
            "peer_id": self.toc.peer_id,
            "created": datetime.now(timezone.utc).isoformat(),
            "config": entry["config"],
            "payload_schema": entry.get("payload_schema") or {},
            "ring": entry.get("ring", False),
            "shards": [{"shard_id": s["shard_id"], "key": s.get("key"),
                        "included": s["shard_id"] in included} for s in entry["shards"]],
        }

    def create_collection_snapshot(self, name: str) -> dict:
        collection = self.toc.get(name)
        with self._reserved(self.collection_dir(collection.name),
                            f"{collection.name}-{self.toc.peer_id}-{_stamp()}") as target:
            self._write_collection(collection.name, target)
        return describe(target)

    def _write_collection(self, name: str, target: Path) -> None:
        """A snapshot of this node's shards of collection ``name`` into ``target``."""
        collection = self.toc.get(name)
        local = [s for s in collection.shards if s.local is not None]
        with contextlib.ExitStack() as stack:
            members = []
            for shard in local:
                members += stack.enter_context(
                    cut(shard.local.shard, self.temp, prefix=f"shards/{shard.shard_id}/"))
            manifest = self.collection_manifest(collection.name, [s.shard_id for s in local])
            archive.write_file(archive.stream("collection", members, manifest), target, self.rate)

    def list_collection(self, name: str) -> list[dict]:
        collection = self.toc.get(name)
        return self.listing(self.collection_dir(collection.name))

    def collection_file(self, name: str, snapshot: str) -> Path:
        collection = self.toc.get(name)
        return self.file_in(self.collection_dir(collection.name), snapshot)

    # -- shard snapshots -----------------------------------------------------------------------
    def local_shard(self, name: str, shard_id: int) -> tuple[str, ReplicaSet]:
        collection = self.toc.get(name)
        shard = collection.shard_by_id(shard_id)
        if shard is None:
            raise NotFound(f"Shard {shard_id} of collection `{collection.name}` doesn't exist")
        if shard.local is None:
            raise BadRequest(f"Shard {shard_id} of collection `{collection.name}` has no replica "
                             f"on this peer ({self.toc.peer_id})")
        return collection.name, shard

    def shard_manifest(self, collection: str, shard: ReplicaSet) -> dict:
        entry = self._entry(collection)
        return {"collection": collection, "shard_id": shard.shard_id, "key": shard.shard_key,
                "peer_id": self.toc.peer_id, "created": datetime.now(timezone.utc).isoformat(),
                "config": entry["config"], "payload_schema": entry.get("payload_schema") or {}}

    @contextlib.contextmanager
    def shard_stream(self, name: str, shard_id: int) -> Iterator[Iterator[bytes]]:
        """A shard snapshot as a stream of bytes (nothing written but the cut's hard links):
        for a download or a peer that receives a shard."""
        collection, shard = self.local_shard(name, shard_id)
        with cut(shard.local.shard, self.temp) as members:
            yield archive.stream("shard", members, self.shard_manifest(collection, shard))

    def create_shard_snapshot(self, name: str, shard_id: int) -> dict:
        collection, shard = self.local_shard(name, shard_id)
        with self._reserved(self.shard_dir(collection, shard_id),
                            f"{collection}-shard-{shard_id}-{self.toc.peer_id}-{_stamp()}"
                            ) as target, self.shard_stream(name, shard_id) as chunks:
            archive.write_file(chunks, target, self.rate)
        return describe(target)

    def list_shard(self, name: str, shard_id: int) -> list[dict]:
        collection, _ = self.local_shard(name, shard_id)
        return self.listing(self.shard_dir(collection, shard_id))

    def shard_file(self, name: str, shard_id: int, snapshot: str) -> Path:
        collection, _ = self.local_shard(name, shard_id)
        return self.file_in(self.shard_dir(collection, shard_id), snapshot)

    # -- full snapshots ------------------------------------------------------------------------
    def create_full_snapshot(self) -> dict:
        """Every collection (this node's shards of it) and the aliases, in one file: the
        collection snapshots are made in the staging space and put in whole."""
        with self._reserved(self.root, f"{FULL_PREFIX}{_stamp()}") as target, \
                self.workdir() as work:
            members, names = [], []
            for name in self.toc.list_names():
                part = work / f"{len(members)}{SUFFIX}"
                try:
                    self._write_collection(name, part)
                except NotFound:  # deleted meanwhile
                    continue
                names.append(name)
                members.append(archive.Member(f"collections/{len(members)}{SUFFIX}", part,
                                              part.stat().st_size))
            manifest = {
                "peer_id": self.toc.peer_id,
                "created": datetime.now(timezone.utc).isoformat(),
                "collections": {name: m.name for name, m in zip(names, members, strict=True)},
                "aliases": dict(self.toc.consensus.state.aliases),
            }
            archive.write_file(archive.stream("full", members, manifest), target, self.rate)
        return describe(target)

    def list_full(self) -> list[dict]:
        return self.listing(self.root)

    def full_file(self, snapshot: str) -> Path:
        return self.file_in(self.root, snapshot)
