"""Composition root: wires storage, consensus and the REST face into one running node.

A single node is a one-node cluster: the same table of contents, collections and replica sets
serve it, with the single-node consensus in place of Raft.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import sys
from pathlib import Path

from consensus.local import LocalConsensus
from consensus.raft import RaftConsensus
from node.optimizer import Optimizer
from node.peer_service import (
    PEER_SERVICE,
    PEER_SNAPSHOT_SERVICE,
    LoopPeerService,
    PeerSnapshotService,
    add_peer_service,
    add_peer_snapshot_service,
)
from router.api.auth import Authenticator
from router.api.guard import Guard, value_exists_in
from router.api.tls import CertReloader, TlsFiles, peer_credentials, server_context
from router.cluster.rebalance_duty import RebalancePolicy
from router.cluster.snapshot_recovery import SnapshotRecovery
from router.cluster.snapshots import SnapshotStore
from router.cluster.toc import TableOfContent
from router.collection.limits import Limits
from router.collection.remote_replica import PeerChannels
from tessera.config import Settings
from tessera.startup_snapshots import StartupSnapshots

log = logging.getLogger("tessera")


class Node:
    """Everything a node holds, opened from its storage directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        storage = Path(settings.storage_path)
        storage.mkdir(parents=True, exist_ok=True)
        self.channels: PeerChannels | None = None
        if settings.cluster_enabled:
            if settings.grpc_port is None:
                raise ValueError("cluster mode needs service.grpc_port (the peer service's port)")
            self.consensus = RaftConsensus(
                storage, settings.uri or self._default_uri(settings), settings.bootstrap,
                grpc_port=settings.grpc_port, http_port=settings.http_port,
                compact_entries=settings.compact_wal_entries, secret=raft_secret(settings),
                on_refused=_exit_refused,
            )
            self.channels = PeerChannels(settings.api_key, peer_tls(settings))
        else:
            self.consensus = LocalConsensus(storage)
        self.optimizer = Optimizer(flush_interval_sec=settings.flush_interval_sec)
        self.toc = TableOfContent(
            storage, self.consensus, self.optimizer, self.channels,
            default_optimizers={
                "indexing_threshold": settings.default_indexing_threshold_kb,
                "flush_interval_sec": settings.flush_interval_sec,
            },
            limits=Limits(
                max_shards_per_collection=settings.max_shards_per_collection,
                max_hnsw_m=settings.max_hnsw_m,
                max_ef_construct=settings.max_ef_construct,
                max_request_memory_mb=settings.max_request_memory_mb,
            ),
            transfer_limits=(settings.incoming_shard_transfers_limit,
                             settings.outgoing_shard_transfers_limit),
            transfer_rate=settings.max_transfer_rate,
            rebalance=RebalancePolicy(settings.rebalance_enabled,
                                      float(settings.replica_repair_after_sec)),
        )
        self.toc.resharding_enabled = settings.resharding_enabled  # cluster.resharding_enabled
        self.snapshots = SnapshotRecovery(SnapshotStore(
            self.toc, Path(settings.snapshots_path),
            Path(settings.temp_path) if settings.temp_path else None,
            rate=settings.snapshot_busy_rate_mb << 20))

    @staticmethod
    def _default_uri(settings: Settings) -> str | None:
        """Without --uri a first start takes this host's p2p address (loopback if bound to
        every interface)."""
        host = settings.service_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{host}:{settings.p2p_port}"

    def grpc_extras(self) -> list:
        """The internal peer service rides on the public gRPC port in cluster mode."""
        if self.channels is None:
            return []
        service = LoopPeerService(
            self.toc.replica_endpoint, {"applied_index": lambda: self.toc.reconciled_index,
                                        "transfer_comment": self.toc.transfer_comment},
            functools.partial(self.toc.replica_endpoint, wait=False),
        )
        snapshots = PeerSnapshotService(self.toc.replica_endpoint, self.snapshots.store.temp)
        return [(PEER_SERVICE, lambda server: add_peer_service(server, service)),
                (PEER_SNAPSHOT_SERVICE,
                 lambda server: add_peer_snapshot_service(server, snapshots))]

    def close(self) -> None:
        self.optimizer.stop()
        self.toc.close()
        if isinstance(self.consensus, RaftConsensus):
            self.consensus.close()


