"""bench.quiet: a benchmark round waits for a quiet machine, for a while at most."""

from __future__ import annotations

import argparse

import pytest

from bench.quiet import (
    Decision,
    Quiet,
    Seen,
    add_arguments,
    decide,
    describe,
    from_arguments,
    start_round,
    wait_for_quiet,
)

LIMITS = Quiet(max_load=1.0, max_wait_s=120.0)


class FakeMachine:
    """A load average that reads from a script, and a clock that moves only when slept on."""

    def __init__(self, loads: list[float]) -> None:
        self.loads = loads
        self.now = 1000.0
        self.sleeps: list[float] = []

    def load(self) -> float:
        return self.loads.pop(0) if len(self.loads) > 1 else self.loads[0]

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def wait(self, limits: Quiet = LIMITS) -> Seen:
        return wait_for_quiet(
            limits, load=self.load, clock=self.clock, sleep=self.sleep, poll_s=5.0
        )


@pytest.mark.parametrize(
    ("load", "waited_s", "decision"),
    [
        (0.4, 0.0, Decision.GO),
        (0.99, 119.0, Decision.GO),
        (1.0, 0.0, Decision.WAIT),  # "below" the limit: at it is not quiet yet
        (3.5, 119.9, Decision.WAIT),
        (3.5, 120.0, Decision.GIVE_UP),
        (0.2, 500.0, Decision.GO),  # quiet wins even past the cap
    ],
)
def test_a_round_goes_when_the_load_is_below_the_limit_and_gives_up_at_the_cap(
    load: float, waited_s: float, decision: Decision
) -> None:
    assert decide(load, waited_s, LIMITS) is decision


def test_a_quiet_machine_starts_the_round_at_once_without_sleeping() -> None:
    machine = FakeMachine([0.3])
    assert machine.wait() == Seen(load=0.3, waited_s=0.0, quiet=True)
    assert machine.sleeps == []


def test_a_busy_machine_is_polled_until_its_load_falls_and_that_load_is_reported() -> None:
    machine = FakeMachine([2.5, 1.8, 1.2, 0.8, 0.1])
    seen = machine.wait()
    assert seen == Seen(load=0.8, waited_s=15.0, quiet=True)
    assert machine.sleeps == [5.0, 5.0, 5.0]


def test_a_machine_that_stays_busy_is_measured_anyway_after_the_cap_and_marked_not_quiet() -> None:
    machine = FakeMachine([4.0])
    seen = machine.wait(Quiet(max_load=1.0, max_wait_s=12.0))
    assert seen == Seen(load=4.0, waited_s=12.0, quiet=False)
    # The last sleep is cut to land on the cap, so a run never waits past what it says.
    assert machine.sleeps == [5.0, 5.0, 2.0]


def test_no_waiting_at_all_measures_at_once_whatever_the_load() -> None:
    machine = FakeMachine([9.0])
    assert machine.wait(Quiet(max_load=1.0, max_wait_s=0.0)) == Seen(9.0, 0.0, quiet=False)
    assert machine.sleeps == []


def test_the_round_line_says_how_long_it_waited_and_whether_it_gave_up() -> None:
    assert describe(Seen(0.42, 0.0, quiet=True), LIMITS) == "load 0.42"
    assert describe(Seen(0.9, 35.2, quiet=True), LIMITS) == "load 0.90 after waiting 35 s"
    gave_up = describe(Seen(3.1, 120.0, quiet=False), LIMITS)
    assert gave_up == ("load 3.10, still not below 1.00 after 120 s: measured anyway (not quiet)")


def test_the_options_default_to_half_the_cpus_and_two_minutes_and_refuse_nonsense() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = from_arguments(parser.parse_args([]))
    assert defaults.max_wait_s == 120.0
    assert defaults.max_load > 0
    given = from_arguments(parser.parse_args(["--max-load", "1.5", "--max-wait", "30"]))
    assert given == Quiet(max_load=1.5, max_wait_s=30.0)
    with pytest.raises(SystemExit, match="--max-load must be above 0"):
        from_arguments(parser.parse_args(["--max-load", "0"]))


def test_a_round_starts_on_a_quiet_machine_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    # Any machine is quiet below a thousand busy CPUs: one reading, then the round's line.
    seen = start_round(2, 5, False, Quiet(max_load=1000, max_wait_s=0))
    assert seen.quiet
    assert capsys.readouterr().out == f"round 2/5: {describe(seen, Quiet(1000, 0))}\n"


def test_a_warm_up_round_is_marked(capsys: pytest.CaptureFixture[str]) -> None:
    start_round(1, 5, True, Quiet(max_load=1000, max_wait_s=0))
    assert capsys.readouterr().out.startswith("round 1/5 (warm-up): load ")
