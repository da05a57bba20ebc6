"""Configuration layers (defaults < YAML < QDRANT__ env < overrides) and the CLI's flags."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import tessera
from tessera import cli
from tessera.config import ConfigError, Settings, default_tree, load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path, monkeypatch):
    # No stray config/config.yaml from wherever pytest was started.
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


# --------------------------------------------------------------------------- defaults


def test_defaults():
    s = load_settings(environ={})
    assert s.service_host == "127.0.0.1"
    assert s.http_port == 6333
    assert s.grpc_port == 6334
    assert s.max_request_size_mb == 32
    assert s.api_key is None
    assert s.storage_path == "./storage"
    assert s.snapshots_path == "./snapshots"
    assert s.flush_interval_sec == 5
    assert s.default_indexing_threshold_kb == 10000
    assert s.log_level == "INFO"
    assert s.cluster_enabled is False
    assert s.p2p_port == 6335
    assert s.uri is None and s.bootstrap is None
    assert s.config_path is None
    assert s == Settings()


def test_default_tree_uses_qdrant_key_names():
    tree = default_tree()
    assert tree["service"]["http_port"] == 6333
    assert tree["storage"]["optimizers"]["indexing_threshold_kb"] == 10000
    assert tree["cluster"]["p2p"]["port"] == 6335
    assert tree["log_level"] == "INFO"


def test_get_reads_dotted_keys():
    s = load_settings(environ={})
    assert s.get("service.http_port") == 6333
    assert s.get("storage.optimizers.flush_interval_sec") == 5
    assert s.get("service.nope") is None
    assert s.get("service.nope", 7) == 7
    assert s.get("service.http_port.deeper", "x") == "x"
    assert s.get("service")["grpc_port"] == 6334


def test_settings_are_immutable():
    s = load_settings(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.http_port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.raw["service"]["http_port"] = 1  # type: ignore[index]


def test_replace_keeps_raw_in_step_and_validates():
    s = dataclasses.replace(load_settings(environ={}), http_port=0, storage_path="/tmp/x")
    assert s.http_port == 0
    assert s.get("service.http_port") == 0
    assert s.get("storage.storage_path") == "/tmp/x"
    with pytest.raises(ConfigError):
        dataclasses.replace(s, http_port=70000)


def test_direct_construction_coerces():
    s = Settings(http_port="7000", cluster_enabled="true")  # type: ignore[arg-type]
    assert s.http_port == 7000 and s.cluster_enabled is True
    assert s.get("cluster.enabled") is True


def test_pickle_and_copy_round_trip(tmp_path):
    s = load_settings(
        write(tmp_path / "c.yaml", "custom: {a: [1, 2]}\n"),
        environ={"QDRANT__SERVICE__HTTP_PORT": "7001"},
    )
    for clone in (pickle.loads(pickle.dumps(s)), copy.deepcopy(s), copy.copy(s)):
        assert clone == s
        assert clone.get("custom.a") == (1, 2)
        assert clone.get("service.http_port") == 7001


def test_api_key_not_in_repr():
    s = load_settings(environ={"QDRANT__SERVICE__API_KEY": "s3cret"})
    assert s.api_key == "s3cret"
    assert "s3cret" not in repr(s)


# --------------------------------------------------------------------------- YAML file


def test_yaml_file_overrides_defaults(tmp_path):
    path = write(
        tmp_path / "my.yaml",
        """
log_level: DEBUG
service:
  host: 0.0.0.0
  http_port: 7333
  grpc_port: null
storage:
  storage_path: /data/storage
  optimizers:
    flush_interval_sec: 1
cluster:
  enabled: true
  p2p:
    port: 7335
    secret: s3cret