def _exit_refused(why: str) -> None:
    """The cluster will not have this node (its address is another process's, or a peer it
    would replace still holds shards): exit at once rather than hang or serve as a stranger.
    The storage is left as it is."""
    print(f"Tessera cannot join the cluster: {why}", file=sys.stderr, flush=True)
    logging.shutdown()
    os._exit(1)


#: What the Raft key is derived from the API key with (a new label gives a new key).
RAFT_KEY_LABEL = b"tessera raft port v1"


def raft_secret(settings: Settings) -> str | None:
    """The key of the Raft port: cluster.p2p.secret when set, else HMAC-SHA256 of the label
    above keyed with service.api_key (so every node sharing the key shares it and the key
    itself never travels), else None: the port then accepts anyone who can reach it."""
    if settings.p2p_secret:
        return settings.p2p_secret
    if settings.api_key:
        return hmac.new(settings.api_key.encode(), RAFT_KEY_LABEL, hashlib.sha256).hexdigest()
    log.warning("the Raft port (cluster.p2p.port) is unauthenticated: set cluster.p2p.secret "
                "or service.api_key")
    return None


def tls_files(settings: Settings) -> TlsFiles | None:
    """The certificate files, when a port is to speak TLS (service.enable_tls for REST and
    gRPC; cluster.p2p.enable_tls for the gRPC port, which carries the peers' calls)."""
    if not (settings.enable_tls or settings.p2p_enable_tls):
        return None
    if not settings.tls_cert or not settings.tls_key:
        raise ValueError("TLS needs tls.cert and tls.key")
    return TlsFiles(settings.tls_cert, settings.tls_key, settings.tls_ca_cert,
                    settings.verify_https_client_certificate)


def peer_tls(settings: Settings):
    """Channel credentials for calls to peers' gRPC ports (None: plain text)."""
    files = tls_files(settings)
    return peer_credentials(files) if files is not None else None


def serve(settings: Settings, restore: StartupSnapshots | None = None) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    node = Node(settings)
    # The faces are imported only now: consensus is already catching up with the cluster (and
    # the shards opening) while these modules load, which a restart then does not wait for
    # twice. The gRPC face first, and the REST face (FastAPI, the larger) once the peer service
    # is up and the duties (a restarted node's recoveries) have started.
    from router.api.grpc.server import start_grpc_server

    guard = Guard(Authenticator(settings.api_key, settings.read_only_api_key or None,
                                settings.jwt_rbac, value_exists_in(node.toc)))
    files = tls_files(settings)
    rest_tls = server_context(files, ["http/1.1"]) if settings.enable_tls else None
    grpc_tls = server_context(files, ["h2"]) if files is not None else None
    reloader = None
    if files is not None:
        contexts = [c for c in (rest_tls, grpc_tls) if c is not None]
        reloader = CertReloader(files, contexts, settings.tls_cert_ttl).start()
    grpc_server = None
    if settings.grpc_port is not None:  # before uvicorn: a ready REST face implies gRPC is up
        grpc_server = start_grpc_server(
            node.toc, settings.service_host, settings.grpc_port, extra_services=node.grpc_extras(),
            snapshots=node.snapshots.store, guard=guard, tls=grpc_tls,
        )
        log.info("Tessera gRPC API on %s:%d", settings.service_host, settings.grpc_port)
    node.toc.start_duties()
    if restore:
        try:
            restore.apply(node.snapshots)
        except Exception:
            node.close()
            raise
    import uvicorn

    from router.api.rest import create_app
    from router.api.rest.http_protocol import protocol_for

    app = create_app(node.toc, settings.max_request_size_mb, None,
                     settings.metrics_prefix, node.snapshots, guard=guard)
    config = uvicorn.Config(
        app,
        host=settings.service_host,
        port=settings.http_port,
        log_level=settings.log_level.lower() if settings.log_level.lower() in
        ("critical", "error", "warning", "info", "debug", "trace") else "info",
        access_log=False,
        timeout_graceful_shutdown=5,
        http=protocol_for(app),  # the hot paths skip ASGI
        proxy_headers=False,  # X-Forwarded-* are not ours to trust; and one layer less per request
    )
    config.load()
    config.ssl = rest_tls  # our own context, so that CertReloader can reload it in place
    scheme = "https" if rest_tls is not None else "http"
    log.info("Tessera REST API on %s://%s:%d", scheme, settings.service_host, settings.http_port)
    try:
        uvicorn.Server(config).run()
    finally:
        if reloader is not None:
            reloader.stop()
        if grpc_server is not None:
            grpc_server.stop(grace=5).wait()
        node.close()
