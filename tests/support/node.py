"""Start, stop, kill and restart a Tessera node as a child process, for end-to-end tests.

The contract with the server: it is started as ``python -m tessera serve`` in a working directory
of its own, configured only through Qdrant's environment variables, and it is ready once
``GET /readyz`` answers 200. Everything the node prints goes to ``node.log`` in its working
directory; that log is shown whenever the node fails to come up.
"""

from __future__ import annotations

import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]

#: How many bytes of the log to show when a node does not start.
LOG_TAIL_BYTES = 20_000

#: Override the server command (e.g. a real Qdrant binary, to cross-check the suite against
#: Qdrant itself: it reads the same QDRANT__* variables). Default: ``python -m tessera serve``.
SERVER_CMD_ENV = "TESSERA_E2E_SERVER_CMD"

#: Every node started in this test process (the failure report of a test shows their warnings).
STARTED: weakref.WeakSet[Node] = weakref.WeakSet()
#: Log lines worth showing when a test fails: a node's own account of what went wrong.
_NOTEWORTHY = (" WARNING ", " ERROR ", " CRITICAL ")


def server_command() -> list[str]:
    override = os.environ.get(SERVER_CMD_ENV)
    if override:
        return shlex.split(override)
    return [sys.executable, "-m", "tessera", "serve"]


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


_handed_out: set[int] = set()  # never hand a port out twice: its node may not have bound it yet


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _worker_share(start: int, stop: int) -> tuple[int, int]:
    """This pytest-xdist worker's slice of ``[start, stop)``: two workers each remember only the
    ports they handed out, so they must not draw from the same range."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count < 2:
        return start, stop
    size = (stop - start) // count
    first = start + int(worker[2:]) % count * size
    return first, first + size


def free_port(exclude: set[int] | frozenset[int] = frozenset()) -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (and is not in ``exclude``).

    Chosen below the kernel's ephemeral range when there is room: a port from that range (what
    binding port 0 gives) can be taken by any outgoing connection's local end between two runs
    of a node that restarts on the same ports, and the restart then fails to bind."""
    low, _ = _ephemeral_range()
    if low > 20000:
        start, stop = _worker_share(10000, low)
        rng = random.Random()
        for _ in range(200):
            port = rng.randrange(start, stop)
            if port not in exclude and port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in exclude and port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("could not find a free port")


class NodeStartError(RuntimeError):
    """The node exited or did not become ready in time. The message includes its log."""


