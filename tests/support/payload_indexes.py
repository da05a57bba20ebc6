"""Helpers shared by the payload-index end-to-end tests (``tests/e2e/test_payload_index_*.py``).

Indexes are created / deleted over raw HTTP (so that the exact responses can be checked);
filters are run with qdrant-client on every transport.
"""

from __future__ import annotations

from qdrant_client import models

from tests.support import api
from tests.support import reference_filter as ref

VECTORS = {"size": 2, "distance": "Dot"}

U1, U2, U3 = (
    "3f0a6a4e-5d2b-4c1e-9a77-0b1c2d3e4f50",
    "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    "c0ffee00-1234-4abc-8def-0123456789ab",
)
BERLIN, PARIS, NYC, POTSDAM = (
    {"lon": 13.40, "lat": 52.52},
    {"lon": 2.35, "lat": 48.86},
    {"lon": -74.0, "lat": 40.71},
    {"lon": 13.06, "lat": 52.40},
)


def put_points(http, name, payloads: dict) -> None:
    points = [
        {"id": pid, "vector": [1.0, float(pid) if isinstance(pid, int) else 0.5], "payload": p}
        for pid, p in payloads.items()
    ]
    api.upsert(http, name, points)


def create_index(http, name, field, schema, wait=True) -> dict:
    return api.update_ok(
        http.put(
            f"/collections/{name}/index",
            params={"wait": "true" if wait else "false"},
            json={"field_name": field, "field_schema": schema},
        ),
        wait,
    )


def schema_of(http, name) -> dict:
    return api.collection_info(http, name)["payload_schema"]


def filter_model(flt):
    """A filter dict as qdrant-client's ``models.Filter`` (None stays None)."""
    return models.Filter.model_validate(flt) if flt is not None else None


def scroll_ids(client, name, flt) -> list:
    ids: list = []
    offset = None
    while True:
        records, offset = client.scroll(
            name, scroll_filter=filter_model(flt), limit=3, offset=offset, with_payload=False
        )
        ids.extend(r.id for r in records)
        if offset is None:
            return ids


def count(client, name, flt) -> int:
    return client.count(name, count_filter=filter_model(flt), exact=True).count


def check(client, names, flt, ids, payloads) -> None:
    """Every collection in ``names`` answers ``flt`` with ``ids`` (scroll and count), and the
    complement (``must_not``) with the other points; the reference evaluator agrees."""
    triples = [(pid, p, {""}) for pid, p in payloads.items()]
    assert ref.select(flt, triples) == ids, f"reference disagrees with the expectation for {flt}"
    rest = ref.select({"must_not": [flt]}, triples)
    for name in names:
        assert scroll_ids(client, name, flt) == ids, f"{name}: {flt}"
        assert count(client, name, flt) == len(ids), f"{name}: {flt}"
        assert scroll_ids(client, name, {"must_not": [flt]}) == rest, f"{name}: must_not {flt}"
