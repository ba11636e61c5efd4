"""Waiting for a quiet machine before a benchmark round, and saying what load it saw.

The machine is shared (two cores, other people's Postgres and engines): a round measured
while something else is busy says more about that than about us. Each round first waits
until the CPUs busy over the last second (``/proc/stat``, in CPUs: 1.0 is one core's worth)
are below ``--max-load``, polling every few seconds, for at most ``--max-wait`` seconds; then
it goes on anyway and says so, so a busy machine makes a run slower and its result marked,
never stuck.

Not the 1-minute load average: it decays by e a minute (from 4 to below 1 takes about 85 s),
so each round waited mostly for the load of the round before it, which had already ended.
"""

from __future__ import annotations

import argparse
import enum
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

# Half the cores: the two sides of a comparison, Postgres and the engine still find a core.
LOAD_PER_CPU = 0.5
MAX_WAIT_S = 120.0
POLL_S = 2.0


class Decision(enum.StrEnum):
    GO = "go"  # quiet enough
    WAIT = "wait"
    GIVE_UP = "give up"  # waited the longest allowed: measure anyway, marked as not quiet


@dataclass(frozen=True)
class Quiet:
    """How quiet a round waits for."""

    max_load: float
    max_wait_s: float


@dataclass(frozen=True)
class Seen:
    """The load a round started at, how long it waited for it, and whether it was quiet."""

    load: float
    waited_s: float
    quiet: bool


def default_max_load() -> float:
    return (os.cpu_count() or 1) * LOAD_PER_CPU


def decide(load: float, waited_s: float, limits: Quiet) -> Decision:
    """Whether a round may start at ``load`` after having waited ``waited_s``."""
    if load < limits.max_load:
        return Decision.GO
    if waited_s >= limits.max_wait_s:
        return Decision.GIVE_UP
    return Decision.WAIT


WINDOW_S = 1.0


def busy_cpus(window_s: float = WINDOW_S) -> float:
    """How many CPUs' worth were busy over the next ``window_s`` (blocks that long)."""
    before = _cpu_times()
    time.sleep(window_s)
    after = _cpu_times()
    total = sum(after) - sum(before)
    idle = (after[3] + after[4]) - (before[3] + before[4])  # idle and iowait
    return 0.0 if total <= 0 else (total - idle) / total * (os.cpu_count() or 1)


def _cpu_times() -> list[int]:
    with open("/proc/stat") as stat:
        fields = stat.readline().split()  # "cpu  user nice system idle iowait irq softirq ..."
    return [int(v) for v in fields[1:9]]


def wait_for_quiet(
    limits: Quiet,
    *,
    load: Callable[[], float] = busy_cpus,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll_s: float = POLL_S,
) -> Seen:
    """Poll ``load`` until :func:`decide` says go or give up; blocks (async callers use a thread).

    The last poll lands on the cap, not past it, so a run never waits longer than it says.
    """
    started = clock()
    while True:
        seen = load()
        waited_s = clock() - started
        decision = decide(seen, waited_s, limits)
        if decision is not Decision.WAIT:
            return Seen(seen, waited_s, quiet=decision is Decision.GO)
        sleep(max(0.0, min(poll_s, limits.max_wait_s - waited_s)))


def describe(seen: Seen, limits: Quiet) -> str:
    """The words a round's line uses for the load it started at."""
    if seen.quiet:
        waited = f" after waiting {seen.waited_s:.0f} s" if seen.waited_s >= 1 else ""
        return f"load {seen.load:.2f}{waited}"
    return (
        f"load {seen.load:.2f}, still not below {limits.max_load:.2f} "
        f"after {seen.waited_s:.0f} s: measured anyway (not quiet)"
    )


def start_round(number: int, total: int, warmup: bool, limits: Quiet) -> Seen:
    """Wait for a quiet machine before round ``number`` of ``total``, print the round's line
    (its load, and whether it is a warm-up) and return what was seen. Blocks: an async
    benchmark calls it in a thread, so its loop stays free meanwhile."""
    seen = wait_for_quiet(limits)
    print(
        f"round {number}/{total}{' (warm-up)' if warmup else ''}: {describe(seen, limits)}",
        flush=True,
    )
    return seen


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-load",
        type=float,
        default=default_max_load(),
        help="wait before each round until the CPUs busy over a second are below this "
        f"(default: {LOAD_PER_CPU} x the CPU count, {default_max_load():.1f} here)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=MAX_WAIT_S,
        help=f"seconds to wait for that at most, then measure anyway (default {MAX_WAIT_S:.0f})",
    )


def from_arguments(args: argparse.Namespace) -> Quiet:
    if args.max_load <= 0 or args.max_wait < 0:
        raise SystemExit("--max-load must be above 0 and --max-wait at least 0")
    return Quiet(max_load=args.max_load, max_wait_s=args.max_wait)
