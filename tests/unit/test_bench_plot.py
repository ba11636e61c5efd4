"""bench.plot: which panels a benchmark's PNG has, and what its bars and whiskers are."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bench.plot import MISSING, panels, plot


def spread(low: float, median: float, high: float) -> dict[str, float]:
    return {"min": low, "median": median, "max": high}


def test_a_throughput_benchmark_with_latencies_gets_both_panels_and_skips_ratio_rows() -> None:
    rows = [
        {"scenario": "page-get", "variant": "ours", "rate": spread(90, 100, 130),
         "p50_ms": spread(4, 5, 7), "p99_ms": spread(10, 12, 20)},
        {"scenario": "page-get", "variant": "bare", "rate": spread(120, 125, 126),
         "p50_ms": spread(3, 3, 3), "p99_ms": spread(8, 9, 9)},
        {"scenario": "page-get", "ratio": "ours÷bare", "spread": spread(0.7, 0.8, 1.0)},
    ]  # fmt: skip
    drawn = panels(rows)
    assert drawn.names == ["page-get\nours", "page-get\nbare"]
    assert drawn.ours == [True, False]
    assert drawn.throughput is not None
    assert drawn.throughput.medians == [100, 125]
    # Whiskers reach from the median down to the slowest round and up to the fastest.
    assert drawn.throughput.below == [10, 5]
    assert drawn.throughput.above == [30, 1]
    assert drawn.latency is not None
    p50, p99 = drawn.latency
    assert (p50.label, p50.medians) == ("p50", [5, 3])
    assert (p99.label, p99.medians, p99.above) == ("p99", [12, 9], [8, 0])


def test_the_worker_benchmark_has_throughput_only_and_the_latency_one_latency_only() -> None:
    worker = panels([{"scenario": "issue", "variant": "ours", "rate": spread(1, 2, 3)}])
    assert worker.throughput is not None
    assert worker.latency is None
    latency = panels(
        [{"scenario": "scaling", "variant": "large", "p50_ms": spread(3, 3, 4),
          "p99_ms": spread(5, 6, 9)}]
    )  # fmt: skip
    assert latency.throughput is None
    assert latency.latency is not None


def test_a_panel_some_variants_lack_is_not_drawn_half_filled() -> None:
    rows = [
        {"scenario": "a", "variant": "ours", "rate": spread(1, 2, 3), "p50_ms": spread(1, 1, 1),
         "p99_ms": spread(2, 2, 2)},
        {"scenario": "b", "variant": "ours", "rate": spread(1, 2, 3)},
    ]  # fmt: skip
    drawn = panels(rows)
    assert drawn.throughput is not None
    assert drawn.latency is None


def test_rows_with_nothing_to_draw_are_refused() -> None:
    with pytest.raises(ValueError, match="no variant rows"):
        panels([{"scenario": "a", "ratio": "ours÷bare", "spread": spread(1, 1, 1)}])
    with pytest.raises(ValueError, match="neither throughput nor latency"):
        panels([{"scenario": "a", "variant": "ours"}])


def test_without_matplotlib_no_png_is_written_and_the_note_says_how_to_get_one(
    tmp_path: Path,
) -> None:
    # The test extra does not install matplotlib (the bench extra does): the missing case
    # is the one CI can check; with it installed, the PNG must exist instead.
    path = tmp_path / "x.png"
    said = plot([{"scenario": "a", "variant": "ours", "rate": spread(1, 2, 3)}], path, "t")
    if importlib.util.find_spec("matplotlib") is None:
        assert said == MISSING
        assert not path.exists()
    else:
        assert said == f"plot: {path}"
        assert path.read_bytes().startswith(b"\x89PNG")


def test_ours_come_first_in_each_scenario_whatever_order_the_first_round_ran() -> None:
    rows = [
        {"scenario": "redeem", "variant": "bare", "rate": spread(1, 1, 1)},
        {"scenario": "redeem", "variant": "ours2p", "rate": spread(1, 1, 1)},
        {"scenario": "redeem", "variant": "ours", "rate": spread(1, 1, 1)},
        {"scenario": "get", "variant": "bare", "rate": spread(1, 1, 1)},
        {"scenario": "get", "variant": "ours", "rate": spread(1, 1, 1)},
    ]
    names = panels(rows).names
    assert names == ["redeem\nours", "redeem\nours2p", "redeem\nbare", "get\nours", "get\nbare"]


def test_a_panel_spanning_more_than_twenty_times_gets_a_log_axis() -> None:
    def rows(fast: float) -> list[dict[str, object]]:
        return [
            {"scenario": "redeem", "variant": "ours", "rate": spread(300, 400, 500),
             "p50_ms": spread(1, 1, 1), "p99_ms": spread(2, 2, 2)},
            {"scenario": "forged", "variant": "ours", "rate": spread(fast, fast, fast),
             "p50_ms": spread(1, 1, 1), "p99_ms": spread(30, 30, 30)},
        ]  # fmt: skip

    assert panels(rows(9000)).log_throughput
    assert not panels(rows(8000)).log_throughput
    # p99 30 ms beside a p50 of 1 ms: the latency panel spans 30 times.
    assert panels(rows(8000)).log_latency
