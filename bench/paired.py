"""Paired measurements: two query targets measured in alternating windows.

The sweeps measure one system after another, minutes apart, and this machine's speed drifts
by 10-20% over minutes (other tenants, background work), which is as much as the margins the
targets are about. Here the two sides of a comparison take turns, window by window (A B, B A,
A B, ...), and the ratio of each adjacent pair of windows is kept: both sides see the same
machine, and the median of those ratios is what the targets are judged by.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from loadgen import Target, measure, warm


@dataclass
class Pair:
    """One comparison: QPS of side A and side B in alternating windows."""

    name: str
    a_label: str
    b_label: str
    clients: int
    window_s: float
    a_qps: list[float] = field(default_factory=list)
    b_qps: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.a_qps, self.b_qps, strict=True) if b > 0]

    @property
    def ratio(self) -> float | None:
        """Median over rounds of A's QPS / B's QPS in adjacent windows."""
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def a_median(self) -> float | None:
        return statistics.median(self.a_qps) if self.a_qps else None

    @property
    def b_median(self) -> float | None:
        return statistics.median(self.b_qps) if self.b_qps else None

    def to_json(self) -> dict:
        return {
            "a": self.a_label,
            "b": self.b_label,
            "clients": self.clients,
            "window_s": self.window_s,
            "a_qps": self.a_qps,
            "b_qps": self.b_qps,
            "ratio": self.ratio,
            "errors": self.errors,
        }


def measure_pair(
    name: str,
    a_label: str,
    a: Target,
    b_label: str,
    b: Target,
    clients: int,
    window_s: float,
    rounds: int,
    warmup_s: float,
) -> Pair:
    """`rounds` rounds of one window each for A and B; the order flips every round, so that
    neither side always follows the other."""
    pair = Pair(name, a_label, b_label, clients, window_s)
    warm(a, clients, warmup_s)
    warm(b, clients, warmup_s)
    for r in range(rounds):
        sides = [(a, pair.a_qps), (b, pair.b_qps)]
        if r % 2:
            sides.reverse()
        cells = [(measure(target, clients, window_s, 1), out) for target, out in sides]
        if any(cell.failed for cell, _ in cells):
            pair.errors += 1
            continue  # a round counts only with both windows
        for cell, out in cells:
            out.append(cell.qps)
            pair.errors += cell.errors
    return pair


def describe(pair: Pair) -> str:
    if pair.ratio is None:
        return f"{pair.name}: no round completed"
    return (
        f"{pair.name}: {pair.a_label} {pair.a_median:,.0f} QPS vs {pair.b_label} "
        f"{pair.b_median:,.0f} QPS (medians); median ratio of adjacent windows "
        f"{pair.ratio:.2f}× over {len(pair.ratios)} rounds of {pair.window_s:g} s windows, "
        f"{pair.clients} clients"
    )
