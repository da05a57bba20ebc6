"""Fixtures for the end-to-end suite: a real Tessera node driven over the network.

* ``node`` (session): one node shared by most tests, so the suite stays fast.
* ``http`` (session): ``node.http``, an httpx client with ``base_url`` = the node.
* ``transport`` (parametrized): which wire qdrant-client uses. Only ``"rest"`` for now.
* ``client``: ``node.client(prefer_grpc=(transport == "grpc"))``, one per transport for the session.
* ``collection_name`` (function): a unique name; the collection (and so its aliases) is deleted
  afterwards, whatever the test did.
* ``fresh_node`` (function): factory ``fresh_node(**env) -> Node`` for durability / restart
  tests; every node it made is stopped at the end of the test.

Environment knobs: ``TESSERA_E2E_READY_TIMEOUT`` (seconds to wait for ``/readyz``, default 30);
``TESSERA_E2E_TRANSPORTS`` (comma list, default ``rest``); ``TESSERA_E2E_SERVER_CMD`` (run another
server binary instead of ``python -m tessera serve``, e.g. a real Qdrant to cross-check the suite);
``TESSERA_E2E_INDEX_TIMEOUT`` (test_hnsw: seconds to wait for green + indexed, default 120).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator

import grpc
import httpx
import pytest

from tests.support.node import STARTED, Node

READY_TIMEOUT = float(os.environ.get("TESSERA_E2E_READY_TIMEOUT", "30"))

# Transports every `client`-based test runs over; assertions are identical for each.
# TODO(grpc): make this ["rest", "grpc"] once the node serves gRPC on QDRANT__SERVICE__GRPC_PORT;
# the `client` fixture already builds `node.client(prefer_grpc=True)` (grpc_port = node.grpc_port).
# Until then it can be tried with TESSERA_E2E_TRANSPORTS=rest,grpc.
TRANSPORTS = [
    t.strip()
    for t in os.environ.get("TESSERA_E2E_TRANSPORTS", "rest,grpc").split(",")
    if t.strip()
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: long-running test (HNSW on 20k points); runs by default, "
        "deselect with -m 'not slow'"
    )
    config.addinivalue_line(
        "markers", "durability: starts its own node(s) and kills / restarts them"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test's report carries the warnings its nodes logged while it ran: in CI that
    is often the only account of why a cluster did what it did."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when == "call":
        lines = [f"{node.workdir.name} {line}" for node in list(STARTED)
                 for line in node.warnings(since=call.start)]
        if lines:
            report.sections.append(("node warnings", "\n".join(lines)))


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = Node(tmp_path_factory.mktemp("node"))
    n.start()
    try:
        n.wait_ready(timeout=READY_TIMEOUT)
        yield n
    finally:
        n.close_clients()
        n.stop()


@pytest.fixture(scope="session")
def http(node: Node) -> httpx.Client:
    return node.http


# `transport` is function-scoped on purpose: a session-scoped parametrized fixture makes pytest
# reorder tests across modules, which tears down and rebuilds module-scoped data fixtures.
@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def _clients(node: Node) -> Iterator[dict]:
    cache: dict = {}
    yield cache
    for c in cache.values():
        c.close()


@pytest.fixture
def client(node: Node, transport: str, _clients: dict):
    """A QdrantClient for the session node over ``transport`` (one per transport, reused)."""
    if transport not in _clients:
        _clients[transport] = node.client(prefer_grpc=(transport == "grpc"))
    return _clients[transport]


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def collection_name(node: Node) -> Iterator[str]:
    name = unique_name("col")
    yield name
    # Raw HTTP (not the client): works whatever the transport and whatever the test left behind.
    try:
        node.http.delete(f"/collections/{name}")
    except httpx.HTTPError:
        pass


@pytest.fixture
def make_name(node: Node) -> Iterator[Callable[[str], str]]:
    """Factory for extra unique collection names in one test; all are deleted afterwards."""
    names: list[str] = []

    def make(prefix: str = "col") -> str:
        name = unique_name(prefix)
        names.append(name)
        return name

    yield make
    for name in names:
        try:
            node.http.delete(f"/collections/{name}")
        except httpx.HTTPError:
            pass


@pytest.fixture
def fresh_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Node]]:
    """``fresh_node(**env)`` starts a new node on fresh storage and waits until it is ready."""
    made: list[Node] = []

    def make(**env: str) -> Node:
        n = Node(tmp_path_factory.mktemp("fresh"), env=env)
        made.append(n)
        n.start()
        n.wait_ready(timeout=READY_TIMEOUT)
        return n

    yield make
    for n in made:
        n.close_clients()
        try:
            n.stop()
        except Exception:
            n.kill()


@pytest.fixture(scope="module")
def gclient(node: Node):
    """qdrant-client over gRPC, for tests that compare the two transports side by side."""
    client = node.client(prefer_grpc=True)
    deadline = time.monotonic() + 15
    while True:  # the gRPC port may come up a moment after /readyz
        try:
            client.info()
            break
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return client


@pytest.fixture(scope="module")
def rclient(node: Node):
    """qdrant-client over REST, the twin of `gclient`."""
    return node.client()
