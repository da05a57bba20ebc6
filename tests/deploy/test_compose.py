"""docker-compose.yml, deploy/Dockerfile and deploy/config.yaml stay valid and consistent."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

from tessera import cli
from tessera.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"


def _load_validator():
    spec = importlib.util.spec_from_file_location(
        "tessera_validate_compose", REPO / "deploy" / "validate_compose.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


validator = _load_validator()


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the real files


def test_compose_file_passes_the_validator():
    assert validator.validate(COMPOSE) == []


def test_validator_cli_exit_codes(tmp_path, capsys):
    assert validator.main([str(COMPOSE)]) == 0
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("services: {a: {image: x, depends_on: [b]}}\n")
    assert validator.main([str(bad)]) == 1
    assert "unknown service 'b'" in capsys.readouterr().err


def test_three_nodes_of_the_image_make_image_builds(compose):
    services = compose["services"]
    assert sorted(services) == ["tessera-0", "tessera-1", "tessera-2"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    default_image = re.search(r"^IMAGE \?= (\S+)$", makefile, re.M).group(1)
    for service in services.values():
        assert service["image"] == f"${{TESSERA_IMAGE:-{default_image}}}"
        assert service["build"]["context"] == "."
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["build"]["args"]["BASE_IMAGE"] == "${BASE_IMAGE:-python:3.11-slim}"
        assert "readyz" in " ".join(service["healthcheck"]["test"])


def test_cluster_flags_and_dependencies(compose):
    services = compose["services"]
    assert services["tessera-0"]["command"] == ["--uri", "http://tessera-0:6335"]
    assert "depends_on" not in services["tessera-0"]
    for n in (1, 2):
        service = services[f"tessera-{n}"]
        args = service["command"]
        assert args[args.index("--bootstrap") + 1] == "http://tessera-0:6335"
        assert args[args.index("--uri") + 1] == f"http://tessera-{n}:6335"
        # not service_healthy: after `down` and `up`, node 0 alone has no quorum, never ready
        assert service["depends_on"]["tessera-0"]["condition"] == "service_started"


def test_each_node_has_its_own_named_storage_and_snapshot_volumes(compose):
    sources = []
    for service in compose["services"].values():
        mounts = dict(reversed(v.split(":")) for v in service["volumes"])
        assert sorted(mounts) == ["/qdrant/snapshots", "/qdrant/storage"]
        assert all(source in compose["volumes"] for source in mounts.values())
        assert service["environment"]["QDRANT__STORAGE__STORAGE_PATH"] == "/qdrant/storage"
        assert service["environment"]["QDRANT__STORAGE__SNAPSHOTS_PATH"] == "/qdrant/snapshots"
        sources.extend(mounts.values())
    assert len(set(sources)) == 6


def test_each_node_settings_as_the_container_sees_them(compose):
    """The compose command and environment, read by our own CLI, give the intended settings."""
    for n in range(3):
        service = compose["services"][f"tessera-{n}"]
        env = {k: str(v) for k, v in service["environment"].items()}
        s = cli.build_settings(service["command"], environ=env)
        assert s.cluster_enabled is True
        assert s.service_host == "0.0.0.0"
        assert s.storage_path == "/qdrant/storage"
        assert s.uri == f"http://tessera-{n}:6335"
        assert s.bootstrap == (None if n == 0 else "http://tessera-0:6335")
        assert s.http_port == 6333 and s.grpc_port == 6334 and s.p2p_port == 6335


def test_node_0_publishes_the_standard_ports(compose):
    assert compose["services"]["tessera-0"]["ports"] == ["6333:6333", "6334:6334"]


def test_dockerfile():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.M)
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    assert re.search(r"^EXPOSE 6333 6334 6335$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["tessera", "serve"\]$', text, re.M)
    assert re.search(r"^USER tessera$", text, re.M)
    assert "HEALTHCHECK" in text and "/readyz" in text
    assert "curl" not in text.split("HEALTHCHECK", 1)[1]
    # offline: pip installs only from the host-made wheels, the only thing sent to the build
    installs = re.findall(r"pip install ([^\n]*)", text)
    assert installs and all("--no-index" in line for line in installs)
    assert re.findall(r"^COPY (\S+)", text, re.M) == ["wheels", "--from=install"]
    dockerignore = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert [line for line in dockerignore if not line.startswith("#")][-2:] == ["*", "!wheels/"]


def test_example_config_is_the_defaults():
    path = REPO / "deploy" / "config.yaml"
    s = load_settings(str(path), environ={})
    assert s == Settings(config_path=str(path))


# --------------------------------------------------------------------------- the validator


def _check(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "deploy").mkdir(exist_ok=True)
    (tmp_path / "deploy" / "Dockerfile").write_text("FROM scratch\n")
    path = tmp_path / "docker-compose.yml"
    path.write_text(text, encoding="utf-8")
    return validator.validate(path)


GOOD = """
services:
  a:
    build: {context: ., dockerfile: deploy/Dockerfile}
    ports: ["6333:6333", "127.0.0.1:7000:7000/udp", "8000-8001:9000-9001", 9100]
    volumes: ["data:/data", "./local:/local:ro"]
    healthcheck: {test: ["CMD", "true"], interval: 1m30s, retries: 3}
    environment: [A=1, B]
  b:
    image: busybox
    depends_on: {a: {condition: service_healthy}}
