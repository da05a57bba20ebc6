"""Validate responses against Qdrant's OpenAPI file (the contract says every response must).

A small validator for the OpenAPI 3.0 subset the Qdrant spec uses: ``$ref``, ``type``,
``nullable``, ``required``, ``properties``, ``additionalProperties``, ``items``, ``anyOf``,
``oneOf``, ``allOf``, ``enum``, ``minimum``/``maximum``. ``oneOf`` is checked like ``anyOf``
(Qdrant's untagged enums often match more than one branch).

The spec is ``$TESSERA_OPENAPI_SPEC`` when set, else the outline of Qdrant's file that ships with
the tests (``tests/data/qdrant-openapi-1.19.outline.json``: its structure without the prose, made
by ``tests/data/make_openapi_outline.py``), so a clone of this repository alone checks every
response. Only a ``$TESSERA_OPENAPI_SPEC`` that names no file makes :func:`spec` return None.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = REPO_ROOT / "tests" / "data" / "qdrant-openapi-1.19.outline.json"


@functools.lru_cache(maxsize=1)
def spec() -> dict | None:
    path = Path(os.environ.get("TESSERA_OPENAPI_SPEC", DEFAULT_SPEC))
    if not path.is_file():
        return None
    return json.loads(path.read_text())


@functools.lru_cache(maxsize=1)
def _routes() -> list[tuple[re.Pattern[str], int, str]]:
    s = spec()
    routes = []
    for template in (s or {}).get("paths", {}):
        literal = sum(1 for part in template.split("/") if part and not part.startswith("{"))
        pattern = re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$")
        routes.append((pattern, literal, template))
    return routes


def operation_for(method: str, path: str) -> tuple[str, dict] | None:
    """The (template, operation) of the spec that serves ``method path`` (most literal match)."""
    s = spec()
    if s is None:
        return None
    best = None
    for pattern, literal, template in _routes():
        op = s["paths"][template].get(method.lower())
        if op is not None and pattern.match(path) and (best is None or literal > best[0]):
            best = (literal, template, op)
    return None if best is None else (best[1], best[2])


def response_schema(op: dict, status: int) -> dict | None:
    responses = op.get("responses", {})
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            content = responses[key].get("content", {}).get("application/json")
            return None if content is None else content.get("schema")
    return None


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node: Any = spec()
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def _type_ok(value: Any, typ: str) -> bool:
    if typ == "object":
        return isinstance(value, dict)
    if typ == "array":
        return isinstance(value, list)
    if typ == "string":
        return isinstance(value, str)
    if typ == "boolean":
        return isinstance(value, bool)
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def errors(value: Any, schema: dict, where: str = "$") -> list[str]:
    """Every violation of ``schema`` by ``value`` (empty list: valid)."""
    schema = _resolve(schema)
    if value is None:
        if schema.get("nullable") or not schema:
            return []
        # `anyOf: [X, {"nullable": true}]` is Qdrant's way of writing Option<X>
        for key in ("anyOf", "oneOf"):
            if any(_resolve(s).get("nullable") for s in schema.get(key, [])):
                return []
        shape_keys = ("anyOf", "oneOf", "allOf", "enum", "properties")
        if "type" not in schema and not any(k in schema for k in shape_keys):
            return []
        return [f"{where}: null is not allowed"]

    out: list[str] = []
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [errors(value, s, where) for s in schema[key]]
            if not any(not b for b in branches):
                detail = "; ".join(e for b in branches for e in b[:2])
                out.append(f"{where}: matches no branch of {key} ({detail})")
    for sub in schema.get("allOf", []):
        out.extend(errors(value, sub, where))
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} not in {schema['enum']}")
    typ = schema.get("type")
    if typ is not None and not _type_ok(value, typ):
        return out + [f"{where}: expected {typ}, got {type(value).__name__} {str(value)[:80]}"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{where}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{where}: {value} > maximum {schema['maximum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{where}: required key {name!r} missing")
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            if name in props:
                out.extend(errors(item, props[name], f"{where}.{name}"))
            elif extra is False:
                out.append(f"{where}: unexpected key {name!r}")
            elif isinstance(extra, dict):
                out.extend(errors(item, extra, f"{where}.{name}"))
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out.extend(errors(item, schema["items"], f"{where}[{i}]"))
    return out


def check_response(resp: httpx.Response) -> None:
    """Assert that a JSON response matches the spec's schema for its operation and status."""
    if spec() is None:
        return
    found = operation_for(resp.request.method, resp.request.url.path)
    if found is None:
        return
    template, op = found
    schema = response_schema(op, resp.status_code)
    if schema is None:
        return
    problems = errors(resp.json(), schema)
    assert not problems, (
        f"{resp.request.method} {resp.request.url.path} ({template}) -> {resp.status_code} "
        f"does not match the OpenAPI schema:\n  "
        + "\n  ".join(problems[:20])
        + f"\nbody: {resp.text[:1500]}"
    )
