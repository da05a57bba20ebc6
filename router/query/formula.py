"""Score formulas (``{"formula": …, "defaults": …}``): parsed once, evaluated per candidate point.

Expressions: numbers; strings (``"$score"``, ``"$score[i]"`` for the i-th prefetch's score, else a
payload key); filter conditions (1.0 when the point matches, else 0.0); and single-key operator
objects: ``sum``, ``mult``, ``div`` (``by_zero_default``), ``neg``, ``abs``, ``sqrt``, ``pow``,
``exp``, ``log10``, ``ln``, ``geo_distance`` (metres, haversine), ``datetime`` / ``datetime_key``
(seconds since the epoch), ``exp_decay`` / ``gauss_decay`` / ``lin_decay``.

Evaluation is in float64 and the final score is float32, as Qdrant does. A missing score is the
default for ``$score[i]`` or 0; a missing payload value is the default for its key or an error. A
result that is not finite (division by zero without default, sqrt or log of a negative number…)
is an error naming the expression.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from node.datetimes import parse_datetime
from node.errors import BadRequest, FormatError, ValidationFailed
from node.geo import haversine_m
from node.payload_path import get_values, parse_path

_SCORE_RE = re.compile(r"\$score(?:\[(\d+)\])?")
_UNARY = ("neg", "abs", "sqrt", "exp", "log10", "ln")
_LIST_OPS = ("sum", "mult")
_DECAYS = ("exp_decay", "gauss_decay", "lin_decay")
OPERATORS = (
    set(_UNARY)
    | set(_LIST_OPS)
    | set(_DECAYS)
    | {"div", "pow", "geo_distance", "datetime", "datetime_key"}
)


@dataclass
class Formula:
    """A parsed formula: the expression tree, the conditions it uses and the defaults."""

    root: tuple
    conditions: list[dict] = field(default_factory=list)
    payload_keys: set[str] = field(default_factory=set)
    score_defaults: dict[int, float] = field(default_factory=dict)
    payload_defaults: dict[str, Any] = field(default_factory=dict)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FormatError(f"invalid type: {value!r}, expected a number at `{what}`")
    return float(value)


def _decay_lambda(kind: str, params: dict) -> float:
    midpoint = params.get("midpoint")
    scale = params.get("scale")
    midpoint = 0.5 if midpoint is None else _number(midpoint, f"{kind}.midpoint")
    scale = 1.0 if scale is None else _number(scale, f"{kind}.scale")
    if kind == "lin_decay":
        if not 0.0 <= midpoint <= 1.0:
            raise ValidationFailed(
                f"Linear decay midpoint should be in the range [0.0, 1.0], got {midpoint}."
            )
    elif midpoint <= 0.0 or midpoint >= 1.0:
        raise ValidationFailed(f"Decay midpoint should be in the range (0.0, 1.0), got {midpoint}.")
    if scale <= 0.0:
        raise ValidationFailed(f"Decay scale should be non-zero positive, got {scale}.")
    if kind == "lin_decay":
        return (1.0 - midpoint) / scale
    if kind == "exp_decay":
        return math.log(midpoint) / scale
    return math.log(midpoint) / (scale * scale)


def parse_formula(raw: Any, defaults: Any = None) -> Formula:
    """The `formula` and `defaults` of a FormulaQuery → a Formula (errors for bad input)."""
    formula = Formula(root=())
    formula.root = _parse(raw, formula)
    if defaults is not None:
        if not isinstance(defaults, dict):
            raise FormatError("invalid type for `defaults`: expected an object")
        for key, value in defaults.items():
            match = _SCORE_RE.fullmatch(key)
            if match:
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    formula.score_defaults[int(match.group(1) or 0)] = float(value)
            else:
                formula.payload_defaults[key] = value
    return formula


def _parse(raw: Any, formula: Formula) -> tuple:
    if isinstance(raw, bool):
        raise FormatError("data did not match any variant of untagged enum Expression")
    if isinstance(raw, (int, float)):
        return ("const", float(raw))
    if isinstance(raw, str):
        if raw.startswith("$"):
            match = _SCORE_RE.fullmatch(raw)
            if match is None:
                raise BadRequest(f"Invalid reserved variable: {raw}")
            return ("score", int(match.group(1) or 0))
        parse_path(raw)  # a valid payload key
        formula.payload_keys.add(raw)
        return ("payload", raw)
    if not isinstance(raw, dict):
        raise FormatError("data did not match any variant of untagged enum Expression")
    if len(raw) == 1:
        ((op, arg),) = raw.items()
        if op in OPERATORS:
            return _parse_operator(op, arg, formula)
    # anything else is a filter condition
    from node.filters import compile_filter

    compile_filter({"must": [raw]})
    formula.conditions.append(raw)
    return ("condition", len(formula.conditions) - 1)


def _parse_operator(op: str, arg: Any, formula: Formula) -> tuple:
    if op in _LIST_OPS:
        if not isinstance(arg, list):
            raise FormatError(f"invalid type for `{op}`: expected a list of expressions")
        return (op, [_parse(x, formula) for x in arg])
    if op in _UNARY:
        return (op, _parse(arg, formula))
    if not isinstance(arg, (dict, str)):
        raise FormatError(f"invalid type for `{op}`")
    if op == "div":
        if not isinstance(arg, dict) or "left" not in arg or "right" not in arg:
            raise FormatError("missing field `left` or `right` in `div`")
        default = arg.get("by_zero_default")
        default = None if default is None else _number(default, "div.by_zero_default")
        return ("div", _parse(arg["left"], formula), _parse(arg["right"], formula), default)
    if op == "pow":
        if not isinstance(arg, dict) or "base" not in arg or "exponent" not in arg:
            raise FormatError("missing field `base` or `exponent` in `pow`")
        return ("pow", _parse(arg["base"], formula), _parse(arg["exponent"], formula))
    if op == "geo_distance":
        if not isinstance(arg, dict) or not isinstance(arg.get("to"), str):
            raise FormatError("missing field `to` in `geo_distance`")
        origin = arg.get("origin")
        if not isinstance(origin, dict) or "lat" not in origin or "lon" not in origin:
            raise FormatError("missing field `origin` in `geo_distance`")
        formula.payload_keys.add(arg["to"])
        return (
            "geo",
            _number(origin["lat"], "origin.lat"),
            _number(origin["lon"], "origin.lon"),
            arg["to"],
        )
    if op == "datetime":
        stamp = parse_datetime(arg) if isinstance(arg, str) else None
        if stamp is None:
            raise FormatError(f"invalid datetime: {arg!r}")
        return ("const", stamp / 1e9)
    if op == "datetime_key":
        if not isinstance(arg, str):
            raise FormatError("invalid type for `datetime_key`: expected a payload key")
        parse_path(arg)
        formula.payload_keys.add(arg)
        return ("datetime_key", arg)
    # decays
    if not isinstance(arg, dict) or "x" not in arg:
        raise FormatError(f"missing field `x` in `{op}`")
    target = arg.get("target")
    return (
        op,
        _parse(arg["x"], formula),
        None if target is None else _parse(target, formula),
        _decay_lambda(op, arg),
    )


@dataclass
class PointContext:
    """What a formula can see of one point."""

    payload: dict | None
    scores: list[float | None]  # its score in each prefetch, None when it was not there
    conditions: list[bool]


def evaluate(formula: Formula, point: PointContext) -> float:
    return _eval(formula.root, formula, point)


def _finite(value: float, text: Callable[[], str]) -> float:
    if math.isfinite(value):
        return value
    raise BadRequest(f"The expression {text()} produced a non-finite number")


def _payload_value(formula: Formula, point: PointContext, key: str) -> Any:
    values = get_values(point.payload or {}, key, flat=True)
    if len(values) == 1:
        return values[0]
    if len(values) > 1:
        return values
    if key in formula.payload_defaults:
        return formula.payload_defaults[key]
    raise BadRequest(f"Variable `{key}` has no value in the payload nor in the defaults")


def _eval(node: tuple, formula: Formula, point: PointContext) -> float:
    kind = node[0]
    if kind == "const":
        return node[1]
    if kind == "score":
        i = node[1]
        score = point.scores[i] if i < len(point.scores) else None
        if score is not None:
            return float(score)
        return formula.score_defaults.get(i, 0.0)
    if kind == "payload":
        value = _payload_value(formula, point, node[1])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadRequest(f"Expected a number for variable `{node[1]}`, got {value!r}")
        return float(value)
    if kind == "condition":
        return 1.0 if point.conditions[node[1]] else 0.0
    if kind == "geo":
        value = _payload_value(formula, point, node[3])
        if not isinstance(value, dict) or "lat" not in value or "lon" not in value:
            raise BadRequest(f"Expected a geo point for variable `{node[3]}`, got {value!r}")
        return haversine_m(node[2], node[1], float(value["lon"]), float(value["lat"]))
    if kind == "datetime_key":
        value = _payload_value(formula, point, node[1])
        stamp = parse_datetime(value) if isinstance(value, str) else None
        if stamp is None:
            raise BadRequest(f"Expected a datetime for variable `{node[1]}`, got {value!r}")
        return stamp / 1e9
    if kind == "sum":
        return sum((_eval(x, formula, point) for x in node[1]), 0.0)
    if kind == "mult":
        product = 1.0
        for x in node[1]:
            value = _eval(x, formula, point)
            if value == 0.0:
                return 0.0
            product *= value
        return product
    if kind == "div":
        left = _eval(node[1], formula, point)
        if left == 0.0:
            return 0.0
        right = _eval(node[2], formula, point)
        if right == 0.0 and node[3] is not None:
            return node[3]
        value = left / right if right != 0.0 else math.copysign(math.inf, left)
        return _finite(value, lambda: f"{left}/{right}")
    if kind == "neg":
        return -_eval(node[1], formula, point)
    if kind == "abs":
        return abs(_eval(node[1], formula, point))
    if kind == "sqrt":
        value = _eval(node[1], formula, point)
        return _finite(math.sqrt(value) if value >= 0 else math.nan, lambda: f"sqrt({value})")
    if kind == "pow":
        base = _eval(node[1], formula, point)
        exponent = _eval(node[2], formula, point)
        try:
            result = math.pow(base, exponent)
        except (ValueError, OverflowError):
            result = math.nan
        return _finite(result, lambda: f"{base}^{exponent}")
    if kind == "exp":
        value = _eval(node[1], formula, point)
        try:
            result = math.exp(value)
        except OverflowError:
            result = math.inf
        return _finite(result, lambda: f"exp({value})")
    if kind in ("log10", "ln"):
        value = _eval(node[1], formula, point)
        if value > 0:
            result = math.log10(value) if kind == "log10" else math.log(value)
        else:
            result = -math.inf if value == 0 else math.nan
        return _finite(result, lambda: f"{kind}({value})")
    # decays
    x = _eval(node[1], formula, point)
    target = 0.0 if node[2] is None else _eval(node[2], formula, point)
    lam = node[3]
    if kind == "exp_decay":
        return math.exp(lam * abs(x - target))
    if kind == "gauss_decay":
        return math.exp(lam * (x - target) ** 2)
    return max(0.0, -lam * abs(x - target) + 1.0)
