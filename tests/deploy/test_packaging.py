"""The built wheel, installed the ways people install it, starts a cluster-mode node.

The wheel is built from a copy of the package's sources (what deploy/Dockerfile copies), then
installed without ``-e`` into a fresh venv, under ``--prefix`` and with ``--user``. Each install
runs ``tessera serve`` from an unrelated directory, with nothing of the source tree on
``sys.path``, until ``/readyz`` answers: the peer service's .proto must come from the installed
package itself. The dependencies are not downloaded again: the running interpreter's
site-packages is put on the path (without its .pth files, so not its editable Tessera).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.node import free_port

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "node", "router", "consensus", "tessera")
PY = f"python{sys.version_info.major}.{sys.version_info.minor}"
#: the dependencies, as this interpreter has them
DEPS = sysconfig.get_paths()["purelib"]
#: an interpreter that is not a venv (its own site-packages holds no Tessera)
BASE_PYTHON = str(Path(sys.base_prefix) / "bin" / PY)


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONUSERBASE")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, src / name)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
          "-w", str(out), str(src)])
    (built,) = out.glob("tessera-*.whl")
    return built


def test_wheel_carries_the_peer_proto(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "node/proto/peer.proto" in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


@pytest.fixture
def serve_from(tmp_path) -> Iterator:
    """``serve_from(tessera, env)`` starts the installed command in cluster mode from a
    directory of its own and returns once ``/readyz`` answers 200; stopped afterwards."""
    procs: list[subprocess.Popen] = []

    def serve(tessera: Path, env: dict[str, str]) -> str:
        http, grpc_port, p2p = free_port(), free_port(), free_port()
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        env = dict(env, QDRANT__SERVICE__HTTP_PORT=str(http),
                   QDRANT__SERVICE__GRPC_PORT=str(grpc_port),
                   QDRANT__CLUSTER__ENABLED="true", QDRANT__CLUSTER__P2P__PORT=str(p2p),
                   QDRANT__CLUSTER__P2P__SECRET="packaging-test",
                   QDRANT__TELEMETRY_DISABLED="true")
        log = open(elsewhere / "node.log", "wb")
        proc = subprocess.Popen([str(tessera), "serve", "--uri", f"http://127.0.0.1:{p2p}"],
                                cwd=elsewhere, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        procs.append(proc)
        url = f"http://127.0.0.1:{http}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"node not ready (exit {proc.poll()}):\n"
                    + (elsewhere / "node.log").read_text(errors="replace")[-5000:])

    yield serve
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _check_node(url: str) -> None:
    assert httpx.get(f"{url}/cluster", timeout=5).json()["result"]["status"] == "enabled"
    created = httpx.put(f"{url}/collections/packaged", timeout=30,
                        json={"vectors": {"size": 2, "distance": "Dot"}})
    assert created.status_code == 200, created.text


def _imported_from(python: str, env: dict[str, str], where: Path) -> None:
    """The installed copy, not the source tree, is what the interpreter imports."""
    done = _run([python, "-c", "import node.peer_service as p, tessera; "
                 "print(p.__file__); print(tessera.__file__)"], env=env, cwd=where)
    for line in done.stdout.split():
        assert Path(line).resolve().is_relative_to(where.resolve()), done.stdout


def test_fresh_venv(wheel, tmp_path, serve_from):
    venv = tmp_path / "venv"
    _run([BASE_PYTHON, "-m", "venv", "--without-pip", str(venv)])
    site = venv / "lib" / PY / "site-packages"
    (site / "tessera-test-deps.pth").write_text(DEPS + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
          "--quiet", "--no-deps", str(wheel)])
    env = _clean_env()
    _imported_from(str(venv / "bin" / "python"), env, venv)
    _check_node(serve_from(venv / "bin" / "tessera", env))


def test_prefix_install(wheel, tmp_path, serve_from):
    prefix = tmp_path / "prefix"
    _run([BASE_PYTHON, "-m", "pip", "install", "--quiet", "--no-deps", "--no-warn-script-location",
          "--prefix", str(prefix), str(wheel)], env=_clean_env())
    site = prefix / "lib" / PY / "site-packages"
    env = _clean_env(PYTHONPATH=os.pathsep.join([str(site), DEPS]))
    _imported_from(BASE_PYTHON, env, prefix)
    _check_node(serve_from(prefix / "bin" / "tessera", env))


def test_user_install(wheel, tmp_path, serve_from):
    base = tmp_path / "userbase"
    env = _clean_env(PYTHONUSERBASE=str(base))
    _run([BASE_PYTHON, "-m", "pip", "install", "--quiet", "--no-deps", "--user",
          "--no-warn-script-location", str(wheel)], env=env)
    site = base / "lib" / PY / "site-packages"
    (site / "tessera-test-deps.pth").write_text(DEPS + "\n")
    _imported_from(BASE_PYTHON, env, base)
    _check_node(serve_from(base / "bin" / "tessera", env))
