"""router.query.formula: parsing (errors and their kinds) and evaluation of each function."""

from __future__ import annotations

import math

import pytest

from node.errors import BadRequest, FormatError, ValidationFailed
from router.query.formula import PointContext, evaluate, parse_formula


def ev(expr, payload=None, scores=(1.5,), conditions=None, defaults=None):
    f = parse_formula(expr, defaults)
    return evaluate(
        f,
        PointContext(
            payload=payload or {},
            scores=list(scores),
            conditions=conditions or [False] * len(f.conditions),
        ),
    )


@pytest.mark.parametrize(
    "expr,expected",
    [
        (2, 2.0),
        ("$score", 1.5),
        ("$score[1]", -2.0),
        ("$score[5]", 0.0),
        ({"sum": ["$score", 1, "a"]}, 1.5 + 1 + 4),
        ({"mult": ["a", 0.5, "$score"]}, 3.0),
        ({"div": {"left": "a", "right": 8}}, 0.5),
        ({"div": {"left": "a", "right": 0, "by_zero_default": 9}}, 9.0),
        ({"div": {"left": 0, "right": 0}}, 0.0),
        ({"neg": "a"}, -4.0),
        ({"abs": {"neg": "a"}}, 4.0),
        ({"sqrt": "a"}, 2.0),
        ({"pow": {"base": "a", "exponent": 0.5}}, 2.0),
        ({"exp": 1}, math.e),
        ({"log10": 1000}, 3.0),
        ({"ln": "a"}, math.log(4)),
        ({"lin_decay": {"x": "a", "target": 2, "scale": 4, "midpoint": 0.5}}, 1 - 0.5 / 4 * 2),
        ({"exp_decay": {"x": "a", "scale": 2}}, math.exp(math.log(0.5) / 2 * 4)),
        ({"gauss_decay": {"x": "a", "target": 1, "midpoint": 0.25}}, math.exp(math.log(0.25) * 9)),
        ({"datetime": "1970-01-02T00:00:00Z"}, 86400.0),
        ({"datetime_key": "t"}, 3600.0),
        (
            {"geo_distance": {"origin": {"lat": 0, "lon": 0}, "to": "loc"}},
            2 * 6371008.8 * math.asin(math.sin(math.radians(1) / 2)),
        ),
    ],
)
def test_functions(expr, expected):
    payload = {"a": 4, "t": "1970-01-01T01:00:00Z", "loc": {"lat": 1.0, "lon": 0.0}}
    assert ev(expr, payload, scores=(1.5, -2.0)) == pytest.approx(expected, rel=1e-9)


def test_conditions_and_defaults():
    cond = {"key": "tag", "match": {"value": "x"}}
    assert ev({"sum": [cond, 1]}, conditions=[True]) == 2.0
    assert ev({"sum": [cond, 1]}, conditions=[False]) == 1.0
    assert ev({"sum": ["missing", "$score[2]"]}, defaults={"missing": 5, "$score[2]": 0.25}) == 5.25


@pytest.mark.parametrize(
    "expr,kind,text",
    [
        ({"div": {"left": 1, "right": 0}}, BadRequest, "non-finite"),
        ({"sqrt": -1}, BadRequest, "sqrt"),
        ({"ln": 0}, BadRequest, "ln"),
        ("nope", BadRequest, "nope"),
        ("$scores", BadRequest, "$scores"),
        ({"exp_decay": {"x": 1, "midpoint": 1}}, ValidationFailed, "midpoint"),
        ({"lin_decay": {"x": 1, "scale": -1}}, ValidationFailed, "scale"),
        ({"div": {"left": 1}}, FormatError, "right"),
        ([1, 2], FormatError, "Expression"),
    ],
)
def test_errors(expr, kind, text):
    with pytest.raises(kind) as info:
        ev(expr, {"a": 1})
    assert text in info.value.message
