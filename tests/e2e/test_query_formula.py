"""Formula queries (score boosting) through qdrant-client (REST and gRPC), each function checked
against the same formula evaluated in Python over the prefetched candidates: sum, mult, div
(with by_zero_default), neg, abs, sqrt, pow, exp, log10, ln, $score / $score[i], payload keys,
conditions, geo_distance, datetime / datetime_key, the three decays, defaults; and the errors."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import numpy as np
import pytest
from qdrant_client import models

from tests.e2e import query_reference as ref
from tests.support import api
from tests.support.api import create_collection, error

N = 150
DIM = 4
PREFETCH = 60
BASE = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)


def _payload(pid: int) -> dict:
    p = {
        "x": float(pid % 13),
        "y": pid % 5,
        "tag": "a" if pid % 3 == 0 else "b",
        "loc": {"lat": 40.0 + (pid % 10) * 0.5, "lon": 10.0 + (pid % 7) * 0.5},
        "ts": (BASE + dt.timedelta(hours=pid * 7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if pid % 4:
        p["z"] = pid * 0.1
    return p


@pytest.fixture(scope="module")
def data(node):
    http = node.http
    rng = np.random.default_rng(77)
    raw = rng.normal(size=(N, DIM)).astype(np.float32)
    ids = list(range(1, N + 1))
    payloads = {pid: _payload(pid) for pid in ids}
    name = f"formula_{uuid.uuid4().hex[:8]}"
    create_collection(http, name, {"vectors": {"size": DIM, "distance": "Dot"}})
    api.upsert(
        http,
        name,
        [
            {"id": pid, "vector": raw[i].tolist(), "payload": payloads[pid]}
            for i, pid in enumerate(ids)
        ],
    )
    yield name, ref.Data(ids, raw, "Dot", payloads)
    http.delete(f"/collections/{name}")


Q1 = [0.3, -0.2, 0.9, 0.1]
Q2 = [-0.5, 0.4, 0.1, 0.8]
TARGET_TS = "2024-03-10T12:00:00Z"
T0 = dt.datetime(2024, 3, 10, 12, tzinfo=dt.timezone.utc).timestamp()
ORIGIN = {"lat": 42.0, "lon": 11.0}


def _ts(p: dict) -> float:
    return (
        dt.datetime.strptime(p["ts"], "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=dt.timezone.utc)
        .timestamp()
    )


def _lam(kind: str, scale: float = 1.0, midpoint: float = 0.5) -> float:
    if kind == "lin":
        return (1 - midpoint) / scale
    if kind == "exp":
        return math.log(midpoint) / scale
    return math.log(midpoint) / scale**2


M = models
cond_a = M.FieldCondition(key="tag", match=M.MatchValue(value="a"))

# (id, expression, defaults, python(score, payload) -> float)
CASES = [
    (
        "sum",
        M.SumExpression(sum=["$score", M.MultExpression(mult=[0.5, "x"])]),
        None,
        lambda s, p: s + 0.5 * p["x"],
    ),
    ("mult", M.MultExpression(mult=["$score", "x", 2.0]), None, lambda s, p: s * p["x"] * 2),
    (
        "div_default",
        M.DivExpression(
            div=M.DivParams(left="x", right=M.SumExpression(sum=["y", -2]), by_zero_default=7.5)
        ),
        None,
        lambda s, p: 0.0 if p["x"] == 0 else (7.5 if p["y"] == 2 else p["x"] / (p["y"] - 2)),
    ),
    ("neg_abs", M.NegExpression(neg=M.AbsExpression(abs="$score")), None, lambda s, p: -abs(s)),
    ("sqrt", M.SqrtExpression(sqrt="x"), None, lambda s, p: math.sqrt(p["x"])),
    (
        "pow",
        M.PowExpression(pow=M.PowParams(base="x", exponent=1.5)),
        None,
        lambda s, p: p["x"] ** 1.5,
    ),
    ("exp", M.ExpExpression(exp="$score"), None, lambda s, p: math.exp(s)),
    (
        "log10",
        M.Log10Expression(log10=M.SumExpression(sum=["x", 1])),
        None,
        lambda s, p: math.log10(p["x"] + 1),
    ),
    (
        "ln",
        M.LnExpression(ln=M.SumExpression(sum=["y", 0.5])),
        None,
        lambda s, p: math.log(p["y"] + 0.5),
    ),
    (
        "condition",
        M.SumExpression(sum=["$score", M.MultExpression(mult=[2.0, cond_a])]),
        None,
        lambda s, p: s + (2.0 if p["tag"] == "a" else 0.0),
    ),
    (
        "defaults",
        M.SumExpression(sum=["$score", "z"]),
        {"z": -3.0},
        lambda s, p: s + p.get("z", -3.0),
    ),
    (
        "geo_gauss",
        M.GaussDecayExpression(
            gauss_decay=M.DecayParamsExpression(
                x=M.GeoDistance(
                    geo_distance=M.GeoDistanceParams(origin=M.GeoPoint(**ORIGIN), to="loc")
                ),
                scale=150000.0,
            )
        ),
        None,
        lambda s, p: math.exp(
            _lam("gauss", 150000.0)
            * ref.haversine(ORIGIN["lat"], ORIGIN["lon"], p["loc"]["lat"], p["loc"]["lon"]) ** 2
        ),
    ),
    (
        "datetime_exp",
        M.ExpDecayExpression(
            exp_decay=M.DecayParamsExpression(
                x=M.DatetimeKeyExpression(datetime_key="ts"),
                target=M.DatetimeExpression(datetime=TARGET_TS),
                scale=86400.0,
                midpoint=0.3,
            )
        ),
        None,
        lambda s, p: math.exp(_lam("exp", 86400.0, 0.3) * abs(_ts(p) - T0)),
    ),
    (
        "lin",
        M.LinDecayExpression(
            lin_decay=M.DecayParamsExpression(x="x", target=5.0, scale=10.0, midpoint=0.2)
        ),
        None,
        lambda s, p: max(0.0, 1 - _lam("lin", 10.0, 0.2) * abs(p["x"] - 5)),
    ),
    (
        "gauss_default_params",
        M.SumExpression(
            sum=["$score", M.GaussDecayExpression(gauss_decay=M.DecayParamsExpression(x="y"))]
        ),
        None,
        lambda s, p: s + math.exp(math.log(0.5) * p["y"] ** 2),
    ),
]


def _candidates(d: ref.Data, q) -> dict:
    return dict(ref.nearest(d, q, PREFETCH))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_formula_function(client, data, case):
    name, d = data
    _, expression, defaults, fn = case
    got = client.query_points(
        name,
        prefetch=models.Prefetch(query=Q1, limit=PREFETCH),
        query=models.FormulaQuery(formula=expression, defaults=defaults or {}),
        limit=12,
    ).points
    cands = _candidates(d, Q1)
    expected = {pid: np.float32(fn(float(s), d.payloads[pid])) for pid, s in cands.items()}
    ref.assert_scored(got, ref.ranked(expected, 12), rtol=1e-5, atol=1e-5)


def test_scores_of_several_prefetches_and_score_defaults(client, data):
    name, d = data
    got = client.query_points(
        name,
        prefetch=[models.Prefetch(query=Q1, limit=30), models.Prefetch(query=Q2, limit=30)],
        query=models.FormulaQuery(
            formula=models.SumExpression(
                sum=["$score[0]", models.MultExpression(mult=[2.0, "$score[1]"])]
            ),
            defaults={"$score[0]": -1.0},
        ),
        limit=20,
    ).points
    first, second = dict(ref.nearest(d, Q1, 30)), dict(ref.nearest(d, Q2, 30))
    union = set(first) | set(second)
    expected = {pid: np.float32(first.get(pid, -1.0) + 2.0 * second.get(pid, 0.0)) for pid in union}
    ref.assert_scored(got, ref.ranked(expected, 20), atol=1e-5)


def test_formula_errors(http, data):
    name, _ = data
    path = f"/collections/{name}/points/query"
    pre = {"query": Q1, "limit": 20}
    error(
        http.post(
            path,
            json={
                "prefetch": pre,
                "query": {"formula": {"div": {"left": 1, "right": {"mult": [0, "x"]}}}},
            },
        ),
        400,
        contains="non-finite",
    )
    error(
        http.post(
            path, json={"prefetch": pre, "query": {"formula": {"sum": ["$score", "missing_key"]}}}
        ),
        400,
        contains="missing_key",
    )
    error(
        http.post(
            path,
            json={
                "prefetch": pre,
                "query": {"formula": {"exp_decay": {"x": "x", "midpoint": 1.5}}},
            },
        ),
        422,
        contains="midpoint",
    )
    error(
        http.post(
            path,
            json={"prefetch": pre, "query": {"formula": {"gauss_decay": {"x": "x", "scale": 0}}}},
        ),
        422,
        contains="scale",
    )
    error(
        http.post(path, json={"prefetch": pre, "query": {"formula": "$bogus"}}),
        400,
        contains="$bogus",
    )
    error(
        http.post(path, json={"prefetch": pre, "query": {"formula": {"ln": {"neg": "$score"}}}}),
        400,
        contains="ln(",
    )
