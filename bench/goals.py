"""Issue 10's performance goals, written once, and whether a run's results meet them: pure.

A goal names the result file, the scenario and the figure of a summary row that the
benchmark wrote (``ratio`` in ``latest.json`` and ``issue.json``, ``figure`` in
``latency.json``); it is met when that figure's median over rounds is on the right side of
its bound. ``python -m bench.report`` prints them all for the last run.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Direction(enum.StrEnum):
    AT_LEAST = "≥"
    AT_MOST = "≤"


class Status(enum.StrEnum):
    MET = "met"
    MISSED = "missed"
    NO_RESULT = "no result"  # the benchmark has not run, or its result lacks the figure


@dataclass(frozen=True)
class Goal:
    name: str
    result: str  # bench/results/<result>.json
    scenario: str
    figure: str  # the row's "ratio" or "figure"
    bound: float
    direction: Direction


@dataclass(frozen=True)
class Verdict:
    goal: Goal
    status: Status
    spread: Mapping[str, float] | None  # min, median, max over rounds; None: no result


GOALS = (
    Goal(
        "redeem-standin ours ÷ bare, requests/s",
        "latest", "redeem-standin", "ours÷bare", 0.65, Direction.AT_LEAST,
    ),
    Goal(
        "redeem-engine ours ÷ direct correlation, requests/s",
        "latest", "redeem-engine", "ours÷direct", 0.55, Direction.AT_LEAST,
    ),
    Goal(
        "p50 at concurrency 1, redemption - direct correlation, ms",
        "latency", "redeem-latency", "p50 ours-direct ms", 2.0, Direction.AT_MOST,
    ),
    Goal(
        "forged-token GET ours ÷ bare, requests/s",
        "latest", "forged-get", "ours÷bare", 0.8, Direction.AT_LEAST,
    ),
    Goal(
        "page GET ours ÷ bare, requests/s",
        "latest", "page-get", "ours÷bare", 0.7, Direction.AT_LEAST,
    ),
    Goal(
        "p50 with the large links table ÷ with 10k links",
        "latency", "scaling", "p50 large÷small", 1.2, Direction.AT_MOST,
    ),
    Goal(
        "worker links issued/s ÷ bare loop's tasks/s",
        "issue", "issue", "ours÷bare", 0.9, Direction.AT_LEAST,
    ),
)  # fmt: skip


def figure(goal: Goal, results: Mapping[str, Mapping[str, Any]]) -> Mapping[str, float] | None:
    """The goal's min/median/max in ``results`` (result name → its JSON), if it is there."""
    result = results.get(goal.result)
    if result is None:
        return None
    for row in result.get("summary", ()):
        name = row.get("ratio", row.get("figure"))
        if row.get("scenario") == goal.scenario and name == goal.figure:
            spread: Mapping[str, float] = row["spread"]
            return spread
    return None


def meets(value: float, goal: Goal) -> bool:
    if goal.direction is Direction.AT_LEAST:
        return value >= goal.bound
    return value <= goal.bound


def evaluate(goal: Goal, results: Mapping[str, Mapping[str, Any]]) -> Verdict:
    spread = figure(goal, results)
    if spread is None:
        return Verdict(goal, Status.NO_RESULT, None)
    status = Status.MET if meets(spread["median"], goal) else Status.MISSED
    return Verdict(goal, status, spread)


def evaluate_all(
    results: Mapping[str, Mapping[str, Any]], goals: tuple[Goal, ...] = GOALS
) -> list[Verdict]:
    return [evaluate(goal, results) for goal in goals]


def table(verdicts: list[Verdict]) -> list[str]:
    """The goals table's lines: goal, median (min-max), bound, met / missed."""
    width = max(len(v.goal.name) for v in verdicts)
    lines = [f"{'goal':{width}}  {'median (min-max)':>25}  {'bound':>6}  status"]
    for v in verdicts:
        if v.spread is None:
            measured = "—"
        else:
            s = v.spread
            # Three decimals: 0.547 against a bound of 0.55 must not read as 0.55.
            measured = f"{s['median']:.3f} ({s['min']:.3f}-{s['max']:.3f})"
        bound = f"{v.goal.direction} {v.goal.bound:g}"
        lines.append(f"{v.goal.name:{width}}  {measured:>25}  {bound:>6}  {v.status}")
    met = sum(v.status is Status.MET for v in verdicts)
    lines.append(f"{met} of {len(verdicts)} goals met (on the median over rounds)")
    return lines
