"""Structural check of a compose file, for machines without the `docker compose` plugin.

    python deploy/validate_compose.py [docker-compose.yml]

Exits 0 and prints "<file>: ok" when the file passes, else prints one problem a line and exits 1.
It checks what a typo or a half-done edit usually breaks: known keys, build context and
Dockerfile present, port and volume syntax, named volumes declared, healthcheck fields,
depends_on targets (present, healthchecked when waited on, no cycles). It does not interpolate
${VARIABLES} and is no substitute for `docker compose config` where that is available.
Needs PyYAML.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

TOP_LEVEL_KEYS = {
    "version", "name", "services", "volumes", "networks", "configs", "secrets", "include",
    "models",
}
SERVICE_KEYS = {
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup",
    "cgroup_parent", "command", "configs", "container_name", "cpu_count", "cpu_percent",
    "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus",
    "cpuset", "credential_spec", "depends_on", "deploy", "develop", "device_cgroup_rules",
    "devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint", "env_file",
    "environment", "expose", "extends", "external_links", "extra_hosts", "gpus", "group_add",
    "healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels", "label_file",
    "links", "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness",
    "memswap_limit", "models", "network_mode", "networks", "oom_kill_disable",
    "oom_score_adj", "pid", "pids_limit", "platform", "ports", "post_start", "pre_stop",
    "privileged", "profiles", "provider", "pull_policy", "read_only", "restart", "runtime",
    "scale", "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period",
    "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket",
    "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "start_period", "start_interval", "retries",
                    "disable"}
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SERVICE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")
RESTART = re.compile(r"^(no|always|unless-stopped|on-failure(:\d+)?)$")
# [IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/PROTO]; IPv6 addresses come in brackets.
PORT = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:.]+\]|\d{1,3}(?:\.\d{1,3}){3}):)?"
    r"(?:(?P<host>\d+(?:-\d+)?)?:)?"
    r"(?P<container>\d+(?:-\d+)?)(?:/(?P<proto>tcp|udp|sctp))?$"
)


def _is_extension(key: object) -> bool:
    return isinstance(key, str) and key.startswith("x-")


def _port_numbers(spec: str) -> list[int]:
    if "-" in spec:
        low, high = (int(p) for p in spec.split("-", 1))
        return list(range(low, high + 1)) if low <= high else []
    return [int(spec)]


class _Checker:
    def __init__(self, path: Path, data: Any) -> None:
        self.path = path
        self.base = path.parent
        self.data = data
        self.problems: list[str] = []
        self.published: dict[tuple[str, int, str], str] = {}

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def run(self) -> list[str]:
        if not isinstance(self.data, Mapping):
            self.fail("(top level)", "expected a mapping")
            return self.problems
        for key in self.data:
            if key not in TOP_LEVEL_KEYS and not _is_extension(key):
                self.fail(str(key), "unknown top-level key")
        self.volumes = self._named("volumes")
        self.networks = self._named("networks")
        services = self.data.get("services")
        if not isinstance(services, Mapping) or not services:
            self.fail("services", "expected a non-empty mapping of services")
            return self.problems
        self.services = services
        for name, service in services.items():
            self._service(str(name), service)
        self._cycles()
        return self.problems

    def _named(self, section: str) -> set[str]:
        value = self.data.get(section)
        if value is None:
            return set()
        if not isinstance(value, Mapping):
            self.fail(section, "expected a mapping of names")
            return set()
        for name, body in value.items():
            if body is not None and not isinstance(body, Mapping):
                self.fail(f"{section}.{name}", "expected a mapping or nothing")
        return {str(name) for name in value}

    # ----------------------------------------------------------------- one service

    def _service(self, name: str, service: Any) -> None:
        where = f"services.{name}"
        if not SERVICE_NAME.match(name):
            self.fail(where, "invalid service name")
        if not isinstance(service, Mapping):
            self.fail(where, "expected a mapping")
            return
        for key in service:
            if key not in SERVICE_KEYS and not _is_extension(key):
                self.fail(f"{where}.{key}", "unknown service key")
        if "build" not in service and "image" not in service:
            self.fail(where, "needs `build` or `image`")
        if "build" in service:
            self._build(f"{where}.build", service["build"])
        if "image" in service and not isinstance(service["image"], str):
            self.fail(f"{where}.image", "expected a string")
        for key in ("command", "entrypoint"):
            if key in service:
                self._command(f"{where}.{key}", service[key])
        if "environment" in service:
            self._environment(f"{where}.environment", service["environment"])
        if "ports" in service:
            self._ports(name, service["ports"])
        if "volumes" in service:
            self._volumes(f"{where}.volumes", service["volumes"])
        if "networks" in service:
            self._service_networks(f"{where}.networks", service["networks"])
        if "healthcheck" in service:
            self._healthcheck(f"{where}.healthcheck", service["healthcheck"])
        if "depends_on" in service:
            self._depends_on(name, service["depends_on"])
        if "restart" in service and not (
            isinstance(service["restart"], str) and RESTART.match(service["restart"])
        ):
            self.fail(f"{where}.restart", f"invalid policy {service['restart']!r}")

    def _build(self, where: str, build: Any) -> None:
        if isinstance(build, str):
            build = {"context": build}
        if not isinstance(build, Mapping):
            self.fail(where, "expected a string or a mapping")
            return
        context = build.get("context", ".")
        if not isinstance(context, str):
            self.fail(f"{where}.context", "expected a string")
            return
        if "://" in context or context.startswith("git@"):
            return  # a remote context: nothing to look at here
        context_dir = (self.base / context).resolve()
        if not context_dir.is_dir():
            self.fail(f"{where}.context", f"directory {context!r} does not exist")
            return
        dockerfile = build.get("dockerfile", "Dockerfile")
        if not isinstance(dockerfile, str):
            self.fail(f"{where}.dockerfile", "expected a string")
        elif not (context_dir / dockerfile).is_file():
            self.fail(f"{where}.dockerfile", f"{dockerfile!r} not found in context {context!r}")

    def _command(self, where: str, command: Any) -> None:
        if isinstance(command, str) or command is None:
            return
        if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
            self.fail(where, "expected a string or a list of strings")

    def _environment(self, where: str, env: Any) -> None:
        if isinstance(env, Mapping):
            for key, value in env.items():
                if not isinstance(key, str) or not key:
                    self.fail(where, f"invalid variable name {key!r}")
                elif value is not None and not isinstance(value, (str, int, float, bool)):
                    self.fail(f"{where}.{key}", "expected a scalar value")
        elif isinstance(env, list):
            for item in env:
                if not isinstance(item, str) or not item or item.startswith("="):
                    self.fail(where, f"invalid entry {item!r} (expected KEY=VALUE)")
        else:
            self.fail(where, "expected a mapping or a list of KEY=VALUE")

    def _ports(self, service: str, ports: Any) -> None:
        where = f"services.{service}.ports"
        if not isinstance(ports, list):
            self.fail(where, "expected a list")
            return
        for item in ports:
            if isinstance(item, bool):
                self.fail(where, f"invalid port {item!r}")
                continue
            if isinstance(item, int):
                item = str(item)
            if isinstance(item, Mapping):
                target, published = item.get("target"), item.get("published")
                if not isinstance(target, int) or not 1 <= target <= 65535:
                    self.fail(where, f"long syntax needs an integer `target`, got {target!r}")
                    continue
                host_ip = str(item.get("host_ip", "0.0.0.0"))
                protocol = str(item.get("protocol", "tcp"))
                if published is not None:
                    self._publish(service, where, host_ip, str(published), protocol)
                continue
            if not isinstance(item, str):
                self.fail(where, f"invalid port {item!r}")
                continue
            match = PORT.match(item)
            if not match:
                self.fail(where, f"invalid port mapping {item!r}")
                continue
            container = _port_numbers(match["container"])
            if not container or not all(1 <= p <= 65535 for p in container):
                self.fail(where, f"container port out of range in {item!r}")
                continue
            if match["host"]:
                self._publish(service, where, match["ip"] or "0.0.0.0", match["host"],
                              match["proto"] or "tcp")

    def _publish(self, service: str, where: str, ip: str, spec: str, protocol: str) -> None:
        try:
            numbers = _port_numbers(spec)
        except ValueError:
            self.fail(where, f"invalid published port {spec!r}")
            return
        if not numbers or not all(1 <= p <= 65535 for p in numbers):
            self.fail(where, f"published port out of range: {spec!r}")
            return
        for number in numbers:
            key = (ip, number, protocol)
            other = self.published.get(key)
            if other is not None:
                self.fail(where, f"host port {number}/{protocol} already published by {other}")
            self.published[key] = service

    def _volumes(self, where: str, volumes: Any) -> None:
        if not isinstance(volumes, list):
            self.fail(where, "expected a list")
            return
        for item in volumes:
            if isinstance(item, Mapping):
                kind = item.get("type", "volume")
                source, target = item.get("source"), item.get("target")
                if not isinstance(target, str) or not target.startswith("/"):
                    self.fail(where, f"volume needs an absolute `target`, got {target!r}")
                if kind == "volume" and source is not None and source not in self.volumes:
                    self.fail(where, f"named volume {source!r} is not declared under `volumes`")
                continue
            if not isinstance(item, str) or not item:
                self.fail(where, f"invalid volume {item!r}")
                continue
            parts = item.split(":")
            if len(parts) == 1:
                source, target = None, parts[0]
            elif len(parts) in (2, 3):
                source, target = parts[0], parts[1]
            else:
                self.fail(where, f"invalid volume {item!r} (expected SOURCE:TARGET[:MODE])")
                continue
            if not target.startswith("/"):
                self.fail(where, f"volume target must be an absolute path in {item!r}")
            if source and not source.startswith(("/", ".", "~", "$")):
                if source not in self.volumes:
                    self.fail(where, f"named volume {source!r} is not declared under `volumes`")

    def _service_networks(self, where: str, networks: Any) -> None:
        names = networks if isinstance(networks, list) else (
            list(networks) if isinstance(networks, Mapping) else None
        )
        if names is None:
            self.fail(where, "expected a list or a mapping")
            return
        for name in names:
            if name != "default" and name not in self.networks:
                self.fail(where, f"network {name!r} is not declared under `networks`")

    def _healthcheck(self, where: str, check: Any) -> None:
        if not isinstance(check, Mapping):
            self.fail(where, "expected a mapping")
            return
        for key in check:
            if key not in HEALTHCHECK_KEYS:
                self.fail(f"{where}.{key}", "unknown healthcheck key")
        if check.get("disable") is True:
            return
        test = check.get("test")
        if isinstance(test, str):
            if not test.strip():
                self.fail(f"{where}.test", "empty command")
        elif isinstance(test, list) and test and all(isinstance(t, str) for t in test):
            head = test[0]
            if head not in ("CMD", "CMD-SHELL", "NONE"):
                self.fail(f"{where}.test", "a list must start with CMD, CMD-SHELL or NONE")
            elif head != "NONE" and len(test) < 2:
                self.fail(f"{where}.test", f"{head} needs a command after it")
        else:
            self.fail(f"{where}.test", "expected a string or a list of strings")
        for key in ("interval", "timeout", "start_period", "start_interval"):
            value = check.get(key)
            if value is not None and not (isinstance(value, str) and DURATION.match(value)):
                self.fail(f"{where}.{key}", f"invalid duration {value!r} (e.g. 5s, 1m30s)")
        retries = check.get("retries")
        if retries is not None and (
            isinstance(retries, bool) or not isinstance(retries, int) or retries < 1
        ):
            self.fail(f"{where}.retries", f"expected a positive integer, got {retries!r}")

    def _has_healthcheck(self, service: str) -> bool:
        body = self.services.get(service)
        check = body.get("healthcheck") if isinstance(body, Mapping) else None
        if not isinstance(check, Mapping) or check.get("disable") is True:
            return False
        test = check.get("test")
        return not (isinstance(test, list) and test[:1] == ["NONE"])

    def _depends_on(self, service: str, depends: Any) -> None:
        where = f"services.{service}.depends_on"
        if isinstance(depends, list):
            entries = {str(d): {"condition": "service_started"} for d in depends}
        elif isinstance(depends, Mapping):
            entries = {str(k): v if v is not None else {} for k, v in depends.items()}
        else:
            self.fail(where, "expected a list or a mapping")
            return
        for target, spec in entries.items():
            if target == service:
                self.fail(where, "a service cannot depend on itself")
                continue
            if target not in self.services:
                self.fail(where, f"unknown service {target!r}")
                continue
            if not isinstance(spec, Mapping):
                self.fail(f"{where}.{target}", "expected a mapping")
                continue
            condition = spec.get("condition", "service_started")
            if condition not in DEPENDS_CONDITIONS:
                self.fail(f"{where}.{target}.condition", f"invalid condition {condition!r}")
            elif condition == "service_healthy" and not self._has_healthcheck(target):
                self.fail(f"{where}.{target}", "waits for service_healthy but it has no "
                          "healthcheck")

    def _cycles(self) -> None:
        graph: dict[str, list[str]] = {}
        for name, service in self.services.items():
            depends = service.get("depends_on") if isinstance(service, Mapping) else None
            if isinstance(depends, (list, Mapping)):
                graph[str(name)] = [str(d) for d in depends if str(d) in self.services]
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(node: str, trail: list[str]) -> None:
            if state.get(node) == 2:
                return
            if state.get(node) == 1:
                cycle = trail[trail.index(node):] + [node]
                self.fail("depends_on", "cycle " + " -> ".join(cycle))
                return
            state[node] = 1
            for nxt in graph.get(node, []):
                visit(nxt, trail + [node])
            state[node] = 2

        for node in graph:
            visit(node, [])


def validate(path: str | Path) -> list[str]:
    """The problems found in the compose file at `path` (empty when it passes)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return [f"cannot be read: {exc}"]
    except yaml.YAMLError as exc:
        return [f"invalid YAML: {exc}"]
    return _Checker(path, data).run()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "docker-compose.yml"
    problems = validate(path)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{path}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
