"""bench.percentiles: the nearest-rank percentile the latency benchmark reports."""

from __future__ import annotations

import pytest

from bench.percentiles import percentile


def test_the_median_of_an_odd_count_is_the_middle_value_whatever_the_order() -> None:
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0


def test_nearest_rank_picks_a_value_that_occurred_never_an_interpolation() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0.5) == 2.0
    assert percentile(values, 0.51) == 3.0


def test_p99_of_a_hundred_is_the_99th_value_and_the_slowest_only_at_p100() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    # 0.29 * 100 is 28.999… in floats: the rank must still be 29, not 28 or 30.
    assert percentile(values, 0.29) == 29.0


def test_one_value_is_every_percentile() -> None:
    assert percentile([7.5], 0.01) == 7.5
    assert percentile([7.5], 0.99) == 7.5


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_a_fraction_outside_zero_to_one_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match="not in"):
        percentile([1.0, 2.0], fraction)


def test_no_values_is_refused_rather_than_reported_as_zero() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
