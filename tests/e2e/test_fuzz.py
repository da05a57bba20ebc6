"""The CI fuzz stage: schemathesis over every operation of Qdrant's OpenAPI file (the outline
shipped in tests/data) against a real node of its own, seeded and bounded (20 examples per
operation, about a minute and a half), with the node's memory watched.

Zero 5xx, zero answers that break their operation's response schema, resident memory under
1 GB throughout, and the node still serving at the end. A second run (negative mode, about as
long) sends requests that break their schema, and each must be refused with a 4xx.
``make fuzz`` runs the same for longer (``ARGS="--mode negative"`` for the second). The numbers
are printed in the run's ``figures`` section (``fuzz (…): … operations, … requests, …``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support import fuzz
from tests.support.openapi import DEFAULT_SPEC

pytest.importorskip("schemathesis")

SPEC = Path(os.environ.get("TESSERA_OPENAPI_SPEC", DEFAULT_SPEC))
EXAMPLES = int(os.environ.get("TESSERA_FUZZ_EXAMPLES", "20"))  # make fuzz: more
RSS_LIMIT_MB = 1024
SPEC_OPERATIONS = [
    (method, path) for path, ops in (json.loads(SPEC.read_text())["paths"].items()
                                     if SPEC.is_file() else ())
    for method in ops if method in ("get", "put", "post", "patch", "delete")
]


@pytest.mark.skipif(not SPEC.is_file(), reason=f"Qdrant's OpenAPI file is not at {SPEC}")
def test_schema_fuzzing_finds_no_server_error_and_no_schema_violation(fresh_node, record_property):
    node = fresh_node()
    fuzz.prepare(node.http)
    operations = len(SPEC_OPERATIONS)

    report = fuzz.run(SPEC, node.url, node.proc.pid, seed=1, examples=EXAMPLES, timeout=600)

    record_property("figures", report.line())  # printed at the end of the run
    assert report.operations == operations
    assert report.requests >= operations * EXAMPLES  # the run really happened
    assert report.server_errors == 0, report.failures
    assert report.schema_violations == 0, report.failures
    assert report.peak_rss_mb < RSS_LIMIT_MB
    assert node.running and node.http.get("/healthz").status_code == 200


NEGATIVE_EXAMPLES = int(os.environ.get("TESSERA_FUZZ_NEGATIVE_EXAMPLES", "20"))


@pytest.mark.skipif(not SPEC.is_file(), reason=f"Qdrant's OpenAPI file is not at {SPEC}")
def test_requests_that_break_their_schema_are_refused(fresh_node, record_property):
    """Negative mode: wrong types, values out of range, unknown enum values and missing required
    fields, in bodies, paths and query strings; each must get a 4xx (never a 2xx or a 5xx)."""
    node = fresh_node()
    fuzz.prepare(node.http)

    report = fuzz.run(SPEC, node.url, node.proc.pid, seed=1, examples=NEGATIVE_EXAMPLES,
                      timeout=600, phases="fuzzing", mode="negative")

    record_property("figures", report.line())
    assert report.requests >= 10 * len(SPEC_OPERATIONS)
    assert report.server_errors == 0, report.failures
    assert report.accepted_invalid == 0, report.failures
    assert report.peak_rss_mb < RSS_LIMIT_MB
    assert node.running and node.http.get("/healthz").status_code == 200
