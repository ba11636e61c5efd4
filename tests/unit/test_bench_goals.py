"""bench.goals: issue 10's goals held to a run's results, met or missed on the median."""

from __future__ import annotations

from typing import Any

import pytest

from bench.goals import GOALS, Direction, Goal, Status, evaluate, evaluate_all, table


def spread(low: float, median: float, high: float) -> dict[str, float]:
    return {"min": low, "median": median, "max": high}


def results(
    standin: float = 0.7,
    engine: float = 0.6,
    latency_ms: float = 1.5,
    forged: float = 0.9,
    page: float = 0.75,
    scaling: float = 1.05,
    worker: float = 0.95,
) -> dict[str, dict[str, Any]]:
    """Results shaped as the three benchmarks write them, each figure's median as given."""
    return {
        "latest": {
            "summary": [
                {"scenario": "redeem-standin", "variant": "ours", "rate": spread(1, 2, 3)},
                {"scenario": "redeem-standin", "ratio": "ours÷bare", "spread": spread(
                    standin - 0.1, standin, standin + 0.1)},
                {"scenario": "redeem-standin", "ratio": "ours2p÷bare", "spread": spread(
                    0.1, 0.1, 0.1)},
                {"scenario": "redeem-engine", "ratio": "ours÷direct", "spread": spread(
                    engine, engine, engine)},
                {"scenario": "redeem-engine", "ratio": "bare÷direct", "spread": spread(
                    0.9, 0.9, 0.9)},
                {"scenario": "forged-get", "ratio": "ours÷bare", "spread": spread(
                    forged, forged, forged)},
                {"scenario": "page-get", "ratio": "ours÷bare", "spread": spread(
                    page, page, page)},
            ]
        },
        "latency": {
            "summary": [
                {"scenario": "redeem-latency", "figure": "p50 ours-direct ms", "spread": spread(
                    latency_ms, latency_ms, latency_ms)},
                {"scenario": "scaling", "figure": "p50 large÷small", "spread": spread(
                    scaling, scaling, scaling)},
            ]
        },
        "issue": {
            "summary": [
                {"scenario": "issue", "ratio": "ours÷bare", "spread": spread(
                    worker, worker, worker)},
            ]
        },
    }  # fmt: skip


def by_name(found: dict[str, dict[str, Any]]) -> dict[str, Status]:
    return {v.goal.name: v.status for v in evaluate_all(found)}


def test_the_seven_goals_of_issue_10_are_written_once_with_their_bounds() -> None:
    bounds = {(g.scenario, g.figure): (g.direction, g.bound) for g in GOALS}
    assert bounds == {
        ("redeem-standin", "ours÷bare"): (Direction.AT_LEAST, 0.65),
        ("redeem-engine", "ours÷direct"): (Direction.AT_LEAST, 0.55),
        ("redeem-latency", "p50 ours-direct ms"): (Direction.AT_MOST, 2.0),
        ("forged-get", "ours÷bare"): (Direction.AT_LEAST, 0.8),
        ("page-get", "ours÷bare"): (Direction.AT_LEAST, 0.7),
        ("scaling", "p50 large÷small"): (Direction.AT_MOST, 1.2),
        ("issue", "ours÷bare"): (Direction.AT_LEAST, 0.9),
    }


def test_a_run_that_meets_every_goal_is_all_met() -> None:
    assert set(by_name(results()).values()) == {Status.MET}


@pytest.mark.parametrize(
    ("changed", "scenario"),
    [
        ({"standin": 0.64}, "redeem-standin"),
        ({"engine": 0.5}, "redeem-engine"),
        ({"latency_ms": 2.01}, "redeem-latency"),
        ({"forged": 0.79}, "forged-get"),
        ({"page": 0.3}, "page-get"),
        ({"scaling": 1.3}, "scaling"),
        ({"worker": 0.72}, "issue"),
    ],
)
def test_one_figure_on_the_wrong_side_misses_that_goal_only(
    changed: dict[str, float], scenario: str
) -> None:
    verdicts = evaluate_all(results(**changed))
    missed = [v.goal.scenario for v in verdicts if v.status is Status.MISSED]
    assert missed == [scenario]


def test_a_figure_exactly_at_its_bound_meets_the_goal_either_way() -> None:
    statuses = by_name(results(standin=0.65, latency_ms=2.0))
    assert set(statuses.values()) == {Status.MET}


def test_the_median_decides_not_the_best_or_worst_round() -> None:
    goal = Goal("x", "latest", "s", "ours÷bare", 0.65, Direction.AT_LEAST)
    found = {"latest": {"summary": [{"scenario": "s", "ratio": "ours÷bare", "spread": spread(
        0.3, 0.6, 0.9)}]}}  # fmt: skip
    verdict = evaluate(goal, found)
    assert verdict.status is Status.MISSED
    assert verdict.spread == spread(0.3, 0.6, 0.9)


def test_a_goal_whose_result_or_row_is_missing_has_no_result_rather_than_failing() -> None:
    found = results()
    del found["issue"]
    found["latency"]["summary"] = [
        row for row in found["latency"]["summary"] if row["scenario"] != "scaling"
    ]
    statuses = {v.goal.scenario: v.status for v in evaluate_all(found)}
    assert statuses["issue"] is Status.NO_RESULT
    assert statuses["scaling"] is Status.NO_RESULT
    assert statuses["redeem-latency"] is Status.MET


def test_a_ratio_of_another_pair_in_the_same_scenario_is_not_taken_for_the_goal() -> None:
    found = results()
    # Only the ours2p÷bare row is left: the goal is ours÷bare, so there is no result.
    found["latest"]["summary"] = [
        row for row in found["latest"]["summary"] if row.get("ratio") != "ours÷bare"
    ]
    statuses = {v.goal.scenario: v.status for v in evaluate_all(found)}
    assert statuses["redeem-standin"] is Status.NO_RESULT


def test_the_table_shows_each_goal_its_median_with_min_max_its_bound_and_status() -> None:
    found = results(standin=0.37)
    del found["issue"]
    lines = table(evaluate_all(found))
    standin = next(line for line in lines if line.startswith("redeem-standin"))
    assert standin.split()[-5:] == ["0.370", "(0.270-0.470)", "≥", "0.65", "missed"]
    worker = next(line for line in lines if line.startswith("worker"))
    assert worker.endswith("≥ 0.9  no result")
    assert lines[-1] == "5 of 7 goals met (on the median over rounds)"


def test_a_median_just_below_its_bound_does_not_read_as_the_bound() -> None:
    lines = table(evaluate_all(results(engine=0.5467)))
    engine = next(line for line in lines if line.startswith("redeem-engine"))
    assert engine.split()[-5:] == ["0.547", "(0.547-0.547)", "≥", "0.55", "missed"]
