"""The compose cluster fixture: docker-compose.yml's three nodes on a real Docker engine.

The tests run only with ``TESSERA_COMPOSE=1`` (``.ci/run`` sets it, after ``make image``), and
they then fail rather than skip when the engine or the image is missing. The figures the tests
measure (time to healthy, writes acknowledged, time to converge) are printed at the end.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest

from tests.compose.engine import REST_PORTS, Compose, compose_command, docker, engine_problem

IMAGE = os.environ.get("TESSERA_IMAGE", "tessera:local")
FIGURES: dict[str, str] = {}


def _unavailable(reason: str) -> None:
    if os.environ.get("TESSERA_COMPOSE") == "1":
        pytest.fail(f"compose tests cannot run: {reason}")
    pytest.skip(f"compose tests: {reason}")


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def figures() -> dict[str, str]:
    return FIGURES


@pytest.fixture(scope="session")
def cluster() -> Iterator[Compose]:
    if os.environ.get("TESSERA_COMPOSE") != "1":
        pytest.skip("compose tests run with TESSERA_COMPOSE=1 (.ci/run sets it)")
    problem = engine_problem()
    if problem:
        _unavailable(problem)
    if not docker("image", "ls", "-q", IMAGE).strip():
        _unavailable(f"no image {IMAGE} (make image builds it)")
    compose = Compose(compose_command() or [])
    compose("down", "-v", "--remove-orphans")
    taken = [p for base in REST_PORTS.values() for p in (base, base + 1) if _port_taken(p)]
    if taken:
        pytest.fail(f"host ports {taken} are taken: docker-compose.yml publishes them")
    start = time.monotonic()
    compose("up", "-d")
    healthy = compose.wait_healthy()
    FIGURES["up -d to three healthy nodes"] = (
        f"{time.monotonic() - start:.1f} s (after up returned: {healthy:.1f} s)")
    try:
        yield compose
    finally:
        compose("down", "-v", "--remove-orphans")


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("compose cluster figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
