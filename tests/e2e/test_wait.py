"""wait=true / wait=false semantics, ordering, and synchronous validation with wait=false."""

from __future__ import annotations

import pytest
from qdrant_client import models

from tests.support import api
from tests.support.api import create_collection, error, ok, update_ok, wait_until


@pytest.fixture
def coll(http, collection_name):
    create_collection(http, collection_name, {"vectors": {"size": 4, "distance": "Dot"}})
    return collection_name


def test_wait_true_is_completed_and_visible_at_once(http, coll):
    for i in range(1, 21):
        result = update_ok(
            http.put(f"/collections/{coll}/points", params={"wait": "true"},
                     json={"points": [{"id": i, "vector": [i, 0, 0, 1], "payload": {"i": i}}]}),
            wait=True,
        )
        assert result["status"] == "completed"
        # no polling: the very next read sees it
        recs = api.retrieve(http, coll, [i])
        assert [r["id"] for r in recs] == [i]
        assert api.count(http, coll) == i
        hits = api.query(http, coll, {"query": [1, 0, 0, 0], "limit": 1})
        assert hits[0]["id"] == i


def test_wait_false_is_acknowledged_then_visible(http, coll):
    result = update_ok(
        http.put(f"/collections/{coll}/points", params={"wait": "false"},
                 json={"points": [{"id": i, "vector": [1, 2, 3, i]} for i in range(1, 51)]}),
        wait=False,
    )
    assert result["status"] == "acknowledged"
    wait_until(lambda: api.count(http, coll) == 50, timeout=5, what="50 points visible")
    wait_until(lambda: len(api.retrieve(http, coll, [50])) == 1, timeout=5,
               what="point 50 retrievable")


def test_wait_default_is_false(http, coll):
    resp = http.put(f"/collections/{coll}/points",
                    json={"points": [{"id": 1, "vector": [1, 1, 1, 1]}]})
    result = ok(resp)
    assert result["status"] in ("acknowledged", "completed")
    wait_until(lambda: api.count(http, coll) == 1, timeout=5, what="point visible")


def test_wait_false_for_other_updates(http, coll):
    api.upsert(http, coll, [{"id": 1, "vector": [1, 1, 1, 1]}, {"id": 2, "vector": [2, 2, 2, 2]}])
    api.post_update(http, f"/collections/{coll}/points/payload",
                    {"payload": {"x": 1}, "points": [1]}, wait=False)
    wait_until(lambda: api.retrieve(http, coll, [1])[0]["payload"] == {"x": 1}, timeout=5,
               what="payload set")
    api.post_update(http, f"/collections/{coll}/points/delete", {"points": [2]}, wait=False)
    wait_until(lambda: api.count(http, coll) == 1, timeout=5, what="point deleted")


def test_later_writes_win_with_wait_false(http, coll):
    # Acknowledged writes are applied in order: the last one wins.
    for v in range(1, 11):
        api.upsert(http, coll, [{"id": 1, "vector": [v, 0, 0, 0], "payload": {"v": v}}], wait=False)
    wait_until(lambda: api.retrieve(http, coll, [1])
               and api.retrieve(http, coll, [1])[0]["payload"] == {"v": 10},
               timeout=5, what="last write visible")
    # a waited write after them
    api.upsert(http, coll, [{"id": 2, "vector": [0, 0, 0, 1]}], wait=True)
    assert api.retrieve(http, coll, [1])[0]["payload"] == {"v": 10}


@pytest.mark.parametrize("ordering", ["weak", "medium", "strong"])
def test_ordering_accepted(http, client, coll, ordering):
    result = update_ok(
        http.put(f"/collections/{coll}/points", params={"wait": "true", "ordering": ordering},
                 json={"points": [{"id": 1, "vector": [1, 1, 1, 1]}]}),
        wait=True,
    )
    assert result["status"] == "completed"
    update_ok(http.post(f"/collections/{coll}/points/payload",
                        params={"wait": "true", "ordering": ordering},
                        json={"payload": {"o": ordering}, "points": [1]}))
    assert api.retrieve(http, coll, [1])[0]["payload"] == {"o": ordering}
    res = client.upsert(coll, points=[models.PointStruct(id=2, vector=[1.0, 0, 0, 0])],
                        ordering=models.WriteOrdering(ordering), wait=True)
    assert res.status == models.UpdateStatus.COMPLETED


def test_wait_false_still_validates_synchronously(http, coll):
    api.upsert(http, coll, [{"id": 1, "vector": [1, 1, 1, 1], "payload": {"keep": True}}])
    resp = http.put(f"/collections/{coll}/points", params={"wait": "false"},
                    json={"points": [{"id": 1, "vector": [1, 2, 3], "payload": {"keep": False}}]})
    error(resp, 400, message="Wrong input: Vector dimension error: expected dim: 4, got 3")
    resp = http.put(f"/collections/{coll}/points", params={"wait": "false"},
                    json={"points": [{"id": 2, "vector": []}]})
    # an empty vector is rejected at once (as a validation error or as a dimension error)
    assert resp.status_code in (400, 422), resp.text
    error(resp, resp.status_code)
    resp = http.put(f"/collections/{coll}/points", params={"wait": "false"},
                    json={"points": [{"id": 3, "vector": {"nope": [1, 2, 3, 4]}}]})
    error(resp, 400, message="Wrong input: Not existing vector name error: nope")
    # and nothing was applied, even later
    api.upsert(http, coll, [{"id": 9, "vector": [0, 0, 0, 1]}], wait=True)
    assert api.count(http, coll) == 2
    assert api.retrieve(http, coll, [1])[0]["payload"] == {"keep": True}


def test_wait_false_on_missing_collection_is_404(http, make_name):
    name = make_name("missing")
    resp = http.put(f"/collections/{name}/points", params={"wait": "false"},
                    json={"points": [{"id": 1, "vector": [1, 1, 1, 1]}]})
    error(resp, 404, message=f"Not found: Collection `{name}` doesn't exist!")
