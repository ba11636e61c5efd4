"""Where a benchmark's result goes: ``bench/results/NAME.json`` and ``NAME.png`` (git ignores
the folder), with the command, the time, the load each round started at and the summary
rows that :mod:`bench.plot` draws and :mod:`bench.report` holds to the goals.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bench.plot import plot
from bench.quiet import Quiet

RESULTS = Path(__file__).resolve().parent / "results"


class Measured(Protocol):
    """What every benchmark's sample says of itself."""

    @property
    def round(self) -> int: ...
    @property
    def warmup(self) -> bool: ...
    @property
    def scenario(self) -> str: ...
    @property
    def variant(self) -> str: ...


S = TypeVar("S", bound=Measured)


def by_scenario(samples: Sequence[S]) -> Iterator[tuple[str, dict[int, dict[str, S]]]]:
    """The kept samples (no warm-ups) of each scenario, in the order first run, as round →
    variant → sample."""
    kept = [s for s in samples if not s.warmup]
    for scenario in dict.fromkeys(s.scenario for s in kept):
        rounds: dict[int, dict[str, S]] = {}
        for s in kept:
            if s.scenario == scenario:
                rounds.setdefault(s.round, {})[s.variant] = s
        yield scenario, rounds


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def loads_seen(samples: Sequence[dict[str, Any]], limits: Quiet) -> dict[str, Any]:
    """The load every round started at (warm-ups included), and how many were not quiet."""
    rounds = {s["round"]: s for s in samples}
    return {
        "max_load": limits.max_load,
        "max_wait_s": limits.max_wait_s,
        "load": spread([s["load"] for s in rounds.values()]),
        "waited_s": sum(s["waited_s"] for s in rounds.values()),
        "rounds": len(rounds),
        "rounds_not_quiet": sum(not s["quiet"] for s in rounds.values()),
    }


def write(
    name: str,
    module: str,
    samples: Sequence[Any],
    rows: list[dict[str, Any]],
    limits: Quiet,
    **extra: Any,
) -> Path:
    """Write ``NAME.json`` and its plot; print where they went. ``samples`` are dataclasses."""
    found = [asdict(s) for s in samples]
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    seen = loads_seen(found, limits)
    result = {
        "at": at.isoformat(),
        "command": " ".join(["python -m", module, *sys.argv[1:]]),
        "cpus": os.cpu_count(),
        "quiet": seen,
        **extra,
        "summary": rows,
        "samples": found,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    load = seen["load"]
    title = (
        f"{result['command']}\n{at:%Y-%m-%d %H:%M} UTC, "
        f"load {load['min']:.1f}-{load['max']:.1f} at round starts, "
        f"{seen['rounds_not_quiet']} of {seen['rounds']} rounds not quiet"
    )
    print(plot(rows, RESULTS / f"{name}.png", title))
    print(f"result: {path}")
    return path
