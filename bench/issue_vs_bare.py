"""The worker against a bare external-task loop, side by side on the same engine: links
issued per second by ``action-links worker`` ÷ tasks done per second by a bare
fetch-and-lock + complete loop; prints ratios with their spread, writes
bench/results/issue.json and issue.png, asserts nothing.

    python -m bench.issue_vs_bare --quick   # about a minute and a half, plus the quiet waits

Each round starts a batch of instances of one variant, then times how long that variant
takes to finish them, from the moment it is ready (the worker's start line; the loop's
start) to the last task done (its link group in the database; the loop's last
``complete``). Each round first waits for a quiet machine (``bench.quiet``); the variants
alternate who goes first; warm-up rounds are discarded. Both
fetch the same variables (``bench-issue.bpmn``: the same task under two topics) with the
same number of tasks at once (the worker's ``ACTION_LINKS_MAX_TASKS``).

Uses ACTION_LINKS_TEST_DATABASE_URL / ACTION_LINKS_TEST_CAMUNDA_URL when set, otherwise
starts a throwaway Postgres and the test engine as the test suite does. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.goals import GOALS
from bench.quiet import Quiet, add_arguments, from_arguments, start_round
from bench.redeem_vs_correlate import database
from bench.results import spread, write
from devstack import ROOT
from devstack.engine import camunda
from devstack.postgres import postgres
from devstack.rest import EngineRest

# Its goal, as bench.goals states it (bench.report judges it there too).
(GOAL,) = (goal for goal in GOALS if goal.result == "issue")
MODEL = Path(__file__).resolve().parent / "bench-issue.bpmn"
SIGNING_KEYS = f"bench:{secrets.token_urlsafe(32)}"
MAX_TASKS = 10
READY_LINE = "serving issue-token, revoke-tokens"
START_TIMEOUT_S = 60
POLL_S = 0.02
LOCK_MS = 60_000
# What the bare loop completes with: the shape of what the worker sends back.
BARE_RESULT = {
    "actionLinks": {
        "value": '{"approve": "http://links.test/l/x", "deny": "http://links.test/l/y"}',
        "type": "Json",
    },
    "actionLinkGroupId": {"value": "00000000-0000-0000-0000-000000000000", "type": "String"},
}


@dataclass(frozen=True)
class Sample:
    round: int
    warmup: bool
    load: float
    variant: str
    tasks: int
    rate: float
    waited_s: float  # for the load to fall below --max-load before this round
    quiet: bool  # False: it did not within --max-wait, and the round ran all the same


def start_instances(rest_url: str, key: str, count: int) -> None:
    def one(_: int) -> None:
        EngineRest(rest_url).start(key)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def groups(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM link_groups").fetchone()
    return int(row[0]) if row else 0


@contextmanager
def worker(database_url: str, camunda_url: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ACTION_LINKS_")},
        "ACTION_LINKS_DATABASE_URL": database_url,
        "ACTION_LINKS_SIGNING_KEYS": SIGNING_KEYS,
        "ACTION_LINKS_CAMUNDA_URL": camunda_url,
        "ACTION_LINKS_PUBLIC_URL": "http://links.test",
        "ACTION_LINKS_MAX_TASKS": str(MAX_TASKS),
        "ACTION_LINKS_ADMIN_LISTEN": "127.0.0.1:0",
        "ACTION_LINKS_WORKER_ID": f"bench-{uuid.uuid4().hex[:8]}",
    }
    log = Path(tempfile.mkstemp(prefix="bench-worker-", suffix=".log")[1])
    # BENCH_PROFILE=DIR: each worker run writes a cProfile of itself there.
    profile_dir = os.environ.get("BENCH_PROFILE")
    profile = ["-m", "cProfile", "-o", f"{profile_dir}/worker-{uuid.uuid4().hex[:6]}.prof"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *(profile if profile_dir else []), "-m", "actionlinks_cli",
             "--log-level", "INFO", "worker"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while READY_LINE not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(POLL_S)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=90)
        log.unlink(missing_ok=True)


def ours(database_url: str, camunda_url: str, count: int) -> float:
    before = groups(database_url)
    start_instances(camunda_url, "bench-issue", count)
    with worker(database_url, camunda_url):
        started = time.monotonic()
        while groups(database_url) < before + count:
            time.sleep(POLL_S)
        return count / (time.monotonic() - started)


async def _bare_loop(camunda_url: str, count: int) -> float:
    worker_id = f"bare-{uuid.uuid4().hex[:8]}"
    limits = httpx.Limits(max_connections=MAX_TASKS + 2)
    async with httpx.AsyncClient(base_url=camunda_url, limits=limits, timeout=60) as http:
        started = time.monotonic()
        done = 0
        while done < count:
            fetched = await http.post(
                "/external-task/fetchAndLock",
                json={
                    "workerId": worker_id,
                    "maxTasks": MAX_TASKS,
                    "usePriority": True,
                    "asyncResponseTimeout": 20_000,
                    "topics": [
                        {
                            "topicName": "bench-bare",
                            "lockDuration": LOCK_MS,
                            "deserializeValues": False,
                        }
                    ],
                },
            )
            tasks: list[dict[str, Any]] = fetched.raise_for_status().json()

            async def complete(task: dict[str, Any]) -> None:
                response = await http.post(
                    f"/external-task/{task['id']}/complete",
                    json={"workerId": worker_id, "variables": BARE_RESULT},
                )
                response.raise_for_status()

            await asyncio.gather(*(complete(t) for t in tasks))
            done += len(tasks)
        return count / (time.monotonic() - started)


def bare(camunda_url: str, count: int) -> float:
    start_instances(camunda_url, "bench-bare", count)
    return asyncio.run(_bare_loop(camunda_url, count))


def run(
    database_url: str, camunda_url: str, rounds: int, warmup: int, count: int, limits: Quiet
) -> list[Sample]:
    rest = EngineRest(camunda_url)
    rest.deploy(MODEL, name="bench-issue")
    rest.close()
    samples: list[Sample] = []
    for number in range(1, rounds + warmup + 1):
        is_warmup = number <= warmup
        seen = start_round(number, rounds + warmup, is_warmup, limits)
        order = ["ours", "bare"] if number % 2 else ["bare", "ours"]
        for name in order:
            rate = (
                ours(database_url, camunda_url, count)
                if name == "ours"
                else bare(camunda_url, count)
            )
            samples.append(
                Sample(number, is_warmup, seen.load, name, count, rate, seen.waited_s, seen.quiet)
            )
    return samples


def summary(samples: list[Sample]) -> list[dict[str, Any]]:
    """Each variant's tasks/s and ours ÷ bare per round, min/median/max over the kept rounds."""
    kept = [s for s in samples if not s.warmup]
    by_round: dict[int, dict[str, float]] = {}
    for s in kept:
        by_round.setdefault(s.round, {})[s.variant] = s.rate
    rows: list[dict[str, Any]] = [
        {
            "scenario": "issue",
            "variant": variant,
            "rate": spread([r[variant] for r in by_round.values()]),
        }
        for variant in ("ours", "bare")
    ]
    ratios = [r["ours"] / r["bare"] for r in by_round.values()]
    rows.append({"scenario": "issue", "ratio": "ours÷bare", "spread": spread(ratios)})
    return rows


