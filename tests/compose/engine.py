"""docker-compose.yml on a real Docker engine: the compose command, containers, health, network.

Everything goes through the docker and compose command lines, as a user types them, from the
repository root (so the project name is the checkout's directory, as for that user).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("tessera-0", "tessera-1", "tessera-2")
#: the host ports docker-compose.yml publishes: REST, and gRPC on the next one
REST_PORTS = {"tessera-0": 6333, "tessera-1": 6343, "tessera-2": 6353}


def rest_url(service: str) -> str:
    return f"http://127.0.0.1:{REST_PORTS[service]}"


def grpc_port(service: str) -> int:
    return REST_PORTS[service] + 1


def _ok(cmd: list[str], timeout: float = 20) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def engine_problem() -> str | None:
    """Why the compose tests cannot run here (None: they can)."""
    if shutil.which("docker") is None:
        return "no docker command"
    if not _ok(["docker", "info"]):
        return "no Docker engine answers (`docker info` failed)"
    if compose_command() is None:
        return "neither `docker compose` nor `docker-compose` is installed"
    return None


def compose_command() -> list[str] | None:
    """`docker compose` (v2) when the plugin is there, else `docker-compose` (1.29)."""
    if _ok(["docker", "compose", "version"]):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


class Compose:
    """The compose project of docker-compose.yml, driven by its command line."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self._ids: dict[str, str] = {}

    def __call__(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run([*self.command, *args], cwd=REPO, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(self.command + list(args))} failed:\n"
                               f"{done.stdout}\n{done.stderr}")
        if args and args[0] in ("up", "down"):
            self._ids.clear()  # containers are made anew
        return done.stdout

    def container(self, service: str) -> str:
        if service not in self._ids:
            cid = self("ps", "-q", service).strip()
            if not cid:
                raise RuntimeError(f"no container for {service}")
            self._ids[service] = cid
        return self._ids[service]

    def health(self, service: str) -> str:
        state = json.loads(docker("inspect", "-f", "{{json .State}}", self.container(service)))
        return state.get("Health", {}).get("Status") or state.get("Status", "?")

    def wait_healthy(self, services=SERVICES, timeout: float = 120) -> float:
        """Seconds until every service's healthcheck passes."""
        start = time.monotonic()
        while True:
            states = {s: self.health(s) for s in services}
            if all(v == "healthy" for v in states.values()):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise AssertionError(f"not healthy after {timeout} s: {states}\n{self.logs()}")
            time.sleep(0.5)

    def network(self) -> str:
        """The project's network (the one network the services are on)."""
        nets = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}",
                                 self.container(SERVICES[0])))
        (name,) = nets
        return name

    def exec_get(self, service: str, path: str) -> tuple[int, str]:
        """GET `path` from inside the container, on its own loopback (works while the container
        is cut off from the network): the status and the body."""
        return self.exec_request(service, "GET", path, None)

    def exec_request(self, service: str, method: str, path: str,
                     body: str | None) -> tuple[int, str]:
        """A request (with a JSON body, or none) from inside the container, on its own
        loopback: works while the container is cut off from the network."""
        data = "None" if body is None else f"{body!r}.encode()"
        script = ("import urllib.request, urllib.error, sys\n"
                  f"req = urllib.request.Request('http://127.0.0.1:6333{path}', method={method!r},"
                  f" data={data}, headers={{'Content-Type': 'application/json'}})\n"
                  "try:\n"
                  "    r = urllib.request.urlopen(req, timeout=60)\n"
                  "    print(r.status); print(r.read().decode())\n"
                  "except urllib.error.HTTPError as e:\n"
                  "    print(e.code); print(e.read().decode())\n")
        out = docker("exec", self.container(service), "python", "-c", script, timeout=90)
        status, _, text = out.partition("\n")
        return int(status), text

    def logs(self, tail: int = 40) -> str:
        try:
            return self("logs", "--no-color", "--tail", str(tail), timeout=60)
        except RuntimeError as exc:
            return str(exc)


def raft_peers(service: str) -> tuple[int, int | None]:
    """(number of peers, leader) as `service` sees its Raft cluster."""
    result = httpx.get(f"{rest_url(service)}/cluster", timeout=5).json()["result"]
    return len(result["peers"]), result["raft_info"].get("leader")
