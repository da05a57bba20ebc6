"""The dashboard's cluster view in a real browser against a real 3-node cluster: the peers and
the leader, the shard × peer grid as the API reports it, a replica copied and then dropped
through the operator buttons (with their confirmation) while the grid refreshes itself, and
Swagger UI rendered at /docs from the node's own files.

One cluster and one browser session for the module.
"""

from __future__ import annotations

import random
import re

import httpx
import pytest

from tests.support.browser import Browser
from tests.support.cluster import replicas_all_active, start_cluster, wait_until

NAME = "grid"
#: points per second of a shard copy (storage.performance.max_transfer_rate): a shard of ~100
#: points takes ~4 s to copy, long enough for the page to show the transfer and abort it
TRANSFER_RATE = 25


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    nodes = start_cluster(tmp_path_factory.mktemp("dashboard-cluster"), 3, extra_env={
        "QDRANT__STORAGE__PERFORMANCE__MAX_TRANSFER_RATE": str(TRANSFER_RATE)})
    try:
        resp = httpx.put(f"{nodes[0].url}/collections/{NAME}", timeout=60, json={
            "vectors": {"size": 4, "distance": "Dot"}, "shard_number": 3,
            "replication_factor": 2})
        assert resp.status_code == 200, resp.text
        rng = random.Random(3)
        points = [{"id": i, "vector": [rng.random() for _ in range(4)]} for i in range(300)]
        resp = httpx.put(f"{nodes[0].url}/collections/{NAME}/points?wait=true",
                         json={"points": points}, timeout=60)
        assert resp.status_code == 200, resp.text
        for node in nodes:
            wait_until(lambda n=node: replicas_all_active(n, NAME), 60, "every replica Active")
        yield nodes
    finally:
        for node in nodes:
            node.kill()


@pytest.fixture(scope="module")
def browser(cluster, tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("dashboard-cluster-shots"))
    try:
        b.open(f"{cluster[1].url}/dashboard/#/cluster/{NAME}")  # a peer that may not lead
        yield b
    finally:
        b.close()


def _api_grid(node) -> dict[tuple[int, int], str]:
    """(shard, peer) -> state, from one node's GET /collections/{name}/cluster."""
    info = httpx.get(f"{node.url}/collections/{NAME}/cluster", timeout=10).json()["result"]
    grid = {(s["shard_id"], info["peer_id"]): s["state"] for s in info["local_shards"]}
    grid.update({(s["shard_id"], s["peer_id"]): s["state"] for s in info["remote_shards"]})
    return grid


def _shown_grid(browser) -> dict[tuple[int, int], str]:
    return {(int(c.get_attribute("data-shard")), int(c.get_attribute("data-peer"))): c.text
            for c in browser.all("#shard-grid td.cell") if c.text}


def _status(node) -> dict:
    return httpx.get(f"{node.url}/cluster", timeout=10).json()["result"]


def test_peers_and_the_leader(browser, cluster):
    rows = browser.wait(lambda: browser.all("#peers-table tbody tr"), "the peers")
    status = _status(cluster[1])
    assert sorted(int(r.get_attribute("data-peer")) for r in rows) == \
        sorted(int(p) for p in status["peers"])
    roles = {int(r.get_attribute("data-peer")): r.find_element("css selector", ".role").text
             for r in rows}
    assert roles[status["raft_info"]["leader"]] == "Leader"
    assert list(roles.values()).count("Leader") == 1
    assert f"term {status['raft_info']['term']}" in browser.text("#raft-info")


def test_the_grid_is_what_the_api_reports(browser, cluster):
    expected = _api_grid(cluster[1])
    assert len(expected) == 6 and set(expected.values()) == {"Active"}
    browser.wait(lambda: _shown_grid(browser) == expected, "the grid of 3 shards × 2 replicas")
    assert len(browser.all("#shard-grid td.cell.state-Active")) == 6
    assert len(browser.all("#shard-grid td.cell.empty")) == 3
    assert browser.text("#no-transfers") == "No transfers in progress."
    browser.screenshot("01-cluster-grid")


