"""Settings, read the way Qdrant reads its configuration.

Layers, each overriding the one before it:

1. built-in defaults (the `Settings` field defaults below);
2. a YAML file: the explicit `config_path`, or else `config/config.yaml` under the working
   directory when that file exists (an explicit path that does not exist is an error);
3. environment variables `QDRANT__SECTION__KEY[__SUBKEY...]`: the double underscore separates
   levels, key names are lowercased, values are read as YAML scalars ("true" -> True,
   "6333" -> 6333, "null" -> None). `QDRANT_URI` and `QDRANT_BOOTSTRAP` (Qdrant's names, one
   underscore) set `uri` and `bootstrap`;
4. overrides (the command line's flags), keyed by dotted names such as "service.http_port".

Every layer is merged into one tree kept as `Settings.raw`, unknown keys included, so code that
needs a key without a typed field reads it with `Settings.get("section.key", default)`. The
typed fields carry Qdrant's key names; a value of the wrong kind raises `ConfigError`, naming
the key and the layer it came from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

__all__ = ["ConfigError", "Settings", "load_settings", "DEFAULT_CONFIG_FILE", "ENV_PREFIX"]

ENV_PREFIX = "QDRANT__"
ENV_SEPARATOR = "__"
# Looked for under the working directory when no explicit path is given, as Qdrant does.
DEFAULT_CONFIG_FILE = Path("config") / "config.yaml"
# Qdrant's single-underscore variables for the cluster flags.
_SPECIAL_ENV = {"QDRANT_URI": ("uri",), "QDRANT_BOOTSTRAP": ("bootstrap",)}

Path_ = tuple[str, ...]


class ConfigError(ValueError):
    """A configuration that cannot be used. The message names the key and where it came from."""


# --------------------------------------------------------------------------- value kinds


def _describe(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


def _as_int(value: object, minimum: int, maximum: int | None) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {_describe(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        number = int(value)
    else:
        raise ValueError(f"expected an integer, got {_describe(value)}")
    if number < minimum or (maximum is not None and number > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise ValueError(f"expected an integer at least {minimum}{upper}, got {number}")
    return number


def _port(value: object) -> int:
    # 0 is allowed: the OS picks a free port (tests use it).
    return _as_int(value, 0, 65535)


def _optional_port(value: object) -> int | None:
    return None if value is None else _port(value)


def _non_negative(value: object) -> int:
    return _as_int(value, 0, None)


def _positive(value: object) -> int:
    return _as_int(value, 1, None)


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {_describe(value)}")


def _non_empty_text(value: object) -> str:
    text = _text(value).strip()
    if not text:
        raise ValueError("expected a non-empty string")
    return text


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {_describe(value)}")


def _optional_uri(value: object) -> str | None:
    if value is None:
        return None
    text = _text(value).strip()
    if not text:
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError(f"expected a URI like http://host:6335, got {text!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected a URI like http://host:6335, got {text!r}")
    return text


# Kinds whose environment value is taken as written (not as a YAML scalar), so that an API key
# "0123" stays "0123" rather than becoming the integer 83.
_TEXT_KINDS: frozenset[Callable[[object], object]] = frozenset(
    {_text, _non_empty_text, _optional_text, _optional_uri}
)


# --------------------------------------------------------------------------- the settings


@dataclass(frozen=True)
class Settings:
    """Typed view of the configuration; `raw` holds the whole merged tree (read-only)."""

    service_host: str = "127.0.0.1"
    http_port: int = 6333
    grpc_port: int | None = 6334
    max_request_size_mb: int = 32
    metrics_prefix: str | None = None  # prepended to every /metrics name (Qdrant's option)
    max_request_memory_mb: int = 1024
    api_key: str | None = field(default=None, repr=False)  # a secret: kept out of logs
    read_only_api_key: str | None = field(default=None, repr=False)  # likewise
    jwt_rbac: bool = False  # bearer JWTs signed with api_key (router/api/auth.py)
    # TLS (router/api/tls.py): HTTPS and gRPC over TLS; the gRPC port also when p2p TLS is on
    enable_tls: bool = False
    verify_https_client_certificate: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca_cert: str | None = None
    tls_cert_ttl: int = 3600  # seconds between looks at the certificate files
    p2p_enable_tls: bool = False
    # the Raft port's key (Tessera's own key; default: derived from api_key, tessera/server.py)
    p2p_secret: str | None = field(default=None, repr=False)
    p2p_allow_unauthenticated: bool = False  # start a cluster node with an unkeyed Raft port
    storage_path: str = "./storage"
    snapshots_path: str = "./snapshots"
    # staging space of snapshots (cuts, downloads, uploads, extraction); None: inside storage
    temp_path: str | None = None
    flush_interval_sec: int = 5
    default_indexing_threshold_kb: int = 10000
    log_level: str = "INFO"
    cluster_enabled: bool = False
    p2p_port: int = 6335
    compact_wal_entries: int = 128  # Raft log entries kept before a snapshot replaces them
    incoming_shard_transfers_limit: int = 1  # automatic transfers into a node at once
    outgoing_shard_transfers_limit: int = 1  # and out of it
    max_transfer_rate: int = 0  # points per second of one shard copy (0: unlimited)
    # MB per second a snapshot file is written at while the node serves requests (0: unlimited)
    snapshot_busy_rate_mb: int = 32
    rebalance_enabled: bool = True  # the Raft leader spreads, drains and repairs replicas
    replica_repair_after_sec: int = 300  # a peer down this long has its replicas replaced
    resharding_enabled: bool = False  # start_resharding allowed (Qdrant's default: off)
    uri: str | None = None
    bootstrap: str | None = None
    # Tessera's own bounds on what one request may ask for (router/collection/limits.py)
    max_shards_per_collection: int = 1000
    max_hnsw_m: int = 1024
    max_ef_construct: int = 16384
    # The YAML file that was read, if any (not a configuration key).
    config_path: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Coerce and check the typed fields (so `dataclasses.replace` and direct construction
        # are validated too), then write them into the tree so `get` and the fields agree.
        tree = _thaw(self.raw)
        for name, path, kind in _FIELDS:
            dotted = ".".join(path)
            try:
                value = kind(getattr(self, name))
            except ValueError as exc:
                raise ConfigError(f"{dotted}: {exc}") from None
            object.__setattr__(self, name, value)
            _set_path(tree, path, value)
        object.__setattr__(self, "raw", _freeze(tree))

    def get(self, dotted_key: str, default: Any = None) -> Any:
        """The value at "section.key[.subkey]" in the merged tree, or `default` when absent.

        Mappings come back as read-only views.
        """
        node: Any = self.raw
        for part in dotted_key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    # MappingProxyType does not pickle: carry the tree as plain dicts.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["raw"] = _thaw(self.raw)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "raw", _freeze(state["raw"]))


# field name -> (path in the tree, kind)
_FIELDS: tuple[tuple[str, Path_, Callable[[object], Any]], ...] = (
    ("service_host", ("service", "host"), _non_empty_text),
    ("http_port", ("service", "http_port"), _port),
    ("grpc_port", ("service", "grpc_port"), _optional_port),
    ("max_request_size_mb", ("service", "max_request_size_mb"), _positive),
    ("metrics_prefix", ("service", "metrics_prefix"), _optional_text),
    ("max_request_memory_mb", ("service", "max_request_memory_mb"), _positive),
    ("api_key", ("service", "api_key"), _optional_text),
    ("read_only_api_key", ("service", "read_only_api_key"), _optional_text),
    ("jwt_rbac", ("service", "jwt_rbac"), _flag),
    ("enable_tls", ("service", "enable_tls"), _flag),
    ("verify_https_client_certificate", ("service", "verify_https_client_certificate"), _flag),
    ("tls_cert", ("tls", "cert"), _optional_text),
    ("tls_key", ("tls", "key"), _optional_text),
    ("tls_ca_cert", ("tls", "ca_cert"), _optional_text),
    ("tls_cert_ttl", ("tls", "cert_ttl"), _non_negative),
    ("p2p_enable_tls", ("cluster", "p2p", "enable_tls"), _flag),
    ("p2p_secret", ("cluster", "p2p", "secret"), _optional_text),
    ("p2p_allow_unauthenticated", ("cluster", "p2p", "allow_unauthenticated"), _flag),
    ("storage_path", ("storage", "storage_path"), _non_empty_text),
    ("snapshots_path", ("storage", "snapshots_path"), _non_empty_text),
    ("temp_path", ("storage", "temp_path"), _optional_text),
    ("flush_interval_sec", ("storage", "optimizers", "flush_interval_sec"), _non_negative),
    (
        "default_indexing_threshold_kb",
        ("storage", "optimizers", "indexing_threshold_kb"),
        _non_negative,
    ),
    ("log_level", ("log_level",), _non_empty_text),
    ("cluster_enabled", ("cluster", "enabled"), _flag),
    ("p2p_port", ("cluster", "p2p", "port"), _port),
    ("compact_wal_entries", ("cluster", "consensus", "compact_wal_entries"), _positive),
    ("incoming_shard_transfers_limit",
     ("storage", "performance", "incoming_shard_transfers_limit"), _positive),
    ("outgoing_shard_transfers_limit",
     ("storage", "performance", "outgoing_shard_transfers_limit"), _positive),
    ("max_transfer_rate", ("storage", "performance", "max_transfer_rate"), _non_negative),
    ("snapshot_busy_rate_mb", ("storage", "performance", "snapshot_busy_rate_mb"),
     _non_negative),
    ("rebalance_enabled", ("cluster", "rebalance", "enabled"), _flag),
    ("replica_repair_after_sec", ("cluster", "replica_repair_after_sec"), _non_negative),
    ("resharding_enabled", ("cluster", "resharding_enabled"), _flag),
    ("uri", ("uri",), _optional_uri),
    ("bootstrap", ("bootstrap",), _optional_uri),
    ("max_shards_per_collection", ("limits", "max_shards_per_collection"), _positive),
    ("max_hnsw_m", ("limits", "max_hnsw_m"), _positive),
    ("max_ef_construct", ("limits", "max_ef_construct"), _positive),
)


def default_tree() -> dict[str, Any]:
    """The built-in defaults as a plain nested dict."""
    return _thaw(Settings().raw)


# --------------------------------------------------------------------------- tree helpers


def _freeze(node: Any) -> Any:
    if isinstance(node, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in node.items()})
    if isinstance(node, (list, tuple)):
        return tuple(_freeze(v) for v in node)
    return node


def _thaw(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _thaw(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_thaw(v) for v in node]
    return node


def _set_path(tree: dict[str, Any], path: Path_, value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            # A scalar (or null) where a section is needed: the deeper, later key wins.
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _merge(base: dict[str, Any], incoming: Mapping[str, Any], origin: str,
           origins: dict[Path_, str], prefix: Path_ = ()) -> None:
    """Deep-merge `incoming` into `base`, recording where each value came from."""
    for key, value in incoming.items():
        key = str(key)
        path = prefix + (key,)
        current = base.get(key)
        if isinstance(value, Mapping):
            if not isinstance(current, dict):
                current = base[key] = {}
            origins[path] = origin
            _merge(current, value, origin, origins, path)
        elif value is None and isinstance(current, dict):
            # `section:` with every key commented out: keep the section as it is.
            continue
        else:
            base[key] = _thaw(value)
            origins[path] = origin


def _origin_of(path: Path_, origins: Mapping[Path_, str]) -> str:
    for end in range(len(path), 0, -1):
        if path[:end] in origins:
            return origins[path[:end]]
    return "the built-in defaults"


# --------------------------------------------------------------------------- the layers


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping at the top level, "
            f"got {type(data).__name__}"
        )
    return data


def _env_scalar(text: str) -> Any:
    """An environment value read as a YAML scalar; anything else stays the string it was."""
    if text.strip() == "":
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, (Mapping, list)):
        return text
    return value


def _env_entries(environ: Mapping[str, str]) -> list[tuple[str, Path_, str]]:
    """(variable, path, text) for every variable that sets a key, in the order to apply them."""
    entries = []
    # Sorted: deterministic, and `QDRANT__A` comes before `QDRANT__A__B`, so the deeper key wins.
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX):].split(ENV_SEPARATOR)
        if not all(parts):
            continue  # "QDRANT__", "QDRANT__A____B": nothing sensible to set; tolerated
        entries.append((name, tuple(p.lower() for p in parts), environ[name]))
    for name, path in _SPECIAL_ENV.items():
        text = environ.get(name, "")
        if text.strip():
            entries.append((name, path, text))
    return entries


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Build `Settings` from defaults < YAML file < `QDRANT__` env vars < `overrides`.

    `environ` defaults to `os.environ`. `overrides` keys are dotted paths ("service.http_port",
    "uri", "log_level"); their values are used as given (None included: "service.grpc_port":
    None turns gRPC off). Raises `ConfigError` for an unreadable or invalid file and for a value
    of the wrong kind.
    """
    environ = os.environ if environ is None else environ
    tree = default_tree()
    origins: dict[Path_, str] = {}
    env_text: dict[Path_, str] = {}

    used_file: Path | None = None
    if config_path is not None:
        used_file = Path(config_path)
    elif DEFAULT_CONFIG_FILE.is_file():
        used_file = DEFAULT_CONFIG_FILE
    if used_file is not None:
        _merge(tree, _read_yaml(used_file), f"config file {str(used_file)!r}", origins)

    for name, path, text in _env_entries(environ):
        value = _env_scalar(text)
        if value is None and isinstance(_get_path(tree, path), dict):
            continue  # an empty variable naming a whole section: nothing to change
        _set_path(tree, path, value)
        origins[path] = f"environment variable {name}"
        env_text[path] = text
        for other in [p for p in env_text if len(p) > len(path) and p[: len(path)] == path]:
            del env_text[other]

    for key, value in (overrides or {}).items():
        path = tuple(str(key).split("."))
        if not all(path):
            raise ConfigError(f"override key {key!r} is not a dotted key like 'service.host'")
        origin = f"override {key!r}"
        if isinstance(value, Mapping):
            parent = _get_path(tree, path)
            if not isinstance(parent, dict):
                _set_path(tree, path, {})
                parent = _get_path(tree, path)
            _merge(parent, value, origin, origins, path)
        else:
            _set_path(tree, path, value)
        origins[path] = origin
        for other in [p for p in env_text if p[: len(path)] == path]:
            del env_text[other]

    values: dict[str, Any] = {}
    for name, path, kind in _FIELDS:
        dotted = ".".join(path)
        for end in range(1, len(path)):
            section = _get_path(tree, path[:end])
            if not isinstance(section, dict):
                where = _origin_of(path[:end], origins)
                raise ConfigError(
                    f"{'.'.join(path[:end])}: expected a section (mapping), got "
                    f"{_describe(section)} from {where}"
                )
        value = _get_path(tree, path)
        if kind in _TEXT_KINDS and path in env_text and value is not None:
            value = env_text[path]
        try:
            values[name] = kind(value)
        except ValueError as exc:
            raise ConfigError(f"{dotted}: {exc} (from {_origin_of(path, origins)})") from None

    settings = Settings(
        **values,
        config_path=None if used_file is None else str(used_file),
        raw=tree,
    )
    _check_raft_port(settings)
    return settings


def _check_raft_port(settings: Settings) -> None:
    """A cluster node's Raft port runs what a peer sends it (pysyncobj unpickles its frames),
    so it is keyed (cluster.p2p.secret, or a key derived from service.api_key): without
    either the node refuses to start, unless told that only the cluster can reach the port."""
    if settings.cluster_enabled and not settings.p2p_secret and not settings.api_key and \
            not settings.p2p_allow_unauthenticated:
        raise ConfigError(
            "cluster mode needs cluster.p2p.secret or service.api_key (the same on every "
            "node): without one, anyone who reaches the Raft port (cluster.p2p.port) can run "
            "code on this node. On a network only the cluster can reach, "
            "cluster.p2p.allow_unauthenticated: true starts it anyway")


def _get_path(tree: Mapping[str, Any], path: Path_) -> Any:
    node: Any = tree
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node