""",
    )
    s = load_settings(path, environ={})
    assert s.log_level == "DEBUG"
    assert s.service_host == "0.0.0.0"
    assert s.http_port == 7333
    assert s.grpc_port is None  # null disables gRPC
    assert s.storage_path == "/data/storage"
    assert s.snapshots_path == "./snapshots"  # untouched keys keep their default
    assert s.flush_interval_sec == 1
    assert s.default_indexing_threshold_kb == 10000
    assert s.cluster_enabled is True
    assert s.p2p_port == 7335
    assert s.config_path == path


def test_default_config_file_in_cwd_is_read(tmp_path):
    write(tmp_path / "config" / "config.yaml", "service:\n  http_port: 6400\n")
    s = load_settings(environ={})
    assert s.http_port == 6400
    assert s.config_path == str(Path("config") / "config.yaml")


def test_explicit_path_beats_default_file(tmp_path):
    write(tmp_path / "config" / "config.yaml", "service:\n  http_port: 6400\n")
    path = write(tmp_path / "other.yaml", "service:\n  grpc_port: 6500\n")
    s = load_settings(path, environ={})
    assert s.http_port == 6333  # the default file is not read when a path is given
    assert s.grpc_port == 6500


def test_missing_explicit_path_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(str(tmp_path / "nope.yaml"), environ={})


def test_empty_file_and_empty_sections_are_fine(tmp_path):
    assert load_settings(write(tmp_path / "e.yaml", ""), environ={}).http_port == 6333
    # `service:` with every key commented out is null: the section keeps its defaults.
    s = load_settings(write(tmp_path / "s.yaml", "service:\n#  http_port: 1\n"), environ={})
    assert s.http_port == 6333 and s.service_host == "127.0.0.1"


def test_bad_yaml_raises_config_error(tmp_path):
    path = write(tmp_path / "bad.yaml", "service:\n  http_port: [6333\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(path, environ={})


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(write(tmp_path / "list.yaml", "- a\n- b\n"), environ={})


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_unknown_yaml_keys_are_kept_and_ignored(tmp_path):
    path = write(
        tmp_path / "u.yaml",
        """
telemetry_disabled: true
service:
  enable_cors: false
  http_port: 6399
storage:
  wal:
    wal_capacity_mb: 32
brand_new_section:
  x: 1
