"""Recovery from snapshots: fetching the file, checking it, and swapping its data in atomically.

A location is a ``file://`` URL (or, for shard snapshots, a plain path) that must lie inside the
snapshots directory (403 otherwise), or an ``http(s)://`` URL, downloaded into the staging space
(with the ``api-key`` header when given); uploads arrive there too. The file's sha256 is checked
against ``checksum`` when one is given, then the archive is extracted and verified in full
(``node.snapshot_archive.extract``). Only then is anything stored touched, so a bad file changes
nothing; the staging directory goes away whatever happens.

**Replacing a collection** (always on a single node; in a cluster when the collection does not
exist yet or its vectors differ from the snapshot's): the shard directories are moved under a new
collection uuid, then one metadata operation (``recover_collection``) swaps the collection's
entry — config, payload schema, shards — for the new one. In a cluster the shards get the
snapshot's replication factor (``router.cluster.placement.recovered_placement``): the replica here
holds the data and the others refill from it. Until it is applied the old collection
serves; once applied, the table of contents opens the new shards and drops the old ones. A kill -9
before it leaves an unknown uuid directory that reconciliation removes; after it, the new
collection is complete.

**Recovering shards into a live collection** (shard snapshots; collection snapshots in a cluster
whose collection exists with the same vectors): the local replica is closed and its directory
swapped (``node.shard_snapshot.install``). Then the priority decides, in a cluster:
``snapshot`` — the other replicas are marked Dead and refill from this one; ``replica`` — if
another replica is Active, this one is marked Dead and refills from it (the cluster's data wins);
``no_sync`` — nothing more.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from node import snapshot_archive as archive
from node.durable import fsync_dir
from node.errors import BadRequest, NotFound, TesseraError, ValidationFailed
from node.shard_snapshot import strip_prefix
from router.cluster.placement import recovered_placement
from router.cluster.snapshots import SnapshotStore
from router.cluster.toc import validate_collection_name
from router.collection.replica_set import ReplicaSet

log = logging.getLogger(__name__)

PRIORITIES = ("replica", "snapshot", "no_sync")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_CONNECT_TIMEOUT, _READ_TIMEOUT = 30.0, 300.0


def parse_priority(value) -> str:
    if value is None or value == "":
        return "replica"
    if value not in PRIORITIES:
        raise BadRequest(f"unknown snapshot priority `{value}`, expected one of "
                         f"{', '.join(PRIORITIES)}")
    return value


def check_checksum_text(checksum: str | None) -> str | None:
    if checksum is None or checksum == "":
        return None
    if not isinstance(checksum, str) or not _SHA256.match(checksum):
        raise ValidationFailed("[checksum: must be a SHA256 hash of 64 hex characters]")
    return checksum.lower()


def check_upload(priority, checksum) -> tuple[str, str | None]:
    """The priority and checksum query parameters of an upload, checked."""
    return parse_priority(priority), check_checksum_text(checksum)


def _verify_checksum(path: Path, expected: str | None) -> None:
    if expected is None:
        return
    actual = archive.sha256_of(path)
    if actual != expected:
        raise BadRequest(f"Snapshot checksum mismatch: expected {expected}, got {actual}")


class SnapshotRecovery:
    def __init__(self, store: SnapshotStore) -> None:
        self.store = store
        self.toc = store.toc
        # one recovery at a time swaps data in (fetching and checking files run side by side)
        self._installing = threading.Lock()

    # -- fetching ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def fetched(self, location, api_key: str | None = None,
                base: Path | None = None) -> Iterator[Path]:
        """The snapshot at ``location`` as a local file, for the ``with`` block."""
        if not isinstance(location, str) or not location:
            raise BadRequest("snapshot location must be a non-empty string")
        parsed = urlparse(location)
        if parsed.scheme in ("http", "https"):
            with self.store.workdir() as work:
                yield self._download(location, api_key, work / "download.snapshot")
            return
        if parsed.scheme == "file":
            path = Path(unquote(parsed.path))
        elif parsed.scheme == "" and base is not None:  # shard snapshots: a path
            path = Path(location) if Path(location).is_absolute() else base / location
        else:
            raise BadRequest(f"Unsupported snapshot location `{location}`: expected a file:// "
                             "path in the snapshots directory or an http(s):// URL")
        resolved = self.store.inside(path)
        if not resolved.is_file():
            raise NotFound(f"Snapshot file {path} does not exist")
        yield resolved

    @staticmethod
    def _download(url: str, api_key: str | None, target: Path) -> Path:
        import httpx  # only for URL locations: kept out of the node's start (~0.1 s)

        headers = {"api-key": api_key} if api_key else {}
        timeout = httpx.Timeout(_CONNECT_TIMEOUT, read=_READ_TIMEOUT)
        try:
            with httpx.stream("GET", url, headers=headers, timeout=timeout,
                              follow_redirects=True) as response:
                if response.status_code != 200:
                    raise BadRequest(f"Failed to download snapshot from {url}: HTTP "
                                     f"{response.status_code}")
                with open(target, "wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise BadRequest(f"Failed to download snapshot from {url}: {exc}") from None
        return target

    # -- collections ---------------------------------------------------------------------------
    def recover_collection(self, name: str, location, priority=None, checksum=None,
                           api_key: str | None = None) -> bool:
        priority, checksum = parse_priority(priority), check_checksum_text(checksum)
        validate_collection_name(name)
        with self.fetched(location, api_key) as path:
            return self.recover_collection_file(name, path, priority, checksum)

    def recover_collection_file(self, name: str, path: Path, priority: str = "replica",
                                checksum: str | None = None) -> bool:
        _verify_checksum(path, checksum)
        with self.store.workdir() as work:
            manifest = archive.extract(path, work / "data", kind="collection")
            with self._installing:
                self._install_collection(name, manifest, work / "data", priority)
        return True

    def _install_collection(self, name: str, manifest: dict, data: Path, priority: str) -> None:
        state = self.toc.consensus.state
        real = state.aliases.get(name, name) if name not in state.collections else name
        entry = state.collections.get(real)
        if self.toc.cluster_enabled and entry is not None and \
                _vectors_of(entry["config"]) == _vectors_of(manifest["config"]):
            for shard in manifest["shards"]:
                if shard["included"]:
                    self._recover_shard_dir(real, shard["shard_id"],
                                            strip_prefix(data, f"shards/{shard['shard_id']}"),
                                            priority)
            return
        new_uuid = uuid.uuid4().hex
        with self.toc.incoming(new_uuid) as home:
            try:
                for shard in manifest["shards"]:
                    if shard["included"]:
                        source = strip_prefix(data, f"shards/{shard['shard_id']}")
                        home.mkdir(parents=True, exist_ok=True)
                        shutil.move(str(source), str(home / str(shard["shard_id"])))
                if home.exists():
                    fsync_dir(home)
                fsync_dir(self.toc.collections_path)
                self.toc.install_collection(
                    real, new_uuid, manifest["config"], manifest.get("payload_schema") or {},
                    self._placement(manifest),
                    ring=bool(manifest.get("ring", False)))
            except BaseException:
                applied = {e.get("uuid") for e in self.toc.consensus.state.collections.values()}
                if new_uuid not in applied:  # (an ambiguous failure may still have applied it)
                    shutil.rmtree(home, ignore_errors=True)
                raise

    def _placement(self, manifest: dict) -> list[dict]:
        shards = manifest["shards"]
        if not self.toc.cluster_enabled:  # one node: every shard here
            return [{"shard_id": s["shard_id"], "key": s.get("key")} for s in shards]
        factor = manifest["config"]["params"].get("replication_factor", 1)
        peers = self.toc.consensus.live_peers() or [self.toc.peer_id]
        return recovered_placement(shards, factor, self.toc.peer_id, peers)

    # -- shards --------------------------------------------------------------------------------
    def recover_shard(self, name: str, shard_id: int, location, priority=None, checksum=None,
                      api_key: str | None = None) -> bool:
        priority, checksum = parse_priority(priority), check_checksum_text(checksum)
        collection, _ = self.store.local_shard(name, shard_id)
        with self.fetched(location, api_key, self.store.shard_dir(collection, shard_id)) as path:
            return self.recover_shard_file(name, shard_id, path, priority, checksum)

    def recover_shard_file(self, name: str, shard_id: int, path: Path, priority: str = "replica",
                           checksum: str | None = None) -> bool:
        collection, _ = self.store.local_shard(name, shard_id)
        _verify_checksum(path, checksum)
        with self.store.workdir() as work:
            manifest = archive.extract(path, work / "data", kind="shard")
            entry = self.toc.consensus.state.collections[collection]
            if _vectors_of(entry["config"]) != _vectors_of(manifest["config"]):
                raise BadRequest("Snapshot's vectors config differs from the config of "
                                 f"collection `{collection}`: recover a collection snapshot "
                                 "to replace the collection")
            with self._installing:
                self._recover_shard_dir(collection, shard_id, work / "data", priority)
        return True

    def _recover_shard_dir(self, collection: str, shard_id: int, data: Path,
                           priority: str) -> None:
        shard = self.toc.get(collection).shard_by_id(shard_id)
        if shard is None or shard.local is None:
            log.warning("snapshot of %s shard %s: no replica on this peer, skipped", collection,
                        shard_id)
            return
        self.toc.replace_local_shard(shard, data)
        if self.toc.cluster_enabled and priority != "no_sync":
            self._apply_priority(collection, shard, priority)

    def _apply_priority(self, collection: str, shard: ReplicaSet, priority: str) -> None:
        me = self.toc.peer_id
        others = [p for p, s in shard.states.items() if p != me and s == "Active"]
        entry = self.toc.consensus.state.collections[collection]
        if priority == "snapshot":
            dead = others
        else:  # replica: the cluster's data wins where there is any
            dead = [me] if others and shard.states.get(me) == "Active" else []
        if dead:
            try:  # in one step: a refill never starts from a replica about to be replaced
                self.toc.mark_replicas_dead(collection, entry["uuid"], shard.shard_id, dead)
            except TesseraError as exc:
                log.warning("after recovery of %s/%s: %s", collection, shard.shard_id, exc)

    # -- full snapshots ------------------------------------------------------------------------
    def restore_full(self, path: Path, force: bool = False) -> list[str]:
        """Every collection and alias of a full snapshot (start-up, ``--storage-snapshot``);
        collections that exist are kept unless ``force``. Returns the recovered names."""
        recovered = []
        with self.store.workdir() as work:
            manifest = archive.extract(path, work / "data", kind="full")
            for name, member in manifest.get("collections", {}).items():
                if self.toc.exists(name) and not force:
                    log.warning("collection %s exists: not recovered from %s (--force-snapshot "
                                "overwrites it)", name, path)
                    continue
                self.recover_collection_file(name, strip_prefix(work / "data", member))
                recovered.append(name)
            actions = [{"kind": "create", "alias_name": alias, "collection_name": target}
                       for alias, target in sorted(manifest.get("aliases", {}).items())
                       if alias not in self.toc.consensus.state.aliases
                       and self.toc.exists(target)]
            if actions:
                self.toc.change_aliases(actions)
        return recovered


def _vectors_of(config: dict) -> tuple:
    params = config.get("params", {})
    return params.get("vectors"), params.get("sparse_vectors")
