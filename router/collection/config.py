"""Parsing and validating collection configs (create and PATCH) into Qdrant's stored shape.

What a client sets is echoed back exactly; what it never set is omitted inside a vector's params,
while the collection-level sections (hnsw, optimizers, wal) are shown complete with defaults, as
Qdrant shows them. Type errors are 400 (format), range errors 422 (validation), with Qdrant's
message shapes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from node.errors import FormatError, ValidationFailed, WrongInput
from node.shard_config import DEFAULT_HNSW, DEFAULT_OPTIMIZERS
from router.collection.limits import DEFAULT, MAX_DIMENSION, Limits, unsigned

DISTANCES = ("Cosine", "Euclid", "Dot", "Manhattan")
#: turbo8 and turbo16 are not in the 1.19 OpenAPI file, but qdrant-client's models and gRPC
#: messages name them: accepted too
DATATYPES = ("float32", "uint8", "float16", "turbo4", "turbo8", "turbo16")
#: Memory placement (cold / cached / pinned): accepted and echoed; every store here is in RAM
MEMORY = ("cold", "cached", "pinned")
#: TurboQuantization's bit sizes
TURBO_BITS = ("bits1", "bits1_5", "bits2", "bits4", "bits8")
DEFAULT_WAL = {"wal_capacity_mb": 32, "wal_segments_ahead": 0, "wal_retain_closed": 1}

# field -> (type, minimum, maximum); an integer's maximum is a number, or the name of a field of
# ``Limits`` (Tessera's bound); its width is u64 unless _U32 names it
_HNSW_FIELDS = {
    "m": (int, 0, "max_hnsw_m"),
    "ef_construct": (int, 4, "max_ef_construct"),
    "full_scan_threshold": (int, 10, None),
    "max_indexing_threads": (int, 0, None),
    "on_disk": (bool, None, None),
    "payload_m": (int, 0, "max_hnsw_m"),
    "inline_storage": (bool, None, None),
}
_OPTIMIZER_FIELDS = {
    "deleted_threshold": (float, 0, 1),
    "vacuum_min_vector_number": (int, 100, None),
    "default_segment_number": (int, 0, None),
    "max_segment_size": (int, 1, None),
    "memmap_threshold": (int, 0, None),
    "indexing_threshold": (int, 0, None),
    "flush_interval_sec": (int, 0, None),
    "max_optimization_threads": (int, 0, None),
    "prevent_unoptimized": (bool, None, None),
}
_WAL_FIELDS = {
    "wal_capacity_mb": (int, 1, None),
    "wal_segments_ahead": (int, 0, None),
    "wal_retain_closed": (int, 0, None),
}
_PARAM_FIELDS = {
    "shard_number": (int, 1, "max_shards_per_collection"),
    "replication_factor": (int, 1, None),
    "write_consistency_factor": (int, 1, None),
    "read_fan_out_factor": (int, 0, None),
    "read_fan_out_delay_ms": (int, 0, None),
    "on_disk_payload": (bool, None, None),
}
_U32 = {"shard_number", "replication_factor", "write_consistency_factor", "read_fan_out_factor"}
_TYPE_NAMES = {int: "an integer", float: "a number", bool: "a boolean", str: "a string"}


def _type_ok(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def check_fields(
    section: Any, fields: dict, path: str, errors: list[str], limits: Limits = DEFAULT
) -> dict:
    """Validated copy of a flat section: nulls dropped, unknown keys ignored."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise FormatError(f"invalid type for `{path}`: expected an object")
    out = {}
    for key, value in section.items():
        if key not in fields or value is None:
            continue
        kind, lo, hi = fields[key]
        if not _type_ok(value, kind):
            raise FormatError(
                f"invalid type: {_describe(value)}, expected {_TYPE_NAMES[kind]} at `{path}.{key}`"
            )
        if kind is int and value < 0 and (lo is None or lo >= 0):
            raise FormatError(
                f"invalid value: integer `{value}`, expected an unsigned integer at `{path}.{key}`"
            )
        name = f"{path}.{key}" if path else key
        if kind is int:
            unsigned(value, "u32" if key in _U32 else "u64", name)
        if isinstance(hi, str):  # Tessera's bound, not part of Qdrant's range: said apart
            range_error(name, value, lo, None, errors)
            range_error(name, value, None, getattr(limits, hi), errors)
        else:
            range_error(name, value, lo, hi, errors)
        out[key] = value
    return out