""",
    )
    s = load_settings(path, environ={})
    assert s.http_port == 6399
    assert s.get("telemetry_disabled") is True
    assert s.get("service.enable_cors") is False
    assert s.get("storage.wal.wal_capacity_mb") == 32
    assert s.get("brand_new_section.x") == 1


def test_yaml_port_as_quoted_string_is_accepted(tmp_path):
    s = load_settings(write(tmp_path / "q.yaml", 'service:\n  http_port: "6401"\n'), environ={})
    assert s.http_port == 6401
    assert s.get("service.http_port") == 6401


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("service:\n  http_port: abc\n", "service.http_port"),
        ("service:\n  http_port: 6333.5\n", "service.http_port"),
        ("service:\n  http_port: 70000\n", "service.http_port"),
        ("service:\n  http_port: -1\n", "service.http_port"),
        ("service:\n  http_port: true\n", "service.http_port"),
        ("service:\n  grpc_port: [1]\n", "service.grpc_port"),
        ("service:\n  max_request_size_mb: 0\n", "service.max_request_size_mb"),
        ("service:\n  host: ''\n", "service.host"),
        ("cluster:\n  enabled: maybe\n", "cluster.enabled"),
        ("cluster:\n  p2p:\n    port: x\n", "cluster.p2p.port"),
        ("storage:\n  optimizers:\n    flush_interval_sec: -5\n", "flush_interval_sec"),
        ("service: 5\n", "service"),
        ("uri: not-a-uri\n", "uri"),
        ("bootstrap: ftp://x:1\n", "bootstrap"),
    ],
)
def test_bad_values_raise_config_error(tmp_path, text, key):
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert key in message
    assert "bad.yaml" in message  # says where the value came from


# --------------------------------------------------------------------------- environment


def test_env_values_are_parsed_as_yaml_scalars():
    s = load_settings(
        environ={
            "QDRANT__SERVICE__HTTP_PORT": "7000",
            "QDRANT__CLUSTER__ENABLED": "true",
            "QDRANT__CLUSTER__P2P__PORT": "7100",
            "QDRANT__CLUSTER__P2P__ALLOW_UNAUTHENTICATED": "true",
            "QDRANT__STORAGE__OPTIMIZERS__INDEXING_THRESHOLD_KB": "0",
        }
    )
    assert s.http_port == 7000 and isinstance(s.http_port, int)
    assert s.cluster_enabled is True
    assert s.p2p_port == 7100
    assert s.default_indexing_threshold_kb == 0
    assert s.get("service.http_port") == 7000
    assert s.get("cluster.enabled") is True


def test_env_beats_yaml(tmp_path):
    path = write(tmp_path / "c.yaml", "service:\n  http_port: 6400\n  grpc_port: 6401\n")
    s = load_settings(path, environ={"QDRANT__SERVICE__HTTP_PORT": "6500"})
    assert s.http_port == 6500
    assert s.grpc_port == 6401


def test_env_keys_are_lowercased_and_unknown_ones_tolerated():
    s = load_settings(
        environ={
            "QDRANT__SERVICE__ENABLE_TLS": "false",
            "QDRANT__SOMETHING__NEW__DEEP": "1.5",
            "QDRANT__": "ignored",
            "QDRANT__A____B": "ignored",
            "QDRANT_OTHER": "ignored",
            "HOME": "/root",
        }
    )
    assert s.get("service.enable_tls") is False
    assert s.get("something.new.deep") == 1.5
    assert s.http_port == 6333


def test_env_log_level_and_null_grpc():
    s = load_settings(environ={"QDRANT__LOG_LEVEL": "debug", "QDRANT__SERVICE__GRPC_PORT": "null"})
    assert s.log_level == "debug"
    assert s.grpc_port is None


def test_env_strings_stay_as_written():
    # A YAML scalar reading would turn "0123" into 83 and "on" into True.
    s = load_settings(
        environ={
            "QDRANT__SERVICE__API_KEY": "0123",
            "QDRANT__SERVICE__HOST": "0.0.0.0",
            "QDRANT__STORAGE__STORAGE_PATH": "on",
        }
    )
    assert s.api_key == "0123"
    assert s.service_host == "0.0.0.0"
    assert s.storage_path == "on"


def test_env_bad_port_names_the_variable():
    with pytest.raises(ConfigError, match="QDRANT__SERVICE__HTTP_PORT"):
        load_settings(environ={"QDRANT__SERVICE__HTTP_PORT": "http"})


def test_resharding_is_off_unless_enabled():
    assert load_settings(environ={}).resharding_enabled is False
    s = load_settings(environ={"QDRANT__CLUSTER__RESHARDING_ENABLED": "true"})
    assert s.resharding_enabled is True
    assert s.get("cluster.resharding_enabled") is True


def test_qdrant_uri_and_bootstrap_env():
    s = load_settings(
        environ={
            "QDRANT_URI": "http://tessera-1:6335",
            "QDRANT_BOOTSTRAP": "http://tessera-0:6335",
        }
    )
    assert s.uri == "http://tessera-1:6335"
    assert s.bootstrap == "http://tessera-0:6335"
    assert load_settings(environ={"QDRANT_URI": ""}).uri is None


def test_default_environ_is_os_environ(monkeypatch):
    monkeypatch.setenv("QDRANT__SERVICE__HTTP_PORT", "6777")
    assert load_settings().http_port == 6777


# --------------------------------------------------------------------------- overrides


def test_overrides_beat_env_and_yaml(tmp_path):
    path = write(tmp_path / "c.yaml", "service:\n  http_port: 6400\n  api_key: from-file\n")
    s = load_settings(
        path,
        environ={"QDRANT__SERVICE__HTTP_PORT": "6500", "QDRANT__SERVICE__API_KEY": "0777"},
        overrides={"service.http_port": 6600, "service.api_key": "flag", "uri": "http://a:1"},
    )
    assert s.http_port == 6600
    assert s.api_key == "flag"
    assert s.uri == "http://a:1"


def test_override_none_turns_grpc_off():
    s = load_settings(environ={}, overrides={"service.grpc_port": None})
    assert s.grpc_port is None


def test_override_mapping_merges(tmp_path):
    s = load_settings(environ={}, overrides={"service": {"http_port": 6800}})
    assert s.http_port == 6800 and s.grpc_port == 6334


def test_override_bad_value_raises():
    with pytest.raises(ConfigError, match="override"):
        load_settings(environ={}, overrides={"service.http_port": "x"})
    with pytest.raises(ConfigError):
        load_settings(environ={}, overrides={"service..http_port": 1})


def test_unknown_override_keys_are_kept():
    s = load_settings(environ={}, overrides={"storage.wal.wal_capacity_mb": 64})
    assert s.get("storage.wal.wal_capacity_mb") == 64


# --------------------------------------------------------------------------- the CLI


def test_cli_flags_become_overrides():
    args = cli._parse_serve(
        [
            "serve", "--uri", "http://tessera-1:6335", "--bootstrap", "http://tessera-0:6335",
            "--host", "0.0.0.0", "--http-port", "7000", "--grpc-port", "7001",
            "--storage-path", "/data", "--log-level", "DEBUG",
        ]
    )
    assert cli.overrides_from_args(args) == {
        "uri": "http://tessera-1:6335",
        "bootstrap": "http://tessera-0:6335",
        "service.host": "0.0.0.0",
        "service.http_port": 7000,
        "service.grpc_port": 7001,
        "storage.storage_path": "/data",
        "log_level": "DEBUG",
    }


def test_cli_no_flags_no_overrides():
    assert cli.overrides_from_args(cli._parse_serve(["serve"])) == {}


def test_build_settings_flags_beat_env(tmp_path):
    path = write(tmp_path / "c.yaml", "service:\n  http_port: 6400\n  grpc_port: 6401\n")
    s = cli.build_settings(
        ["serve", "--config-path", path, "--http-port", "7000"],
        environ={"QDRANT__SERVICE__HTTP_PORT": "6500", "QDRANT__SERVICE__GRPC_PORT": "6502"},
    )
    assert s.http_port == 7000  # flag
    assert s.grpc_port == 6502  # env beats file
    assert s.config_path == path


def test_build_settings_without_leading_serve():
    s = cli.build_settings(["--grpc-port", "none"], environ={})
    assert s.grpc_port is None


def test_build_settings_flag_beats_qdrant_uri_env():
    s = cli.build_settings(
        ["--uri", "http://flag:6335"], environ={"QDRANT_URI": "http://env:6335"}
    )
    assert s.uri == "http://flag:6335"


@pytest.mark.parametrize("argv", [["--http-port", "x"], ["--grpc-port", "99999"], ["--nope"]])
def test_build_settings_bad_flags_exit(argv):
    with pytest.raises(SystemExit) as info:
        cli.build_settings(argv, environ={})
    assert info.value.code == 2


def test_main_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tessera {tessera.__version__}"


def test_main_without_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "serve" in capsys.readouterr().err


def test_main_config_error_exit_code(capsys, monkeypatch):
    monkeypatch.setenv("QDRANT__SERVICE__HTTP_PORT", "abc")
    assert cli.main(["serve"]) == 2
    assert "service.http_port" in capsys.readouterr().err


def test_main_calls_server_serve_with_settings(monkeypatch):
    import types

    seen = []
    fake = types.ModuleType("tessera.server")
    fake.serve = seen.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tessera.server", fake)
    monkeypatch.delenv("QDRANT__SERVICE__HTTP_PORT", raising=False)
    assert cli.main(["serve", "--http-port", "0", "--storage-path", "st"]) == 0
    (settings,) = seen
    assert isinstance(settings, Settings)
    assert settings.http_port == 0 and settings.storage_path == "st"


def test_python_dash_m_version():
    out = subprocess.run(
        [sys.executable, "-m", "tessera", "--version"],
        capture_output=True, text=True, cwd=REPO, timeout=60, check=True,
    ).stdout
    assert out.strip() == f"tessera {tessera.__version__}"


def test_a_cluster_node_needs_a_key_for_its_raft_port():
    """The Raft port runs what peers send it: cluster mode without cluster.p2p.secret or
    service.api_key is a configuration error, unless the operator says the port is private."""
    cluster = {"QDRANT__CLUSTER__ENABLED": "true"}
    with pytest.raises(ConfigError, match="cluster mode needs cluster.p2p.secret or "
                                          "service.api_key"):
        load_settings(environ=cluster)
    assert load_settings(environ={**cluster, "QDRANT__CLUSTER__P2P__SECRET": "x"}).p2p_secret
    assert load_settings(environ={**cluster, "QDRANT__SERVICE__API_KEY": "k"}).api_key == "k"
    allowed = load_settings(environ={**cluster,
                                     "QDRANT__CLUSTER__P2P__ALLOW_UNAUTHENTICATED": "true"})
    assert allowed.p2p_allow_unauthenticated is True
    assert load_settings(environ={}).cluster_enabled is False  # one node: no Raft port at all


def test_snapshot_busy_rate_reaches_the_snapshot_store(tmp_path):
    """storage.performance.snapshot_busy_rate_mb: 32 MB/s by default, MB/s to bytes/s in the
    node's snapshot store; a negative rate is refused."""
    from tessera.server import Node

    assert load_settings(environ={}).snapshot_busy_rate_mb == 32
    settings = load_settings(environ={
        "QDRANT__STORAGE__STORAGE_PATH": str(tmp_path / "storage"),
        "QDRANT__STORAGE__SNAPSHOTS_PATH": str(tmp_path / "snapshots"),
        "QDRANT__STORAGE__PERFORMANCE__SNAPSHOT_BUSY_RATE_MB": "7",
    })
    node = Node(settings)
    try:
        assert node.snapshots.store.rate == 7 << 20
    finally:
        node.close()
    with pytest.raises(ConfigError, match="snapshot_busy_rate_mb"):
        load_settings(environ={"QDRANT__STORAGE__PERFORMANCE__SNAPSHOT_BUSY_RATE_MB": "-1"})
