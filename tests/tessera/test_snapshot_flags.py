"""`tessera serve --snapshot PATH:COLLECTION` (repeatable), `--storage-snapshot PATH` and
`--force-snapshot` reach the server as the snapshots to recover before serving."""

from __future__ import annotations

import sys
import types

import pytest

from tessera import cli
from tessera.startup_snapshots import StartupSnapshots


def _serve_args(monkeypatch, argv: list[str]) -> list:
    seen: list = []
    fake = types.ModuleType("tessera.server")
    fake.serve = lambda *args: seen.append(args)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tessera.server", fake)
    assert cli.main(["serve", "--http-port", "0", *argv]) == 0
    return seen


def test_snapshot_flags_reach_the_server(monkeypatch):
    ((settings, restore),) = _serve_args(monkeypatch, [
        "--snapshot", "/b/one.snapshot:first", "--snapshot", "c:/x.snapshot:second",
        "--storage-snapshot", "/b/full.snapshot", "--force-snapshot"])
    assert restore == StartupSnapshots(
        [("/b/one.snapshot", "first"), ("c:/x.snapshot", "second")], "/b/full.snapshot", True)
    assert settings.http_port == 0


def test_no_snapshot_flags_means_nothing_to_recover(monkeypatch):
    ((settings,),) = _serve_args(monkeypatch, [])
    assert not StartupSnapshots()


@pytest.mark.parametrize("bad", ["no-colon", ":name", "path:"])
def test_a_snapshot_flag_without_path_and_collection_is_refused(bad, capsys):
    assert cli.main(["serve", "--snapshot", bad]) == 2
    assert "PATH:COLLECTION" in capsys.readouterr().err