def range_error(name: str, value: Any, lo: Any, hi: Any, errors: list[str]) -> None:
    """Qdrant's words for a value out of range, added to ``errors``."""
    if (lo is None or value >= lo) and (hi is None or value <= hi):
        return
    if lo is not None and hi is not None:
        errors.append(f"{name}: value {value} invalid, must be from {lo} to {hi}")
    elif lo is not None:
        errors.append(f"{name}: value {value} invalid, must be {lo} or larger")
    else:
        errors.append(f"{name}: value {value} invalid, must be {hi} or smaller")


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, (int, float)):
        return f"number `{value}`"
    if isinstance(value, list):
        return "sequence"
    if value is None:
        return "null"
    return "map"


def raise_if_invalid(errors: list[str]) -> None:
    if errors:
        raise ValidationFailed("[" + ", ".join(errors) + "]")


def vector_params(raw: Any, path: str, errors: list[str], limits: Limits) -> dict:
    if not isinstance(raw, dict):
        raise FormatError(f"invalid type for `{path}`: expected vector params")
    if "size" not in raw or raw["size"] is None:
        raise FormatError(f"missing field `size` at `{path}`")
    if "distance" not in raw or raw["distance"] is None:
        raise FormatError(f"missing field `distance` at `{path}`")
    size = raw["size"]
    if not _type_ok(size, int) or size < 0:
        raise FormatError(f"invalid type: {_describe(size)}, expected u64 at `{path}.size`")
    unsigned(size, "u64", f"{path}.size")
    range_error(f"{path}.size".lstrip("."), size, 1, MAX_DIMENSION, errors)
    distance = raw["distance"]
    if distance not in DISTANCES:
        raise FormatError(
            f"unknown variant `{distance}`, expected one of "
            + ", ".join(f"`{d}`" for d in DISTANCES)
        )
    out: dict = {"size": size, "distance": distance}
    if raw.get("hnsw_config") is not None:
        out["hnsw_config"] = check_fields(
            raw["hnsw_config"], _HNSW_FIELDS, f"{path}.hnsw_config", errors, limits
        )
    if raw.get("quantization_config") is not None:
        out["quantization_config"] = _quantization(raw["quantization_config"], f"{path}.")
    if raw.get("on_disk") is not None:
        out["on_disk"] = bool(raw["on_disk"])
    datatype = raw.get("datatype")
    if datatype is not None:
        if datatype not in DATATYPES:
            raise FormatError(
                f"unknown variant `{datatype}`, expected one of "
                + ", ".join(f"`{d}`" for d in DATATYPES)
            )
        out["datatype"] = datatype
    if raw.get("multivector_config") is not None:
        multi = raw["multivector_config"]
        if not isinstance(multi, dict) or "comparator" not in multi:
            raise FormatError(f"missing field `comparator` at `{path}.multivector_config`")
        if multi["comparator"] != "max_sim":
            raise FormatError(
                f"unknown variant `{multi['comparator']}`, expected `max_sim` "
                f"at `{path}.multivector_config.comparator`"
            )
        out["multivector_config"] = copy.deepcopy(multi)
    if raw.get("memory") is not None:
        out["memory"] = memory(raw["memory"], f"{path}.memory")
    return out


def memory(value: Any, path: str) -> str:
    if value not in MEMORY:
        raise FormatError(f"unknown variant `{value}`, expected one of `cold`, `cached`, "
                          f"`pinned` at `{path.lstrip('.')}`")
    return value


