"""The CPU-per-request figures of bench.redeem_vs_correlate: read from /proc, and summed up."""

from __future__ import annotations

import os
import time

import pytest

from bench.cpu import cpu_seconds
from bench.redeem_vs_correlate import Sample, summary


def _sample(round_: int, variant: str, rate: float, cpu_ms: float | None) -> Sample:
    return Sample(
        round_, False, 0.1, "redeem-standin", variant, 100, rate, 1.0, 2.0, 0, True, cpu_ms
    )


def test_cpu_seconds_counts_the_work_a_process_does() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    # /proc counts in ticks of 10 ms: 50 ms of work shows as at least 30.
    assert cpu_seconds(os.getpid()) - before >= 0.03


def test_a_process_that_is_gone_has_used_nothing() -> None:
    assert cpu_seconds(2**22 + 1) == 0.0  # above the kernel's largest pid


def test_the_cpu_ratio_is_the_bare_servers_cpu_per_request_over_ours() -> None:
    samples = [
        _sample(1, "ours", 500, 1.5),
        _sample(1, "bare", 1000, 0.6),
        _sample(2, "ours", 400, 1.2),
        _sample(2, "bare", 1200, 0.6),
    ]
    rows = {row.get("ratio") or row.get("variant"): row for row in summary(samples)}
    by_cpu = rows["ours÷bare by CPU"]["spread"]
    assert by_cpu == pytest.approx({"min": 0.4, "median": 0.45, "max": 0.5})
    assert rows["ours÷bare"]["spread"]["median"] == pytest.approx((0.5 + 400 / 1200) / 2)
    assert rows["ours"]["cpu_ms"]["median"] == pytest.approx(1.35)


def test_no_cpu_ratio_where_a_side_has_no_cpu_figure() -> None:
    samples = [_sample(1, "ours", 500, 1.5), _sample(1, "direct", 800, None)]
    rows = summary(samples)
    assert [row["ratio"] for row in rows if "ratio" in row] == ["ours÷direct"]
    assert "cpu_ms" not in next(row for row in rows if row.get("variant") == "direct")