volumes:
  data:
"""


def test_validator_accepts_a_good_file(tmp_path):
    assert _check(tmp_path, GOOD) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("services: {a: {image: x, depends_on: [zz]}}", "unknown service 'zz'"),
        ("services: {a: {image: x, volumes: ['nope:/d']}}", "not declared"),
        ("services: {a: {image: x, volumes: ['v:relative']}}", "absolute"),
        ("services: {a: {image: x, ports: ['66000:1']}}", "out of range"),
        ("services: {a: {image: x, ports: ['abc']}}", "invalid port mapping"),
        ("services: {a: {image: x, ports: ['1:1']}, b: {image: x, ports: ['1:2']}}",
         "already published"),
        ("services: {a: {build: {context: ., dockerfile: Missing}}}", "not found"),
        ("services: {a: {build: ./nowhere}}", "does not exist"),
        ("services: {a: {command: x}}", "needs `build` or `image`"),
        ("services: {a: {image: x, depend_on: [a]}}", "unknown service key"),
        ("services: {a: {image: x, healthcheck: {test: [CMD]}}}", "needs a command"),
        ("services: {a: {image: x, healthcheck: {test: [ls]}}}", "must start with"),
        ("services: {a: {image: x, healthcheck: {test: [CMD, x], interval: 5}}}",
         "invalid duration"),
        ("services: {a: {image: x, healthcheck: {test: [CMD, x], retries: 0}}}",
         "positive integer"),
        ("services: {a: {image: x, healthcheck: {test: [CMD, x], tmeout: 1s}}}",
         "unknown healthcheck key"),
        ("services: {a: {image: x}, b: {image: x, depends_on: {a: {condition: service_healthy}}}}",
         "no healthcheck"),
        ("services: {a: {image: x, depends_on: {a: {}}}}", "itself"),
        ("services: {a: {image: x, depends_on: [b]}, b: {image: x, depends_on: [a]}}", "cycle"),
        ("services: {a: {image: x, depends_on: {b: {condition: ready}}}, b: {image: x}}",
         "invalid condition"),
        ("services: {a: {image: x, restart: sometimes}}", "invalid policy"),
        ("services: {a: {image: x, networks: [back]}}", "not declared"),
        ("services: {}", "non-empty"),
        ("servics: {a: {image: x}}", "unknown top-level key"),
        ("services: {a: {image: x}\n", "invalid YAML"),
    ],
)
def test_validator_rejects(tmp_path, text, expected):
    problems = _check(tmp_path, text)
    assert any(expected in p for p in problems), problems
