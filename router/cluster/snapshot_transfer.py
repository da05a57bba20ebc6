"""The ``snapshot`` method of a shard transfer: the target receives a snapshot of the source's
replica peer-to-peer (``PeerSnapshots.ShardSnapshot``, streamed from the source's hard links),
verifies and installs it in place of its own copy, then fetches what changed since the
snapshot's cut (the version delta of ``router.cluster.duties``) while the source keeps
forwarding live writes.

Qdrant's target waits in ``Recovery`` and replays queued updates; here the target is
``Partial`` (writes reach it as in a record stream) and the delta after the install brings
every write the swap replaced.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from node import snapshot_archive as archive
from router.collection.remote_replica import RemoteReplica, fetch_shard_snapshot
from router.collection.replica_set import LocalReplica, ReplicaSet


def install_from_peer(toc: Any, shard: ReplicaSet, source: RemoteReplica,
                      uuid_: str) -> LocalReplica:
    """This peer's replica of ``shard`` replaced by a snapshot of ``source``'s."""
    work = Path(tempfile.mkdtemp(prefix=".transfer-", dir=toc.storage_path))
    try:
        path = fetch_shard_snapshot(toc.channels, source.address, uuid_, shard.shard_id,
                                    work / "shard.snapshot")
        archive.extract(path, work / "data", kind="shard")
        path.unlink()
        return toc.replace_local_shard(shard, work / "data")
    finally:
        shutil.rmtree(work, ignore_errors=True)