def test_copy_a_replica_and_drop_it_through_the_buttons(browser, cluster):
    grid = _api_grid(cluster[1])
    holders = sorted(peer for (shard, peer) in grid if shard == 0)
    (spare,) = {int(p) for p in _status(cluster[1])["peers"]} - set(holders)
    browser.click(f'#shard-grid td[data-shard="0"][data-peer="{holders[0]}"]')
    browser.wait(lambda: "Shard 0 on peer" in browser.text("#replica-actions"), "the actions")
    assert browser.element("#target-peer").get_attribute("value") == str(spare)
    browser.click("#replicate-replica")
    assert f"to peer {spare}" in browser.text("#confirm-text")
    browser.confirm()
    wait_until(lambda: _api_grid(cluster[1]).get((0, spare)) == "Active", 60, "the copy")
    # the live refresh brings the new replica into the grid without a reload
    browser.wait(lambda: _shown_grid(browser) == _api_grid(cluster[1]), "the grid refreshed")
    assert [s for (shard, _), s in _shown_grid(browser).items() if shard == 0] == ["Active"] * 3
    browser.screenshot("02-replicated")

    browser.click(f'#shard-grid td[data-shard="0"][data-peer="{spare}"]')
    browser.click("#drop-replica")
    browser.confirm()
    wait_until(lambda: (0, spare) not in _api_grid(cluster[1]), 60, "the replica dropped")
    browser.wait(lambda: (0, spare) not in _shown_grid(browser), "the grid without it")
    assert browser.errors() == []


def _transfers(node) -> list[dict]:
    info = httpx.get(f"{node.url}/collections/{NAME}/cluster", timeout=10).json()["result"]
    return info["shard_transfers"]


def test_a_transfer_shows_its_progress_and_is_aborted_with_its_button(browser, cluster):
    holders = sorted(peer for (shard, peer) in _api_grid(cluster[1]) if shard == 2)
    (spare,) = {int(p) for p in _status(cluster[1])["peers"]} - set(holders)
    browser.click(f'#shard-grid td[data-shard="2"][data-peer="{holders[0]}"]')
    browser.click("#replicate-replica")
    browser.confirm()
    # the first refresh may come before the copy has counted anything: wait for its comment
    browser.wait(lambda: "Transferring records (" in browser.text("#transfers tr.transfer"),
                 "the transfer's progress comment")

    def shown():  # one row's cells and bar, read together (each refresh draws a new row)
        row = browser.element("#transfers tr.transfer")
        bar = row.find_element("css selector", "progress").get_dom_attribute("value")
        return [c.text for c in row.find_elements("css selector", "td")], bar

    cells, bar = browser.wait(shown, "the transfer's row")
    assert cells[:3] == ["2", str(holders[0]), str(spare)]
    copied, total = map(int, re.search(r"\((\d+)/(\d+)\)", cells[4]).groups())
    assert float(bar) == pytest.approx(copied / total) and 0 < total <= 300
    browser.screenshot("03-transfer")
    (running,) = _transfers(cluster[1])
    assert (running["shard_id"], running["from"], running["to"]) == (2, holders[0], spare)

    browser.click("#transfers .abort-transfer")
    assert "Abort the transfer of shard 2" in browser.text("#confirm-text")
    browser.confirm()
    wait_until(lambda: _transfers(cluster[1]) == [], 30, "the transfer gone")
    browser.element("#no-transfers")
    wait_until(lambda: (2, spare) not in _api_grid(cluster[1]), 30, "no replica on the spare")
    assert browser.errors() == []


def test_a_refused_operation_is_shown(browser, cluster):
    """Shard 1 dropped to one replica, then the last one: the node refuses, the page says so."""
    first, last = sorted(peer for (shard, peer) in _api_grid(cluster[1]) if shard == 1)
    browser.click(f'#shard-grid td[data-shard="1"][data-peer="{first}"]')
    browser.click("#drop-replica")
    browser.confirm()
    browser.wait(lambda: (1, first) not in _shown_grid(browser), "one replica of shard 1 left")
    browser.click(f'#shard-grid td[data-shard="1"][data-peer="{last}"]')
    browser.click("#drop-replica")
    browser.confirm()
    error = browser.wait(lambda: browser.errors(), "the refusal")[0]
    assert error.startswith(f"POST /collections/{NAME}/cluster failed (4")
    assert (1, last) in _api_grid(cluster[1])
    browser.screenshot("04-refused")


def test_swagger_ui_renders_from_the_nodes_own_files(browser, cluster):
    browser.open(f"{cluster[0].url}/docs")
    operations = browser.wait(lambda: len(browser.all(".swagger-ui .opblock")) > 50 and
                              browser.all(".swagger-ui .opblock"), "Swagger's operations", 30)
    assert any("/collections/{name}/points/query" in o.text for o in operations)
    browser.screenshot("05-swagger")
