"""Schema fuzzing: a seeded, bounded schemathesis run over Qdrant's OpenAPI file against a real
node, with the node's resident memory watched throughout.

The CI stage (tests/e2e/test_fuzz.py) and ``make fuzz`` (longer, for local runs) both go
through :func:`run`. Every request schemathesis sends is checked for a 5xx
(``not_a_server_error``) and for an answer that does not match the operation's response schema
(``response_schema_conformance``); in negative mode, requests that break their schema are
checked for a 4xx instead (``negative_data_rejection``). The counts come from schemathesis' own
event log, so they are what was sent and seen, not what the tool summarised.

    python -m tests.support.fuzz [--examples 50] [--coverage] [--mode negative]
                                                         (starts a node of its own)
    python -m tests.support.fuzz --url http://127.0.0.1:6333 --pid PID   (a running node)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CHECKS = "not_a_server_error,response_schema_conformance"
#: negative mode: requests that break their schema (wrong types, values out of range, missing
#: required fields) must be refused with a 4xx, and still never with a 5xx
NEGATIVE_CHECKS = "not_a_server_error,negative_data_rejection"
#: The collection every path parameter `collection_name` names (made by :func:`prepare`), so
#: requests reach the code behind a collection instead of its 404.
COLLECTION = "fuzz"


@dataclass
class Report:
    operations: int = 0
    requests: int = 0
    server_errors: int = 0
    schema_violations: int = 0
    #: requests outside their schema that were answered 2xx (negative mode)
    accepted_invalid: int = 0
    mode: str = "positive"
    peak_rss_mb: float = 0.0
    seconds: float = 0.0
    #: "METHOD path -> status: check" for each failed check (the first few)
    failures: list[str] = field(default_factory=list)
    #: schemathesis' own errors (its generator failing on a schema), not the node's
    tool_errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        checked = (f"invalid accepted {self.accepted_invalid}" if self.mode == "negative"
                   else f"schema violations {self.schema_violations}")
        return (
            f"fuzz ({self.mode}): {self.operations} operations, {self.requests} requests, "
            f"5xx {self.server_errors}, {checked}, "
            f"peak RSS {self.peak_rss_mb:.0f} MB, {self.seconds:.0f} s"
        )


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssWatch:
    """The highest resident memory of a process, sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-watch", daemon=True)

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_mb(self.pid))


def prepare(http) -> None:
    """The collection the fuzzer works on: dense and sparse vectors, payload indexes, points."""
    http.delete(f"/collections/{COLLECTION}")
    body = {"vectors": {"size": 4, "distance": "Cosine"}, "sparse_vectors": {"text": {}}}
    http.put(f"/collections/{COLLECTION}", json=body).raise_for_status()
    for field_name, schema in (("city", "keyword"), ("count", "integer")):
        http.put(
            f"/collections/{COLLECTION}/index",
            params={"wait": "true"},
            json={"field_name": field_name, "field_schema": schema},
        ).raise_for_status()
    points = [
        {
            "id": i,
            "vector": {"": [1.0, i % 3, 0.5, -1.0], "text": {"indices": [i], "values": [1.0]}},
            "payload": {"city": ["Paris", "Berlin"][i % 2], "count": i},
        }
        for i in range(1, 21)
    ]
    http.put(
        f"/collections/{COLLECTION}/points", params={"wait": "true"}, json={"points": points}
    ).raise_for_status()


def _config(workdir: Path) -> Path:
    path = workdir / "schemathesis.toml"
    path.write_text(f'[parameters]\n"path.collection_name" = "{COLLECTION}"\n')
    return path


def _schemathesis(
    spec: Path, url: str, workdir: Path, events: Path, seed: int, examples: int, workers: int,
    selection: list[str], timeout: float, phases: str, mode: str = "positive",
) -> tuple[int, str]:
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(_config(workdir)),
        "run", str(spec), "--url", url, "--mode", mode, "--seed", str(seed),
        "--checks", NEGATIVE_CHECKS if mode == "negative" else CHECKS,
        "--max-examples", str(examples), "--workers", str(workers), "--no-color",
        "--phases", phases,
        "--report", "ndjson", "--report-ndjson-path", str(events), *selection,
    ]
    done = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
    )
    return done.returncode, done.stdout + done.stderr


