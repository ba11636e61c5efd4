"""bench.report: the goals table reads what the benchmarks wrote and survives what they did not."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import provenance, read


def test_missing_broken_and_foreign_results_are_notes_and_a_good_one_is_read(
    tmp_path: Path,
) -> None:
    (tmp_path / "latest.json").write_text(json.dumps({"summary": []}))
    (tmp_path / "latency.json").write_text("{not json")
    (tmp_path / "issue.json").write_text(json.dumps([1, 2]))
    results, notes = read(tmp_path)
    assert list(results) == ["latest"]
    assert notes[0].startswith("latency.json: unreadable (")
    assert notes[1] == "issue.json: not a benchmark result (no summary)"
    assert read(tmp_path / "nowhere") == (
        {},
        ["latest.json: none yet", "latency.json: none yet", "issue.json: none yet"],
    )


def test_a_result_says_its_command_time_and_the_load_its_rounds_started_at() -> None:
    result = {
        "command": "python -m bench.issue_vs_bare --quick",
        "at": "2026-11-29T11:04:31+00:00",
        "quiet": {
            "max_load": 1.0,
            "load": {"min": 0.5, "median": 0.9, "max": 3.25},
            "waited_s": 255.1,
            "rounds": 4,
            "rounds_not_quiet": 1,
        },
        "summary": [],
    }
    assert provenance("issue", result) == [
        "issue.json: python -m bench.issue_vs_bare --quick at 2026-11-29T11:04:31+00:00",
        "  load 0.50-3.25 at the start of its 4 rounds (waited 255 s in all for < 1.00; "
        "1 not quiet)",
    ]


def test_a_scaling_run_smaller_than_the_goal_says_so_and_how_to_run_the_goal_size() -> None:
    summary = [{"scenario": "scaling", "figure": "p50 large÷small", "spread": {}}]
    small = provenance(
        "latency", {"links": {"small": 10_000, "large": 1_000_000}, "summary": summary}
    )
    assert small[1] == "  scaling: 1,000,000 links ÷ 10,000"
    assert "--links 10000000" in small[2]
    full = provenance(
        "latency", {"links": {"small": 10_000, "large": 10_000_000}, "summary": summary}
    )
    assert full[1:] == ["  scaling: 10,000,000 links ÷ 10,000"]
