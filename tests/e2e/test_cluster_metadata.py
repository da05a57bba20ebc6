"""Cluster metadata keys (GET / PUT / DELETE /cluster/metadata/keys/{key}) on real nodes."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.test_cluster_restart import _restart
from tests.support.cluster import start_cluster, wait_until

pytestmark = pytest.mark.slow


def _ok(resp: httpx.Response):
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


def test_cluster_metadata_keys_are_kept_by_consensus(tmp_path):
    """GET / PUT / DELETE /cluster/metadata/keys/{key}: any JSON value, the same on every peer,
    shown in telemetry, kept over a restart; a key never set reads as null."""
    nodes = start_cluster(tmp_path, 2)
    try:
        base = [f"{n.url}/cluster/metadata/keys" for n in nodes]
        assert _ok(httpx.put(f"{base[0]}/owner", json={"team": "search", "n": [1, 2]},
                             timeout=30)) is True
        assert _ok(httpx.put(f"{base[1]}/tier", json="gold", timeout=30)) is True
        wait_until(lambda: _ok(httpx.get(base[1], timeout=10)) == ["owner", "tier"], 10,
                   "both keys on both peers")
        assert _ok(httpx.get(f"{base[1]}/owner", timeout=10)) == {"team": "search", "n": [1, 2]}
        assert _ok(httpx.get(f"{base[0]}/never", timeout=10)) is None
        telemetry = _ok(httpx.get(f"{nodes[0].url}/telemetry", timeout=10))
        assert telemetry["cluster"]["metadata"] == {"owner": {"team": "search", "n": [1, 2]},
                                                    "tier": "gold"}
        assert _ok(httpx.delete(f"{base[0]}/tier", timeout=30)) is True
        for node in nodes:
            node.kill()
        _restart(nodes)
        wait_until(lambda: _ok(httpx.get(base[1], timeout=10)) == ["owner"], 30,
                   "the keys after a restart")
    finally:
        for node in nodes:
            node.kill()


def test_a_single_node_has_no_cluster_metadata(http):
    resp = http.get("/cluster/metadata/keys")
    assert resp.status_code == 400 and "standalone" in resp.json()["status"]["error"]