class Node:
    """One Tessera node: a child process with its own storage, snapshot dir, ports and log.

    Ports and storage are chosen once, so :meth:`restart` brings the node back on the same
    storage and the same ports.
    """

    def __init__(
        self,
        workdir: Path | str,
        env: dict[str, str] | None = None,
        http_port: int | None = None,
        grpc_port: int | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        #: extra command-line arguments of `tessera serve` (e.g. --storage-snapshot PATH)
        self.args = list(args or [])
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage_path = self.workdir / "storage"
        self.snapshots_path = self.workdir / "snapshots"
        self.log_path = self.workdir / "node.log"
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port(exclude={self.http_port})
        self.extra_env = dict(env or {})
        #: httpx's ``verify`` for this node (an ssl.SSLContext trusting a test CA, for TLS)
        self.verify: Any = True
        self.proc: subprocess.Popen[bytes] | None = None
        self._http: httpx.Client | None = None
        self._clients: list[Any] = []
        self.starts = 0

    # ------------------------------------------------------------------ addresses and clients

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        tls = self.extra_env.get("QDRANT__SERVICE__ENABLE_TLS", "").lower() == "true"
        return f"{'https' if tls else 'http'}://{self.host}:{self.http_port}"

    @property
    def http(self) -> httpx.Client:
        """An httpx client with ``base_url`` set to the node (renewed on every start)."""
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=60.0, verify=self.verify)
        return self._http

    def client(self, **kw: Any):
        """A ``QdrantClient`` for this node. ``prefer_grpc=True`` uses the node's gRPC port."""
        from qdrant_client import QdrantClient

        kw.setdefault("timeout", 60)
        kw.setdefault("grpc_port", self.grpc_port)
        client = QdrantClient(url=self.url, **kw)
        self._clients.append(client)
        return client

    # ------------------------------------------------------------------ process control

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The working directory is a temp dir, so make the repository importable.
        pythonpath = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + pythonpath if pythonpath else "")
        env["PYTHONUNBUFFERED"] = "1"
        env.update(
            {
                "QDRANT__SERVICE__HTTP_PORT": str(self.http_port),
                "QDRANT__SERVICE__GRPC_PORT": str(self.grpc_port),
                "QDRANT__SERVICE__HOST": self.host,
                "QDRANT__STORAGE__STORAGE_PATH": str(self.storage_path),
                "QDRANT__STORAGE__SNAPSHOTS_PATH": str(self.snapshots_path),
                "QDRANT__TELEMETRY_DISABLED": "true",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> Node:
        """Launch the process (does not wait for readiness; see :meth:`wait_ready`)."""
        if self.running:
            raise RuntimeError(f"node on port {self.http_port} is already running")
        self._close_http()
        self.starts += 1
        STARTED.add(self)
        with open(self.log_path, "ab") as log:
            banner = f"\n===== start #{self.starts} at {time.strftime('%H:%M:%S')} =====\n"
            log.write(banner.encode())
            log.flush()
            self.proc = subprocess.Popen(
                server_command() + self.args,
                cwd=self.workdir,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaches its children too
            )
        return self

    def wait_ready(self, timeout: float = 30) -> Node:
        """Poll ``GET /readyz`` until it answers 200.

        Raises :class:`NodeStartError` with the log.
        """
        deadline = time.monotonic() + timeout
        last_error: str = "no answer yet"
        with httpx.Client(base_url=self.url, timeout=2.0, verify=self.verify) as probe:
            while True:
                if self.proc is None:
                    raise NodeStartError("node was never started")
                code = self.proc.poll()
                if code is not None:
                    self._fail(f"node exited with code {code} before it was ready")
                try:
                    resp = probe.get("/readyz")
                    if resp.status_code == 200:
                        return self
                    last_error = f"GET /readyz answered {resp.status_code}: {resp.text[:200]}"
                except httpx.HTTPError as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                if time.monotonic() > deadline:
                    self._fail(f"node not ready after {timeout} s ({last_error})")
                time.sleep(0.1)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM and wait; SIGKILL (whole process group) if it does not exit in ``timeout``."""
        self._close_http()
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._killpg()
                self.proc.wait(timeout=timeout)
        self._reap_group()

    def kill(self) -> None:
        """SIGKILL the node (and anything in its process group) and wait for it: a crash."""
        self._close_http()
        if self.proc is None:
            return
        self._killpg()
        self.proc.wait(timeout=30)

    def restart(self, timeout: float = 30) -> Node:
        """Start again on the same storage and ports (stopping gracefully first if running)."""
        if self.running:
            self.stop()
        self.start()
        return self.wait_ready(timeout=timeout)

    def log_text(self, tail: int = LOG_TAIL_BYTES) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return "<no log file>"
        return data[-tail:].decode(errors="replace")

    def warnings(self, since: float, limit: int = 30) -> list[str]:
        """The last ``limit`` WARNING/ERROR lines of the log written since ``since`` (epoch
        seconds): what a failed test's report shows of this node."""
        try:
            if self.log_path.stat().st_mtime < since:
                return []
        except FileNotFoundError:
            return []
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
        lines = [line for line in self.log_text(2_000_000).splitlines()
                 if any(word in line for word in _NOTEWORTHY) and line[:19] >= stamp]
        return lines[-limit:]

    # ------------------------------------------------------------------ internals

    def _fail(self, why: str) -> None:
        log = self.log_text()
        report = f"{why}\n----- {self.log_path} (tail) -----\n{log}\n----- end of log -----"
        print(report, file=sys.stderr)
        if self.running:
            self.kill()
        raise NodeStartError(report)

    def _killpg(self) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass

    def _reap_group(self) -> None:
        # After a graceful exit, make sure no child of ours is left holding a port.
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close_clients(self) -> None:
        """Close every QdrantClient made by :meth:`client` (they survive restarts otherwise)."""
        for client in self._clients:
            try:
                client.close()
            except Exception:
                pass
        self._clients.clear()

    def _close_http(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Node:
        return self.start().wait_ready()

    def __exit__(self, *exc: object) -> None:
        self.close_clients()
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Node {self.url} grpc={self.grpc_port} {state} dir={self.workdir}>"
