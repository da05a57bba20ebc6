"""The outline of Qdrant's OpenAPI file that the schema checks use (tests/data): every operation
of Qdrant 1.19 is in it, none of the file's prose is, and it is what the generator makes of the
original wherever the original is at hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.data import make_openapi_outline as generator
from tests.support.openapi import DEFAULT_SPEC, REPO_ROOT

ORIGINAL = Path(os.environ.get("TESSERA_QDRANT_OPENAPI",
                               REPO_ROOT.parent / "shared" / "spec" / "qdrant-openapi-1.19.json"))


def _strings(node, key=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)
    elif isinstance(node, str):
        yield key, node


def test_the_outline_holds_every_operation_and_no_prose():
    outline = json.loads(DEFAULT_SPEC.read_text())
    operations = [(m, p) for p, ops in outline["paths"].items() for m in ops]
    assert len(operations) == 69
    assert ("post", "/collections/{collection_name}/points/query") in operations
    assert len(outline["components"]["schemas"]) == 400
    assert not [v for k, v in _strings(outline) if k in generator.PROSE]


@pytest.mark.skipif(not ORIGINAL.is_file(), reason="Qdrant's original file is not at hand")
def test_the_outline_is_the_generators_output_of_the_original():
    original = json.loads(ORIGINAL.read_text())
    assert generator.outline_of(original) == json.loads(DEFAULT_SPEC.read_text())
