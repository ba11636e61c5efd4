"""The goals table of the last benchmark run, from the JSON results in ``bench/results``:

    python -m bench.report            # make bench runs it after the three benchmarks

Prints, per result, the command that wrote it, when, and the load its rounds started at;
then each goal of :mod:`bench.goals` with its measured median (min-max) and met / missed.
A result that is missing or unreadable shows as "no result", never as a crash.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.goals import GOALS, evaluate_all, table
from bench.results import RESULTS

# The table size issue 10's scaling goal is stated for.
GOAL_LINKS = 10_000_000


def read(folder: Path) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """Every result a goal needs that is in ``folder``, and a line for each that is not."""
    results: dict[str, Mapping[str, Any]] = {}
    notes: list[str] = []
    for name in dict.fromkeys(goal.result for goal in GOALS):
        path = folder / f"{name}.json"
        try:
            result = json.loads(path.read_text())
        except FileNotFoundError:
            notes.append(f"{path.name}: none yet")
            continue
        except (OSError, ValueError) as exc:
            notes.append(f"{path.name}: unreadable ({exc})")
            continue
        if isinstance(result, dict) and isinstance(result.get("summary"), list):
            results[name] = result
        else:
            notes.append(f"{path.name}: not a benchmark result (no summary)")
    return results, notes


def provenance(name: str, result: Mapping[str, Any]) -> list[str]:
    """Where a result came from and how quiet the machine was for it."""
    lines = [f"{name}.json: {result.get('command', '?')} at {result.get('at', '?')}"]
    seen = result.get("quiet")
    if seen:
        load = seen["load"]
        lines.append(
            f"  load {load['min']:.2f}-{load['max']:.2f} at the start of its {seen['rounds']} "
            f"rounds (waited {seen['waited_s']:.0f} s in all for < {seen['max_load']:.2f}; "
            f"{seen['rounds_not_quiet']} not quiet)"
        )
    links = result.get("links")
    if name == "latency" and links and "scaling" in {r["scenario"] for r in result["summary"]}:
        lines.append(f"  scaling: {links['large']:,} links ÷ {links['small']:,}")
        if links["large"] < GOAL_LINKS:
            lines.append(
                f"  (the goal is stated for {GOAL_LINKS:,}: python -m bench.latency "
                f"--scenario scaling --links {GOAL_LINKS}, about eleven minutes)"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the results")
    args = parser.parse_args()
    results, notes = read(args.results)
    print()
    for name, result in results.items():
        print("\n".join(provenance(name, result)))
    for note in notes:
        print(note)
    print()
    print("\n".join(table(evaluate_all(results))))


if __name__ == "__main__":
    main()
