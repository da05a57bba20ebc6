"""Write ``qdrant-openapi-1.19.outline.json``: the structure of Qdrant's OpenAPI file (paths,
operations, parameters, request and response schemas, enums, bounds, example values) without
its prose (descriptions, summaries, tags), so that a clone of this repository alone can run the
schema checks (tests/support/openapi.py, the fuzz stage).

    python tests/data/make_openapi_outline.py ../shared/spec/qdrant-openapi-1.19.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUTLINE = Path(__file__).with_name("qdrant-openapi-1.19.outline.json")
#: keys whose text is prose, wherever a schema or an operation has them
PROSE = {"description", "summary"}
#: keys of pointers and grouping only
DROPPED = {"externalDocs", "tags", "contact"}


def outline(node: Any, in_names: bool = False) -> Any:
    """``node`` without prose; ``in_names``: its keys are names (of properties, paths,
    schemas), never keywords, so none is dropped."""
    if isinstance(node, list):
        return [outline(item) for item in node]
    if not isinstance(node, dict):
        return node
    kept = {}
    for key, value in node.items():
        if not in_names and (key in DROPPED or key in PROSE and isinstance(value, str)):
            continue
        kept[key] = outline(value, in_names=key in ("properties", "paths", "schemas",
                                                     "responses", "content"))
    return kept


def outline_of(spec: dict) -> dict:
    """The whole file's outline: its ``info`` cut to the title and the version."""
    info = {"title": spec["info"]["title"], "version": spec["info"]["version"]}
    return outline({**spec, "info": info})


def main(source: str) -> None:
    spec = outline_of(json.loads(Path(source).read_text()))
    OUTLINE.write_text(json.dumps(spec, indent=None, separators=(",", ":")) + "\n")
    print(f"{OUTLINE}: {OUTLINE.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
