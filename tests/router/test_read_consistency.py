"""Read consistency: Qdrant's plan (replicas asked, agreement needed) and answer resolution."""

import numpy as np
import pytest

from node.shard_search import PointRecord
from router.collection import read_consistency as rc


@pytest.mark.parametrize(
    "value,total,expected",
    [
        (None, 3, (1, 1)), (1, 3, (1, 1)), (2, 3, (2, 2)), (9, 3, (3, 3)),
        ("majority", 3, (3, 2)), ("majority", 4, (4, 3)), ("quorum", 3, (2, 2)),
        ("quorum", 4, (3, 3)), ("all", 3, (3, 3)), ("all", 1, (1, 1)),
    ],
)
def test_plan_follows_qdrants_code(value, total, expected):
    assert rc.plan(value, total) == expected


def test_parse_accepts_qdrants_values_and_refuses_others():
    assert rc.parse("majority") == "majority"
    assert rc.parse("3") == 3
    assert rc.parse(None) is None
    for bad in ("most", "0", "-1", "1.5"):
        with pytest.raises(rc.ConsistencyFormatError):
            rc.parse(bad)


def _rec(i, payload=None, vec=(1.0,), score=None):
    return PointRecord(i, 0, payload or {"a": i}, {"": np.array(vec, np.float32)}, score)


def test_majority_keeps_items_most_replicas_agree_on():
    a = [_rec(1), _rec(2), _rec(3)]
    b = [_rec(1), _rec(2, {"a": 99}), _rec(3)]
    c = [_rec(1), _rec(2), _rec(3, vec=(2.0,))]
    kept = rc.resolve([a, b, c], needed=2, majority=True)
    assert [r.id for r in kept] == [1, 2, 3]
    assert kept[1].payload == {"a": 2}
    assert kept[2].vectors[""].tolist() == [1.0]


def test_all_keeps_only_items_identical_everywhere():
    a = [_rec(1), _rec(2)]
    b = [_rec(1), _rec(2, {"a": 99})]
    assert [r.id for r in rc.resolve([a, b], needed=2, majority=False)] == [1]


def test_counts_take_min_or_median():
    assert rc.resolve([5, 3, 4], 3, majority=False) == 3
    assert rc.resolve([5, 3, 4], 2, majority=True) == 4


def test_batched_search_answers_resolve_per_query():
    a = [[_rec(1, score=0.5)], [_rec(2, score=0.1)]]
    b = [[_rec(1, score=0.5)], [_rec(3, score=0.1)]]
    out = rc.resolve([a, b], needed=2, majority=False)
    assert [[r.id for r in q] for q in out] == [[1], []]


def test_grpc_read_consistency_field_maps_to_the_rest_values():
    from qdrant_client import grpc as pb

    from router.api.grpc.services import _read_consistency

    def scroll(**kw):
        return pb.ScrollPoints(collection_name="c", **kw)

    assert _read_consistency(scroll()) is None
    assert _read_consistency(scroll(read_consistency=pb.ReadConsistency(factor=3))) == 3
    majority = pb.ReadConsistency(type=pb.ReadConsistencyType.Majority)
    assert _read_consistency(scroll(read_consistency=majority)) == "majority"
    assert _read_consistency(pb.UpsertPoints(collection_name="c")) is None
