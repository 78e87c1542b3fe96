"""Small order statistics: percentiles by linear interpolation, and a four-number summary."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks.

    The same definition as numpy's default (``linear``): for sorted ``v`` of length ``n``
    the rank is ``q/100 * (n - 1)``. Raises ValueError for no values or ``q`` out of range.
    """
    data = sorted(values)
    if not data:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0 or math.isnan(q):
        raise ValueError(f"percentile must be within 0..100, got {q!r}")
    rank = q / 100.0 * (len(data) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    fraction = rank - low
    return data[low] + (data[high] - data[low]) * fraction


@dataclass(frozen=True)
class Distribution:
    """min, p50, p95, max and the number of values."""

    count: int
    min: float
    p50: float
    p95: float
    max: float

    def to_json(self) -> dict[str, float | int]:
        return {"count": self.count, "min": self.min, "p50": self.p50, "p95": self.p95,
                "max": self.max}


def distribution(values: Iterable[float]) -> Distribution:
    """Summarise ``values``; raises ValueError when there are none."""
    data = sorted(values)
    if not data:
        raise ValueError("distribution of no values")
    return Distribution(
        count=len(data), min=data[0], p50=percentile(data, 50), p95=percentile(data, 95),
        max=data[-1],
    )
