"""The gRPC conversions of filters: every condition kind as qdrant-client sends it arrives as
the REST JSON of the same filter, and compiles as it would over REST."""

from __future__ import annotations

import pytest
from qdrant_client import grpc as pb
from qdrant_client.conversions.conversion import RestToGrpc
from qdrant_client.http import models as m

from node.datetimes import parse_datetime
from node.errors import BadRequest
from router.api.grpc.from_grpc import filters as from_filters
from tests.router.grpc_conversions_support import CONDITIONS, rest_json, wire


def _normalize_datetimes(value):
    """Datetime bounds compare as instants (both sides write RFC 3339, maybe differently)."""
    if isinstance(value, dict):
        return {k: _normalize_datetimes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize_datetimes(v) for v in value]
    if isinstance(value, str) and value[:4].isdigit() and "T" in value:
        return parse_datetime(value)
    return value


@pytest.mark.parametrize("name", list(CONDITIONS))
def test_each_condition_kind_arrives_as_rest_json(name):
    flt = m.Filter(must=[CONDITIONS[name]])
    got = from_filters.filter_(wire(RestToGrpc.convert_filter(flt)))
    assert _normalize_datetimes(got) == _normalize_datetimes(rest_json(flt))


def test_whole_filter_with_every_clause_and_min_should():
    conditions = list(CONDITIONS.values())
    flt = m.Filter(
        must=conditions[:10],
        should=conditions[10:20],
        must_not=conditions[20:],
        min_should=m.MinShould(conditions=conditions[:3], min_count=2),
    )
    got = from_filters.filter_(wire(RestToGrpc.convert_filter(flt)))
    assert _normalize_datetimes(got) == _normalize_datetimes(rest_json(flt))


# conditions node/filters/ does not know yet (it rejects them the same way for REST)
NOT_COMPILED_YET = {"slice", "match_substring"}


@pytest.mark.parametrize("name", sorted(set(CONDITIONS) - NOT_COMPILED_YET))
def test_converted_conditions_compile(name):
    from node.filters import compile_filter

    flt = m.Filter(must=[CONDITIONS[name]])
    compile_filter(from_filters.filter_(RestToGrpc.convert_filter(flt)))


def test_empty_condition_is_bad_request():
    with pytest.raises(BadRequest):
        from_filters.filter_(pb.Filter(must=[pb.Condition()]))