def _vectors(raw: Any, errors: list[str], limits: Limits) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FormatError("invalid type for `vectors`: expected an object")
    if "size" in raw or "distance" in raw:
        return vector_params(raw, "vectors", errors, limits)
    return {name: vector_params(v, f"vectors.{name}", errors, limits) for name, v in raw.items()}


def _quantization(raw: Any, path: str) -> dict:
    """A QuantizationConfig is an object naming its method (scalar, product, binary, turbo);
    its contents are checked where the shards build it (memory placement and turbo's bits
    here)."""
    if not isinstance(raw, dict):
        raise FormatError(
            f"invalid type: {_describe(raw)}, expected an object at `{path}quantization_config`"
        )
    for method, params in raw.items():
        if isinstance(params, dict) and params.get("memory") is not None:
            memory(params["memory"], f"{path}quantization_config.{method}.memory")
    turbo = raw.get("turbo")
    if isinstance(turbo, dict) and turbo.get("bits") is not None and \
            turbo["bits"] not in TURBO_BITS:
        raise FormatError(f"unknown variant `{turbo['bits']}`, expected one of "
                          + ", ".join(f"`{b}`" for b in TURBO_BITS))
    return copy.deepcopy(raw)


def _object(raw: Any, path: str) -> dict:
    if not isinstance(raw, dict):
        raise FormatError(f"invalid type: {_describe(raw)}, expected an object at `{path}`")
    return raw


def _sparse_vectors(raw: Any) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FormatError("invalid type for `sparse_vectors`: expected an object")
    out = {}
    for name, params in raw.items():
        if params is not None and not isinstance(params, dict):
            raise FormatError(f"invalid type for `sparse_vectors.{name}`: expected an object")
        out[name] = {k: v for k, v in (params or {}).items() if v is not None}
    return out


