"""Latency percentiles, as the benchmarks report them: pure, no I/O."""

from __future__ import annotations

import math


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with ``fraction`` of all at or below it.

    Nearest rank rather than interpolation, so a reported p99 is a latency some request
    actually had.
    """
    if not values:
        raise ValueError("no values")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction {fraction} is not in (0, 1]")
    ordered = sorted(values)
    # Rounded first: 0.29 * 100 is 28.999…, whose ceiling would be one rank too low.
    rank = max(1, math.ceil(round(len(ordered) * fraction, 9)))
    return ordered[rank - 1]
