"""The REST face's last resort, on the real ASGI app with a table of contents that fails the
way an unforeseen body would make code fail: a body that does not fit its operation's schema is
a 400 naming the field; anything else is a 500 whose request id is also in the log."""

from __future__ import annotations

import asyncio
import logging
import re

import httpx
import pytest

from router.api.rest import create_app
from router.api.rest.body_shapes import shape_problem


class TripwireToc:
    """Stands in for the table of contents: every metadata call trips over its body."""

    cluster_enabled = False

    def update_collection(self, name, body):
        raise TypeError("'list' object is not a mapping")

    def create_collection(self, name, body, timeout=30.0):
        raise KeyError("size")


def _call(method: str, path: str, body) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(TripwireToc()), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://tessera") as client:
            return await client.request(method, path, json=body)

    return asyncio.run(call())


def test_a_body_of_the_wrong_shape_is_a_400_that_names_the_field():
    resp = _call("PATCH", "/collections/c", {"strict_mode_config": [None, None]})
    assert resp.status_code == 400
    error = resp.json()["status"]["error"]
    assert error.startswith("Format error in JSON body: `strict_mode_config`: ")


def test_a_body_that_fits_its_schema_is_a_500_with_a_request_id_in_the_log(caplog):
    caplog.set_level(logging.ERROR)
    resp = _call("PUT", "/collections/c", {"vectors": {"size": 4, "distance": "Dot"}})
    assert resp.status_code == 500
    error = resp.json()["status"]["error"]
    found = re.fullmatch(r"Service internal error: 'size' \(request id ([0-9a-f]{16})\)", error)
    assert found, error
    assert any(found.group(1) in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("method", "route", "body", "field"),
    [
        ("PATCH", "/collections/{name}", b'{"strict_mode_config": [null]}', "strict_mode_config"),
        ("POST", "/collections/{name}/points/vectors/delete", b'{"points": [1], "vector": [{}]}',
         "vector.0"),
        ("PUT", "/collections/{name}/shards", b"[1, 2]", None),
        ("POST", "/collections/{name}/points/scroll", b'{"limit": "ten"}', "limit"),
    ],
)
def test_shape_problems_name_the_field(method, route, body, field):
    problem = shape_problem(method, route, body)
    assert problem is not None
    if field is not None:
        assert problem.startswith(f"`{field}`: "), problem


@pytest.mark.parametrize(
    ("method", "route", "body"),
    [
        ("PATCH", "/collections/{name}", b'{"params": {"replication_factor": 2}}'),
        ("PATCH", "/collections/{name}", b'{"an_unknown_key": 1}'),  # ignored, as Qdrant does
        ("POST", "/collections/{name}/points/scroll", b"not json"),
        ("GET", "/collections/{name}", b"{}"),
        ("PATCH", "/collections/{name}", b""),
    ],
)
def test_bodies_that_fit_or_are_not_json_have_no_shape_problem(method, route, body):
    assert shape_problem(method, route, body) is None
