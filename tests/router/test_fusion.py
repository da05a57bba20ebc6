"""router.query.fusion: RRF and DBSF on hand-made lists, against the definitions worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from node.shard_search import PointRecord
from router.query import fusion


def recs(*pairs) -> list[PointRecord]:
    return [PointRecord(id=i, version=0, score=s) for i, s in pairs]


def as_pairs(records):
    return [(r.id, float(r.score)) for r in records]


def close(got, expected):
    assert [i for i, _ in got] == [i for i, _ in expected]
    assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-6)


def test_rrf_positions_and_default_k():
    lists = [
        recs((2, 0.9), (1, 0.8)),
        recs((1, 0.7), (2, 0.6), (3, 0.5)),
        recs((5, 0.9), (3, 0.5), (1, 0.4)),
    ]
    got = as_pairs(fusion.rrf(lists))
    # k = 2: positions 0, 1, 2 give 1/2, 1/3, 1/4
    close(got, [(1, 1 / 3 + 1 / 2 + 1 / 4), (2, 1 / 2 + 1 / 3), (3, 1 / 4 + 1 / 3), (5, 1 / 2)])


def test_rrf_k_and_weights():
    lists = [recs((1, 0), (2, 0)), recs((2, 0), (1, 0))]
    close(as_pairs(fusion.rrf(lists, k=60)), [(1, 1 / 60 + 1 / 61), (2, 1 / 61 + 1 / 60)])
    weighted = as_pairs(fusion.rrf(lists, k=2, weights=[3.0, 1.0]))
    # weight w: 1 / ((p + 1) / w + k - 1)
    close(weighted, [(2, 1 / (2 / 3 + 1) + 1 / 2), (1, 1 / (1 / 3 + 1) + 1 / 3)])
    assert as_pairs(fusion.rrf([recs((7, 1))], weights=[0.0])) == [(7, 0.0)]


def test_rrf_ties_in_id_order():
    got = fusion.rrf([recs((9, 1.0)), recs((4, 1.0))])
    assert [r.id for r in got] == [4, 9]


def test_dbsf():
    a = recs((1, 0.9), (2, 0.5), (3, 0.1))
    b = recs((3, 10.0), (4, 4.0))
    got = dict(as_pairs(fusion.dbsf([a, b])))
    sa = np.array([0.9, 0.5, 0.1])
    lo, hi = sa.mean() - 3 * sa.std(ddof=1), sa.mean() + 3 * sa.std(ddof=1)
    sb = np.array([10.0, 4.0])
    lo_b, hi_b = sb.mean() - 3 * sb.std(ddof=1), sb.mean() + 3 * sb.std(ddof=1)
    expected = {
        1: (0.9 - lo) / (hi - lo),
        2: (0.5 - lo) / (hi - lo),
        3: (0.1 - lo) / (hi - lo) + (10 - lo_b) / (hi_b - lo_b),
        4: (4 - lo_b) / (hi_b - lo_b),
    }
    assert got == pytest.approx(expected, rel=1e-5)
    assert [r.id for r in fusion.dbsf([a, b])] == sorted(expected, key=lambda i: -expected[i])


def test_dbsf_single_point_and_equal_scores():
    assert as_pairs(fusion.dbsf([recs((1, 3.0))])) == [(1, 0.5)]
    assert as_pairs(fusion.dbsf([recs((1, 2.0), (2, 2.0))])) == [(1, 0.5), (2, 0.5)]
