"""The dashboard in a real browser (headless Chromium) against a real node that has an API key:
the page asks for the key, then creates a collection with its form, browses points uploaded
through the API, runs a search and projects a sample, takes and downloads a snapshot, and shows
the API's errors. What the page shows is checked against what the API answers.

One browser session and one node for the whole module (a browser start costs ~1 s of CPU).
"""

from __future__ import annotations

import random
import time

import httpx
import numpy as np
import pytest

from tests.support.browser import Browser
from tests.support.node import Node

KEY = "dashboard-key"
READ_ONLY_KEY = "dashboard-read-only-key"  # service.read_only_api_key, where the node has it
AUTH = {"api-key": KEY}
COLORS = ("red", "green", "blue")
DIM = 6


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node(tmp_path_factory.mktemp("dashboard-node"), env={
        "QDRANT__SERVICE__API_KEY": KEY, "QDRANT__SERVICE__READ_ONLY_API_KEY": READ_ONLY_KEY})
    with n:
        yield n


@pytest.fixture(scope="module")
def api(node):
    with httpx.Client(base_url=node.url, headers=AUTH, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def browser(node, tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("dashboard-shots"))
    try:
        b.open(node.url + "/dashboard")
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def points(api):
    """A collection of 60 points (three colours, a nested payload) uploaded through the API."""
    assert api.put("/collections/items", json={"vectors": {"size": DIM, "distance": "Cosine"}}) \
        .status_code == 200
    rng = random.Random(25)
    records = [{"id": i, "vector": [round(rng.uniform(-1, 1), 4) for _ in range(DIM)],
                "payload": {"color": COLORS[i % 3], "rank": i, "meta": {"shelf": i // 10}}}
               for i in range(60)]
    assert api.put("/collections/items/points?wait=true", json={"points": records}) \
        .status_code == 200
    return records


def _result(resp: httpx.Response):
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


def test_the_page_asks_for_the_key_then_shows_the_collections(browser, points):
    browser.element("#key-dialog[open]")
    assert "Must provide an API key" in browser.text("#key-reason")
    assert any("401" in e for e in browser.errors())  # the refusal is shown, not swallowed
    browser.type("#key-input", KEY)
    browser.click("#key-save")
    row = browser.element('#collections-list tr[data-collection="items"]')
    assert row.find_element("css selector", ".points-count").text == "60"
    assert "6 · Cosine" in row.text
    assert browser.errors() == []
    browser.screenshot("01-collections")


def test_create_a_collection_with_the_form_and_see_the_api_error_for_a_second_one(browser, api):
    browser.go("#/collections")
    browser.type("#new-name", "made-in-ui")
    browser.type("#new-size", "8")
    browser.element("#new-distance").send_keys("Euclid")
    browser.type("#new-shards", "2")
    browser.click("#create-submit")
    browser.element('#collections-list tr[data-collection="made-in-ui"]')
    params = _result(api.get("/collections/made-in-ui"))["config"]["params"]
    assert params["vectors"] == {"size": 8, "distance": "Euclid"}
    assert params["shard_number"] == 2

    browser.type("#new-name", "made-in-ui")
    browser.click("#create-submit")
    error = browser.wait(lambda: browser.errors(), "the API's error shown")
    assert "409" in error[0] and "already exists" in error[0]
    browser.screenshot("02-create-error")

    row = browser.element('#collections-list tr[data-collection="made-in-ui"]')
    row.find_element("css selector", ".delete-collection").click()
    browser.element("#confirm-dialog[open]")
    browser.click("#confirm-cancel")  # cancelled: still there
    assert api.get("/collections/made-in-ui").status_code == 200
    row = browser.element('#collections-list tr[data-collection="made-in-ui"]')
    row.find_element("css selector", ".delete-collection").click()
    browser.confirm()
    browser.wait(lambda: not browser.all('tr[data-collection="made-in-ui"]'), "the row gone")
    assert api.get("/collections/made-in-ui").status_code == 404


def test_collection_detail_shows_config_and_makes_an_index(browser, api, points):
    browser.go("#/collections/items")
    assert browser.text("#detail-points") == "60"
    browser.type("#index-field", "color")
    browser.click("#main form button[type=submit]")
    row = browser.element('#payload-schema tr[data-field="color"]')
    assert "keyword" in row.text
    schema = _result(api.get("/collections/items"))["payload_schema"]
    assert schema["color"]["data_type"] == "keyword"
    assert '"distance": "Cosine"' in browser.text("pre.json")
    browser.screenshot("03-detail")


def _shown_ids(browser) -> list[int]:
    return [int(r.get_attribute("data-id")) for r in browser.all("#points-table tbody tr")]


def test_browse_points_with_a_filter_open_one_and_delete_two(browser, api, points):
    browser.go("#/points/items")
    browser.wait(lambda: len(_shown_ids(browser)) == 20, "a page of 20 points")
    assert _shown_ids(browser) == list(range(20))
    assert "meta:" in browser.find("#points-table tbody tr td.payload").text  # a tree
    browser.click("#next-page")
    browser.wait(lambda: _shown_ids(browser) == list(range(20, 40)), "the second page")

    browser.set_value("#filter-editor", '{"must": [{"key": "color"')
    assert browser.text("#filter-problem").startswith("Not valid JSON")
    browser.set_value("#filter-editor", '{"where": {}}')
    assert "Unknown filter clause" in browser.text("#filter-problem")
    browser.set_value("#filter-editor", '{"must": [{"key": "color", "match": {"nope": 1}}]}')
    browser.click("#scroll-button")
    assert browser.wait(lambda: browser.errors(), "the node's refusal")[0].startswith(
        "POST /collections/items/points/scroll failed (400)")
    browser.find("#messages .close").click()

    red = {"must": [{"key": "color", "match": {"value": "red"}}]}
    browser.set_value("#filter-editor", '{"must": [{"key": "color", "match": {"value": "red"}}]}')
    browser.click("#scroll-button")
    expected = [p["id"] for p in _result(api.post(
        "/collections/items/points/scroll", json={"filter": red, "limit": 20}))["points"]]
    browser.wait(lambda: _shown_ids(browser) == expected, "only the red points")
    assert all(i % 3 == 0 for i in expected) and len(expected) == 20

    browser.find('#points-table tr[data-id="3"] a.open-point').click()
    assert '"shelf": 0' in browser.element("#point-detail pre").text
    browser.screenshot("04-points")

    for pid in (0, 3):
        browser.find(f'#points-table tr[data-id="{pid}"] input.pick').click()
    browser.click("#delete-selected")
    browser.confirm()
    browser.wait(lambda: 0 not in _shown_ids(browser) and _shown_ids(browser), "0 and 3 gone")
    count = _result(api.post("/collections/items/points/count", json={"exact": True}))["count"]
    assert count == 58
    assert api.get("/collections/items/points/3").status_code == 404


def test_search_console_runs_a_query_and_projects_a_sample(browser, api, points):
    browser.go("#/search/items")
    query = {"query": points[7]["vector"], "limit": 5, "with_payload": True}
    browser.element("#query-editor")
    browser.set_value("#query-editor", str(query).replace("'", '"').replace("True", "true"))
    browser.click("#run-query")
    rows = browser.wait(lambda: browser.all("#hits-table tbody tr"), "the hits")
    answer = _result(api.post("/collections/items/points/query", json=query))["points"]
    assert [int(r.get_attribute("data-id")) for r in rows] == [p["id"] for p in answer]
    scores = [float(r.find_element("css selector", ".score").text) for r in rows]
    assert scores == pytest.approx([p["score"] for p in answer], abs=1e-4)

    browser.element("#projection")
    hits = browser.all("#projection circle.hit")
    assert sorted(int(c.get_attribute("data-id")) for c in hits) == sorted(p["id"] for p in answer)
    assert len(browser.all("#projection circle")) == 58  # every point left, once
    browser.screenshot("05-search")

    browser.set_value("#query-editor", '{"query": [1, 2]}')  # the wrong size
    browser.click("#run-query")
    assert "400" in browser.wait(lambda: browser.errors(), "the dimension error")[0]


def test_the_projection_is_the_principal_components(browser):
    """The browser's PCA against numpy's SVD: the same plane, up to the sign of each axis."""
    rng = np.random.default_rng(7)
    data = rng.normal(size=(80, 5)) * np.array([5.0, 3.0, 1.0, 0.5, 0.1])
    data = data @ np.linalg.qr(rng.normal(size=(5, 5)))[0]
    got = np.array(browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('./js/pca.js').then((m) => { const p = m.pca(arguments[0]);"
        " done(arguments[0].map(p.project)); });", data.tolist()))
    centred = data - data.mean(axis=0)
    axes = np.linalg.svd(centred, full_matrices=False)[2][:2]
    want = centred @ axes.T
    for k in range(2):
        sign = np.sign(got[:, k] @ want[:, k])
        assert got[:, k] * sign == pytest.approx(want[:, k], abs=1e-6)


def test_snapshots_are_created_listed_and_downloaded(browser, api, points):
    downloads = browser.shots / "downloads"
    downloads.mkdir()
    browser.driver.execute_cdp_cmd("Page.setDownloadBehavior",
                                   {"behavior": "allow", "downloadPath": str(downloads)})
    browser.go("#/snapshots/items")
    browser.element("#snapshots-list .empty")
    browser.click("#create-snapshot")
    row = browser.element("#snapshots-table tbody tr")
    listed = _result(api.get("/collections/items/snapshots"))
    assert [s["name"] for s in listed] == [row.get_attribute("data-snapshot")]
    row.find_element("css selector", ".download-snapshot").click()
    target = downloads / listed[0]["name"]
    browser.wait(lambda: target.exists() and target.stat().st_size == listed[0]["size"],
                 "the downloaded snapshot")
    browser.screenshot("06-snapshots")


def test_single_node_cluster_view_and_the_assets(browser, node):
    browser.go("#/cluster")
    assert "runs alone" in browser.text("#cluster-disabled")
    # static files are open without the key; the API stays closed; no path escapes the folder
    for path, kind in (("/dashboard/", "text/html"), ("/dashboard/js/app.js", "text/javascript"),
                       ("/dashboard/css/dashboard.css", "text/css")):
        resp = httpx.get(node.url + path, timeout=10)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith(kind), path
    assert httpx.get(node.url + "/dashboard", timeout=10).status_code == 307
    # (httpx folds a literal "/../" away itself: the node sees these as "..")
    for path in ("/dashboard/js/missing.js", "/dashboard/%2e%2e/dashboard.py",
                 "/dashboard/%2e%2e%2fdashboard.py", "/dashboard/%2e%2e/collections"):
        assert httpx.get(node.url + path, timeout=10).status_code == 404, path
    assert httpx.get(node.url + "/collections", timeout=10).status_code == 401
    started = time.monotonic()
    docs = httpx.get(node.url + "/docs", headers=AUTH, timeout=10)
    assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text
    assert "https://" not in docs.text  # no CDN
    redoc = httpx.get(node.url + "/redoc", headers=AUTH, timeout=10)
    assert "/docs/assets/redoc.standalone.js" in redoc.text and "https://" not in redoc.text
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"):
        asset = httpx.get(f"{node.url}/docs/assets/{name}", headers=AUTH, timeout=10)
        assert asset.status_code == 200 and len(asset.content) > 1000, name
    assert time.monotonic() - started < 10


def test_a_read_only_key_hides_the_write_controls(browser, api, node):
    probe = httpx.get(f"{node.url}/collections", headers={"api-key": READ_ONLY_KEY}, timeout=10)
    if probe.status_code == 401:
        pytest.skip("this node has no read-only key (service.read_only_api_key)")
    browser.go("#/collections")
    browser.click("#api-key-button")
    browser.type("#key-input", READ_ONLY_KEY)
    browser.click("#key-save")
    row = browser.element('#collections-list tr[data-collection="items"]')  # reads work
    row.find_element("css selector", ".delete-collection").click()
    browser.confirm()
    assert "403" in browser.wait(lambda: browser.errors(), "the refusal")[0]
    browser.wait(lambda: not browser.find("#create-collection").is_displayed(), "the form hidden")
    assert api.get("/collections/items").status_code == 200
    browser.screenshot("07-read-only")

    browser.click("#api-key-button")  # the full key again: the write controls come back
    browser.type("#key-input", KEY)
    browser.click("#key-save")
    assert browser.element("#create-collection").is_displayed()