def _count(events: Path, report: Report, labels: set[str]) -> None:
    for line in events.read_text().splitlines():
        event = json.loads(line)
        (kind, body), = event.items()
        if kind == "NonFatalError":
            report.tool_errors.append(f"{body.get('label')}: {body.get('info', {}).get('title')}")
        if kind != "ScenarioFinished":
            continue
        recorder = body["recorder"]
        labels.add(recorder["label"])
        for case_id, interaction in recorder.get("interactions", {}).items():
            report.requests += 1
            status = (interaction.get("response") or {}).get("status_code", 0)
            if status >= 500:
                report.server_errors += 1
            for check in recorder.get("checks", {}).get(case_id, []):
                if check["status"] != "failure":
                    continue
                if check["name"] == "response_schema_conformance":
                    report.schema_violations += 1
                if check["name"] == "negative_data_rejection":
                    report.accepted_invalid += 1
                if len(report.failures) < 20:
                    request = interaction["request"]
                    report.failures.append(
                        f"{request['method']} {request['uri']} -> {status}: {check['name']}"
                    )


def run(
    spec: Path, url: str, pid: int, *, seed: int = 1, examples: int = 10, workers: int = 2,
    timeout: float = 900.0, phases: str = "examples,fuzzing", mode: str = "positive",
) -> Report:
    """Fuzz every operation of ``spec`` against the node at ``url`` (process ``pid``), with
    requests that follow the schema (``mode="positive"``) or break it (``"negative"``).

    Two passes: every operation but the DELETEs on the prepared collection, then the DELETEs
    (which end with the collection itself)."""
    report = Report(mode=mode)
    labels: set[str] = set()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tessera-fuzz-") as tmp, RssWatch(pid) as watch:
        workdir = Path(tmp)
        passes = (["--exclude-method", "DELETE"], ["--include-method", "DELETE"])
        for number, selection in enumerate(passes):
            events = workdir / f"events-{number}.ndjson"
            remaining = timeout - (time.monotonic() - started)
            _, output = _schemathesis(
                spec, url, workdir, events, seed, examples, workers, selection, remaining, phases,
                mode,
            )
            if not events.exists():
                raise RuntimeError(f"schemathesis wrote no events:\n{output[-3000:]}")
            _count(events, report, labels)
        report.peak_rss_mb = watch.peak
    report.operations = len(labels)
    report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    from tests.support.openapi import DEFAULT_SPEC

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running node (default: start one in a temporary directory)")
    p.add_argument("--pid", type=int, help="the running node's process id (its memory)")
    p.add_argument("--spec", type=Path, default=Path(os.environ.get("TESSERA_OPENAPI_SPEC",
                                                                    DEFAULT_SPEC)))
    p.add_argument("--examples", type=int, default=50, help="examples per operation and phase")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--coverage", action="store_true", help="add schemathesis' coverage phase")
    p.add_argument("--mode", choices=("positive", "negative"), default="positive",
                   help="requests that follow their schema, or that break it")
    args = p.parse_args(argv)
    if not args.spec.is_file():
        p.error(f"no OpenAPI file at {args.spec} (set --spec or TESSERA_OPENAPI_SPEC)")
    if (args.url is None) != (args.pid is None):
        p.error("--url and --pid go together")
    phases = "examples,coverage,fuzzing" if args.coverage else "examples,fuzzing"
    with tempfile.TemporaryDirectory(prefix="tessera-fuzz-node-") as tmp:
        node = None
        url, pid = args.url, args.pid
        if url is None:
            from tests.support.node import Node

            node = Node(Path(tmp)).start().wait_ready()
            url, pid = node.url, node.proc.pid
        try:
            import httpx

            with httpx.Client(base_url=url, timeout=60.0) as http:
                prepare(http)
            report = run(args.spec, url, pid, seed=args.seed, examples=args.examples,
                         workers=args.workers, timeout=24 * 3600, phases=phases, mode=args.mode)
        finally:
            if node is not None:
                node.stop()
    print(report.line())
    for failure in report.failures:
        print("  failed:", failure)
    for error in report.tool_errors:
        print("  schemathesis error:", error)
    failed = report.server_errors or report.schema_violations or report.accepted_invalid
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
