"""TLS for the node's ports (Qdrant's ``tls.*`` keys): the server contexts of the REST and gRPC
faces, the client credentials peers use on each other, and the reload of certificate files.

A context is built once and kept: `CertReloader` loads the files again into the same context
every ``tls.cert_ttl`` seconds when they changed on disk, so new connections get the new
certificate while the ones already open keep theirs, without a restart.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsFiles:
    """``tls.cert`` / ``tls.key`` (PEM; the chain may follow the certificate), ``tls.ca_cert``
    (the CA that client and peer certificates must chain to), and whether clients must present
    one (``service.verify_https_client_certificate``)."""

    cert: str
    key: str
    ca_cert: str | None = None
    verify_clients: bool = False

    def read(self) -> tuple[bytes, bytes, bytes | None]:
        ca = Path(self.ca_cert).read_bytes() if self.ca_cert else None
        return Path(self.cert).read_bytes(), Path(self.key).read_bytes(), ca


def server_context(files: TlsFiles, alpn: list[str]) -> ssl.SSLContext:
    """A server context for ``files``, offering the ``alpn`` protocols (gRPC needs "h2")."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(alpn)
    _load(context, files)
    if files.verify_clients:
        if not files.ca_cert:
            raise ValueError("service.verify_https_client_certificate needs tls.ca_cert")
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _load(context: ssl.SSLContext, files: TlsFiles) -> None:
    context.load_cert_chain(files.cert, files.key)
    if files.ca_cert:
        context.load_verify_locations(files.ca_cert)


def peer_credentials(files: TlsFiles):
    """gRPC channel credentials for calls to peers: their certificate must chain to
    ``tls.ca_cert``, and this node presents its own (for peers that verify clients)."""
    import grpc

    cert, key, ca = files.read()
    if ca is None:
        raise ValueError("cluster.p2p.enable_tls needs tls.ca_cert (peers verify each other)")
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                        certificate_chain=cert)


class CertReloader:
    """Reloads ``files`` into ``contexts`` every ``ttl`` seconds when a file changed."""

    def __init__(self, files: TlsFiles, contexts: list[ssl.SSLContext], ttl: float) -> None:
        self._files = files
        self._contexts = contexts
        self._ttl = ttl
        self._stamp = self._mtimes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tls-reload", daemon=True)

    def _mtimes(self) -> tuple:
        paths = [self._files.cert, self._files.key, self._files.ca_cert]
        return tuple(Path(p).stat().st_mtime_ns if p else 0 for p in paths)

    def start(self) -> CertReloader:
        if self._ttl > 0:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def reload_if_changed(self) -> bool:
        try:
            stamp = self._mtimes()
            if stamp == self._stamp:
                return False
            for context in self._contexts:
                _load(context, self._files)
        except (OSError, ssl.SSLError) as exc:  # e.g. caught between writing cert and key
            log.warning("TLS certificate reload failed, keeping the current one: %s", exc)
            return False
        self._stamp = stamp
        log.info("TLS certificate reloaded from %s", self._files.cert)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._ttl):
            self.reload_if_changed()
