"""The PNG every benchmark writes beside its JSON result: throughput (where the benchmark
measures one) and p50/p99 per variant, each bar the median over rounds with its min-max.

matplotlib is the ``bench`` extra (``make bench`` installs it; the tests do not need it):
without it :func:`plot` writes nothing and says why, and the benchmark still writes its JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MISSING = "no plot: matplotlib is not installed (pip install -e '.[bench]'; make bench does)"
# A panel whose bars span more than this factor gets a log axis: forged GETs run at thousands
# a second beside redemptions at hundreds, which would otherwise be slivers.
LOG_SPAN = 20.0


@dataclass(frozen=True)
class Bars:
    """One panel's bars: a median per variant and how far min and max lie below and above."""

    label: str
    medians: list[float]
    below: list[float]
    above: list[float]


@dataclass(frozen=True)
class Panels:
    names: list[str]  # "scenario\nvariant", one per bar position
    ours: list[bool]  # whether that variant is ours (ours, ours2p), not a reference
    throughput: Bars | None  # None: the benchmark measures no throughput
    latency: tuple[Bars, Bars] | None  # p50 and p99; None: it measures no latency

    @property
    def log_throughput(self) -> bool:
        return self.throughput is not None and _wide(self.throughput.medians)

    @property
    def log_latency(self) -> bool:
        return self.latency is not None and _wide([m for b in self.latency for m in b.medians])


def _wide(medians: list[float]) -> bool:
    """Whether the largest bar is more than LOG_SPAN times the smallest (a 0 always is)."""
    low = min(medians)
    return low <= 0 or max(medians) / low > LOG_SPAN


def _bars(label: str, rows: Sequence[dict[str, Any]], key: str) -> Bars:
    spreads = [row[key] for row in rows]
    return Bars(
        label,
        medians=[s["median"] for s in spreads],
        below=[s["median"] - s["min"] for s in spreads],
        above=[s["max"] - s["median"] for s in spreads],
    )


def _is_ours(variant: str) -> bool:
    return variant.startswith("ours")  # ours, ours2p; the rest are references


def panels(rows: Sequence[dict[str, Any]]) -> Panels:
    """What to draw from a benchmark's summary rows (the ones that name a variant).

    A panel is drawn only when every variant has its figure, so a half-filled panel never
    passes for a measurement. Scenarios keep their order; within one, ours come first, then
    the references, each by name (the rows follow whichever variant the first round happened
    to run first).
    """
    variants = [row for row in rows if "variant" in row]
    if not variants:
        raise ValueError("no variant rows to plot")
    scenarios = list(dict.fromkeys(row["scenario"] for row in variants))
    variants.sort(
        key=lambda row: (
            scenarios.index(row["scenario"]),
            not _is_ours(row["variant"]),
            row["variant"],
        )
    )
    names = [f"{row['scenario']}\n{row['variant']}" for row in variants]
    throughput = None
    if all("rate" in row for row in variants):
        throughput = _bars("per second", variants, "rate")
    latency = None
    if all("p50_ms" in row and "p99_ms" in row for row in variants):
        latency = (_bars("p50", variants, "p50_ms"), _bars("p99", variants, "p99_ms"))
    if throughput is None and latency is None:
        raise ValueError("the rows have neither throughput nor latency")
    ours = [_is_ours(row["variant"]) for row in variants]
    return Panels(names, ours, throughput, latency)


def plot(rows: Sequence[dict[str, Any]], path: Path, title: str) -> str:
    """Write the PNG of ``rows`` to ``path``; the line to print about it."""
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return MISSING
    drawn = panels(rows)
    count = (drawn.throughput is not None) + (drawn.latency is not None)
    fig, axes = plt.subplots(count, 1, figsize=(max(8, 1.3 * len(drawn.names)), 1 + 4 * count))
    axes = list(axes) if count > 1 else [axes]
    positions = list(range(len(drawn.names)))
    if drawn.throughput is not None:
        axis = axes.pop(0)
        t = drawn.throughput
        # Ours in colour, the references in grey: the pairs to compare stand out.
        colours = ["tab:blue" if ours else "tab:gray" for ours in drawn.ours]
        axis.bar(positions, t.medians, yerr=[t.below, t.above], capsize=4, color=colours)
        axis.set_ylabel(f"{t.label} (median, min-max)")
        if drawn.log_throughput:
            axis.set_yscale("log")
        axis.set_xticks(positions, drawn.names, fontsize=7)
    if drawn.latency is not None:
        axis = axes.pop(0)
        width = 0.4
        for offset, bars in zip((-width / 2, width / 2), drawn.latency, strict=True):
            axis.bar(
                [p + offset for p in positions],
                bars.medians,
                width,
                yerr=[bars.below, bars.above],
                capsize=3,
                label=bars.label,
            )
        axis.set_ylabel("ms (median, min-max)")
        if drawn.log_latency:
            axis.set_yscale("log")
        axis.set_xticks(positions, drawn.names, fontsize=7)
        axis.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return f"plot: {path}"