def parse_create(
    body: Any, default_optimizers: Mapping[str, Any] | None = None, limits: Limits = DEFAULT
) -> dict:
    """A create-collection body → the stored collection config (Qdrant's CollectionConfig).
    ``default_optimizers`` (the node's storage.optimizers) stand in for fields the body leaves
    out, as Qdrant's do."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise FormatError("invalid type: expected struct CreateCollection")
    errors: list[str] = []
    params: dict = {"vectors": _vectors(body.get("vectors"), errors, limits)}
    flat = check_fields(body, _PARAM_FIELDS, "", errors, limits)
    params["shard_number"] = flat.get("shard_number", 1)
    if body.get("sharding_method") is not None:
        if body["sharding_method"] not in ("auto", "custom"):
            raise FormatError(
                f"unknown variant `{body['sharding_method']}`, expected `auto` or `custom`"
            )
        params["sharding_method"] = body["sharding_method"]
    params["replication_factor"] = flat.get("replication_factor", 1)
    params["write_consistency_factor"] = flat.get("write_consistency_factor", 1)
    for key in ("read_fan_out_factor", "read_fan_out_delay_ms"):
        if key in flat:
            params[key] = flat[key]
    params["on_disk_payload"] = flat.get("on_disk_payload", True)
    sparse = _sparse_vectors(body.get("sparse_vectors"))
    if sparse is not None:
        params["sparse_vectors"] = sparse
    hnsw = {
        **DEFAULT_HNSW,
        **check_fields(body.get("hnsw_config"), _HNSW_FIELDS, "hnsw_config", errors, limits),
    }
    optimizers = {
        **DEFAULT_OPTIMIZERS,
        **(default_optimizers or {}),
        **check_fields(
            body.get("optimizers_config"), _OPTIMIZER_FIELDS, "optimizers_config", errors
        ),
    }
    wal = {**DEFAULT_WAL, **check_fields(body.get("wal_config"), _WAL_FIELDS, "wal_config", errors)}
    quantization = body.get("quantization_config", body.get("quantization"))
    if quantization is not None:
        quantization = _quantization(quantization, "")
    strict = body.get("strict_mode_config")
    if strict is not None:
        _object(strict, "strict_mode_config")
    raise_if_invalid(errors)
    if not params["vectors"] and not sparse:
        pass  # Qdrant allows a collection without dense vectors
    config = {
        "params": params,
        "hnsw_config": hnsw,
        "optimizer_config": optimizers,
        "wal_config": wal,
        "quantization_config": copy.deepcopy(quantization),
        "strict_mode_config": copy.deepcopy(strict) if strict is not None else {"enabled": False},
    }
    if body.get("metadata") is not None:
        if not isinstance(body["metadata"], dict):
            raise FormatError("invalid type for `metadata`: expected an object")
        config["metadata"] = copy.deepcopy(body["metadata"])
    return config


def apply_update(config: dict, body: Any, limits: Limits = DEFAULT) -> dict:
    """A PATCH body applied to a stored config; returns the new config."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise FormatError("invalid type: expected struct UpdateCollection")
    new = copy.deepcopy(config)
    errors: list[str] = []
    params = new["params"]
    if body.get("vectors") is not None:
        vectors = params["vectors"]
        named = not ("size" in vectors and "distance" in vectors)
        for name, diff in _object(body["vectors"], "vectors").items():
            target = vectors.get(name) if named else (vectors if name == "" else None)
            if target is None:
                raise WrongInput(f"Not existing vector name error: {name}")
            if not isinstance(diff, dict):
                raise FormatError(f"invalid type for `vectors.{name}`: expected an object")
            if diff.get("hnsw_config") is not None:
                target["hnsw_config"] = {
                    **target.get("hnsw_config", {}),
                    **check_fields(
                        diff["hnsw_config"],
                        _HNSW_FIELDS,
                        f"vectors.{name}.hnsw_config",
                        errors,
                        limits,
                    ),
                }
            if diff.get("quantization_config") is not None:
                q = diff["quantization_config"]
                target["quantization_config"] = (
                    q if q == "Disabled" else _quantization(q, f"vectors.{name}.")
                )
            if diff.get("on_disk") is not None:
                target["on_disk"] = bool(diff["on_disk"])
    if body.get("params") is not None:
        diff = check_fields(body["params"], _PARAM_FIELDS, "params", errors, limits)
        diff.pop("shard_number", None)
        params.update(diff)
    if body.get("hnsw_config") is not None:
        new["hnsw_config"].update(
            check_fields(body["hnsw_config"], _HNSW_FIELDS, "hnsw_config", errors, limits)
        )
    if body.get("optimizers_config") is not None:
        new["optimizer_config"].update(
            check_fields(body["optimizers_config"], _OPTIMIZER_FIELDS, "optimizers_config", errors)
        )
    if body.get("quantization_config") is not None:
        q = body["quantization_config"]
        new["quantization_config"] = None if q == "Disabled" else _quantization(q, "")
    if body.get("sparse_vectors") is not None:
        sparse = params.setdefault("sparse_vectors", {})
        for name, diff in (_sparse_vectors(body["sparse_vectors"]) or {}).items():
            if name not in sparse:
                raise WrongInput(f"Not existing vector name error: {name}")
            sparse[name].update(diff)
    if body.get("strict_mode_config") is not None:
        new["strict_mode_config"] = {
            **new.get("strict_mode_config", {}),
            **_object(body["strict_mode_config"], "strict_mode_config"),
        }
    if body.get("metadata") is not None:
        if not isinstance(body["metadata"], dict):
            raise FormatError("invalid type for `metadata`: expected an object")
        merged = {**new.get("metadata", {}), **copy.deepcopy(body["metadata"])}
        # a key set to null is deleted, as Qdrant merges metadata
        new["metadata"] = {k: v for k, v in merged.items() if v is not None}
    raise_if_invalid(errors)
    return new