def show(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        if "variant" in row:
            r = row["rate"]
            rates = f"{r['min']:.0f}/{r['median']:.0f}/{r['max']:.0f}"
            print(f"{row['variant']:5} tasks/s min/median/max {rates}")
        else:
            s = row["spread"]
            print(
                f"{row['ratio']} min/median/max {s['min']:.2f}/{s['median']:.2f}/"
                f"{s['max']:.2f} (goal {GOAL.direction} {GOAL.bound})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 150 tasks")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--tasks", type=int)
    add_arguments(parser)
    args = parser.parse_args()
    limits = from_arguments(args)
    rounds = args.rounds or (3 if args.quick else 6)
    count = args.tasks or (150 if args.quick else 400)
    started = time.monotonic()
    with postgres() as server_url, camunda() as camunda_url, database(server_url) as url:
        samples = run(url, camunda_url, rounds, warmup=1, count=count, limits=limits)
    print(
        f"\n{rounds} rounds of {count} tasks, {MAX_TASKS} at once, cpus={os.cpu_count()}, "
        f"in {time.monotonic() - started:.0f} s"
    )
    rows = summary(samples)
    show(rows)
    write(
        "issue", "bench.issue_vs_bare", samples, rows, limits,
        rounds=rounds, warmup=1, tasks=count, max_tasks=MAX_TASKS,
    )  # fmt: skip


if __name__ == "__main__":
    main()
