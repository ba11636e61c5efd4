"""Our link server against bare references, side by side in one run on this machine: prints
ratios with their spread over rounds, writes bench/results/latest.json and latest.png,
asserts nothing.

    make bench                                  # the full run, with the other two
    python -m bench.redeem_vs_correlate --quick # about two minutes, plus the quiet waits

Scenarios (each round first waits for a quiet machine, ``bench.quiet``, then runs every
variant of every scenario, in alternating order, so a busy moment of this shared machine hits
both sides; warm-up rounds are run and discarded; ``latest.png`` plots it):

- redeem-standin: ``POST /api/v1/links/{t}/redeem`` through ``action-links serve`` ÷ the bare
  aiohttp + psycopg handler (lock and update the link row, then the same ``POST /message``),
  both against a stand-in engine that answers 204; ``ours2p`` is ``serve --processes 2``;
- redeem-engine: the same two against the real engine ÷ direct ``POST /message`` correlations;
- forged-get: ``GET /l/{forged}`` ÷ a bare handler that checks the HMAC and answers 404;
- page-get: ``GET /l/{open}`` ÷ a bare handler doing the same read and the same template.

Uses ACTION_LINKS_TEST_DATABASE_URL / ACTION_LINKS_TEST_CAMUNDA_URL when set, otherwise starts
a throwaway Postgres and the test engine like the test suite does. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from alembic import command
from psycopg import sql

from bench.cpu import cpu_seconds
from bench.quiet import Quiet, add_arguments, from_arguments, start_round
from bench.results import by_scenario, spread, write
from devstack import ROOT
from devstack.engine import camunda
from devstack.linkserver import LinkServerProcess, running_linkserver
from devstack.ports import free_port
from devstack.postgres import alembic_config, postgres, with_database
from devstack.rest import EngineRest
from linkserver.camunda import correlation_body
from tokenstore import issuing
from tokenstore.db import Database
from tokenstore.model import ActionSpec, Delivery, IssueRequest
from tokenstore.tokens import Keyring, mint
from tokenstore.types import (
    CorrelateBy,
    ExternalTaskId,
    GroupId,
    LinkId,
    ProcessInstanceId,
    RedemptionId,
)
from tokenstore.variables import TypedValue

# The run's link servers and store sign with a key of the run's own.
SIGNING_KEYS = f"bench:{secrets.token_urlsafe(32)}"
# Tokens of the same kid and shape, signed with another secret: forged, but well formed.
FORGER = Keyring.parse(f"bench:{secrets.token_urlsafe(32)}")
# A process that only waits for the message: the cheapest thing a correlation can end.
WAITING = Path(__file__).resolve().parent / "bench-wait.bpmn"
# The link server's own allowance for invalid links would answer 429 to the forged-token run.
LINKSERVER_ENV = {
    "ACTION_LINKS_FAILED_LOOKUP_BURST": "100000000",
    "ACTION_LINKS_FAILED_LOOKUPS_PER_MINUTE": "100000000",
    "ACTION_LINKS_MAX_CONNECTIONS_PER_CLIENT": "1000",
}
START_TIMEOUT_S = 30
# What the stand-in and the bare reference answer; anything else is a failed request.
ACCEPTED = frozenset({200, 204, 404})


@dataclass(frozen=True)
class Sizes:
    rounds: int
    warmup: int
    redeem: int  # requests per variant and round, redemptions against the stand-in
    engine: int  # the same against the real engine
    gets: int  # forged-token and page GETs per variant and round
    concurrency: int


QUICK = Sizes(rounds=4, warmup=1, redeem=250, engine=50, gets=800, concurrency=8)
FULL = Sizes(rounds=5, warmup=1, redeem=500, engine=120, gets=3000, concurrency=8)


@dataclass(frozen=True)
class Sample:
    round: int
    warmup: bool
    load: float
    scenario: str
    variant: str
    requests: int
    rate: float
    p50_ms: float
    p99_ms: float
    waited_s: float  # for the load to fall below --max-load before this round
    quiet: bool  # False: it did not within --max-wait, and the round ran all the same
    # The server's own CPU time per request (bench.cpu), in ms; None for the engine itself.
    cpu_ms: float | None = None


@contextlib.contextmanager
def database(server_url: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server_url, name)
    command.upgrade(alembic_config(url), "head")
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass(frozen=True)
class Served:
    """A server the benchmark started: where it listens, and its process (for its CPU time)."""

    base_url: str
    pid: int


@contextlib.contextmanager
def bare(kind: str, *args: str) -> Iterator[Served]:
    """A ``bench.bare`` process on a free loopback port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare", kind, "--port", str(port), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _listening(base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench.bare {kind} did not start")
            time.sleep(0.1)
        yield Served(base_url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


def served(server: LinkServerProcess) -> Served:
    return Served(server.base_url, server.process.pid)


def _listening(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/l/x", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, 404 or 405
    except (urllib.error.URLError, OSError):
        return False


Job = Callable[[], Awaitable[int]]


def request(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> Job:
    """One request as a job: its status, the body read (so the connection can be reused)."""

    async def job() -> int:
        async with http.request(method, url, json=body) as r:
            await r.read()
            return r.status

    return job


def redemption(http: aiohttp.ClientSession, base: str, token: str) -> Job:
    """A use of a link through the JSON API of the server at ``base``."""
    return request(http, "POST", f"{base}/api/v1/links/{token}/redeem")


def correlation(http: aiohttp.ClientSession, camunda_url: str, pid: str) -> Job:
    """The same answer sent straight to the engine: the reference a redemption is held to."""
    body = {
        "messageName": "decision",
        "processInstanceId": pid,
        "processVariables": {"ok": {"value": True, "type": "Boolean"}},
    }
    return request(http, "POST", f"{camunda_url}/message", body)


def marked_correlation(http: aiohttp.ClientSession, camunda_url: str, pid: str) -> Job:
    """The body the link server sends for that answer, sent straight to the engine: the same
    answer plus the redemption id and the answer's marker variable (what a retry looks for
    in the history), so the engine does the same work as for a redemption."""
    delivery = Delivery(
        redemption_id=RedemptionId(uuid.uuid4()),
        link_id=LinkId(uuid.uuid4()),
        group_id=GroupId(uuid.uuid4()),
        message_name="decision",
        correlate_by=CorrelateBy.PROCESS_INSTANCE,
        process_instance_id=ProcessInstanceId(pid),
        business_key=None,
        tenant_id=None,
        correlation_keys={},
        variables={"ok": TypedValue("Boolean", True)},
        answered_at=dt.datetime.now(dt.UTC),
        attempts=1,
    )
    return request(http, "POST", f"{camunda_url}/message", correlation_body(delivery))


async def measure(jobs: list[Job], concurrency: int) -> tuple[float, float, float]:
    """Run the jobs with bounded concurrency: requests per second, p50 and p99 in ms."""
    queue = list(reversed(jobs))
    latencies: list[float] = []
    failed: list[int] = []

    async def runner() -> None:
        while queue:
            job = queue.pop()
            start = time.perf_counter()
            status = await job()
            latencies.append(time.perf_counter() - start)
            if status not in ACCEPTED:
                failed.append(status)

    start = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    if failed:
        raise SystemExit(f"{len(failed)} of {len(jobs)} requests failed: {sorted(set(failed))}")
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(jobs) / elapsed, p50 * 1000, p99 * 1000


async def issue(db: Database, process_ids: list[str], keyring: Keyring) -> list[str]:
    """One open single-use link per process id; their tokens, in the same order."""
    found = []
    async with db.transaction() as conn:
        for pid in process_ids:
            issued = await issuing.issue_group(
                conn,
                IssueRequest(
                    external_task_id=ExternalTaskId(str(uuid.uuid4())),
                    process_instance_id=ProcessInstanceId(pid),
                    activity_id="issue",
                    message_name="decision",
                    actions=(ActionSpec("ok", "OK", {"ok": TypedValue("Boolean", True)}),),
                    ttl=dt.timedelta(hours=1),
                ),
                keyring,
                dt.datetime.now(dt.UTC),
            )
            found.append(issued.tokens["ok"])
    return found


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def bench(database_url: str, camunda_url: str, sizes: Sizes, limits: Quiet) -> list[Sample]:
    rest = EngineRest(camunda_url)
    rest.deploy(WAITING, name="bench-wait")
    keyring = Keyring.parse(SIGNING_KEYS)
    total = sizes.rounds + sizes.warmup
    db = Database.from_url(database_url)
    fake = [f"standin-{uuid.uuid4()}" for _ in range(total * sizes.redeem * 3)]
    standin_tokens = await issue(db, fake, keyring)
    page_tokens = await issue(db, [f"page-{i}" for i in range(50)], keyring)
    real = [rest.start("bench-wait") for _ in range(total * sizes.engine * 3)]
    engine_tokens = await issue(db, real[: total * sizes.engine * 2], keyring)
    direct_ids = real[total * sizes.engine * 2 :]
    await db.dispose()
    rest.close()
    forged = [mint(FORGER).token for _ in range(sizes.gets)]
    keys = ("--database-url", database_url, "--keys", SIGNING_KEYS)

    async with contextlib.AsyncExitStack() as stack:
        standin = stack.enter_context(bare("standin"))
        # BENCH_PROFILE=DIR: the single-process server on the stand-in (which serves the
        # stand-in redemptions, the forged and the page GETs) writes a cProfile of itself there.
        profile_dir = os.environ.get("BENCH_PROFILE")
        prof = f"{profile_dir}/linkserver-{uuid.uuid4().hex[:6]}.prof"
        profiled = (sys.executable, *(("-m", "cProfile", "-o", prof) if profile_dir else ()))
        ours_s = served(
            stack.enter_context(
                running_linkserver(
                    database_url, standin.base_url, signing_keys=SIGNING_KEYS,
                    env=LINKSERVER_ENV, log_level="WARNING",
                    executable=(*profiled, "-m", "actionlinks_cli"),
                )
            )
        )  # fmt: skip
        # The same server in two processes on one port (serve --processes 2, SO_REUSEPORT).
        ours2p_s = served(
            stack.enter_context(
                running_linkserver(
                    database_url, standin.base_url, signing_keys=SIGNING_KEYS,
                    env=LINKSERVER_ENV, log_level="WARNING", processes=2,
                )
            )
        )  # fmt: skip
        ours_e = served(
            stack.enter_context(
                running_linkserver(
                    database_url, camunda_url, signing_keys=SIGNING_KEYS, env=LINKSERVER_ENV,
                    log_level="WARNING",
                )
            )
        )  # fmt: skip
        bare_s = stack.enter_context(bare("reference", *keys, "--engine-url", standin.base_url))
        bare_e = stack.enter_context(bare("reference", *keys, "--engine-url", camunda_url))
        connector = aiohttp.TCPConnector(limit=0)
        http = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))

        def get(url: str) -> Job:
            return request(http, "GET", url)

        def correlate(pid: str) -> Job:
            return correlation(http, camunda_url, pid)

        def redeem(server: Served, tokens: list[str]) -> tuple[list[Job], int]:
            return [redemption(http, server.base_url, t) for t in tokens], server.pid

        def gets(server: Served, tokens: list[str]) -> tuple[list[Job], int]:
            return [get(f"{server.base_url}/l/{t}") for t in tokens], server.pid

        s_parts = chunks(standin_tokens, sizes.redeem)
        e_parts = chunks(engine_tokens, sizes.engine)
        d_parts = chunks(direct_ids, sizes.engine)
        samples: list[Sample] = []
        for number in range(1, total + 1):
            s_ours, s_bare, s_ours2p = next(s_parts), next(s_parts), next(s_parts)
            e_ours, e_bare = next(e_parts), next(e_parts)
            pages = [page_tokens[i % len(page_tokens)] for i in range(sizes.gets)]
            # Each variant's jobs, and the server process whose CPU time they cost (None: the
            # engine answers them itself).
            scenarios: dict[str, dict[str, tuple[list[Job], int | None]]] = {
                "redeem-standin": {
                    "ours": redeem(ours_s, s_ours),
                    "bare": redeem(bare_s, s_bare),
                    "ours2p": redeem(ours2p_s, s_ours2p),
                },
                "redeem-engine": {
                    "ours": redeem(ours_e, e_ours),
                    "bare": redeem(bare_e, e_bare),
                    "direct": ([correlate(p) for p in next(d_parts)], None),
                },
                "forged-get": {"ours": gets(ours_s, forged), "bare": gets(bare_s, forged)},
                "page-get": {"ours": gets(ours_s, pages), "bare": gets(bare_s, pages)},
            }
            warmup = number <= sizes.warmup
            # In a thread: the loop stays free to see idle connections closed meanwhile.
            seen = await asyncio.to_thread(start_round, number, total, warmup, limits)
            for scenario, variants in scenarios.items():
                order = list(variants.items())
                if number % 2 == 0:
                    order.reverse()
                for variant, (jobs, pid) in order:
                    cpu_before = None if pid is None else cpu_seconds(pid)
                    rate, p50, p99 = await measure(jobs, sizes.concurrency)
                    cpu_ms = (
                        None
                        if pid is None or cpu_before is None
                        else (cpu_seconds(pid) - cpu_before) / len(jobs) * 1000
                    )
                    samples.append(
                        Sample(
                            number, warmup, seen.load, scenario, variant, len(jobs), rate,
                            p50, p99, seen.waited_s, seen.quiet, cpu_ms,
                        )
                    )  # fmt: skip
    return samples


def summary(samples: list[Sample]) -> list[dict[str, Any]]:
    """Per scenario, our rate ÷ each other variant's, per round, with min/median/max."""
    rows: list[dict[str, Any]] = []
    for scenario, by_round in by_scenario(samples):
        variants = list(next(iter(by_round.values())))
        for variant in variants:
            rows.append(
                {
                    "scenario": scenario,
                    "variant": variant,
                    "rate": spread([r[variant].rate for r in by_round.values()]),
                    "p50_ms": spread([r[variant].p50_ms for r in by_round.values()]),
                    "p99_ms": spread([r[variant].p99_ms for r in by_round.values()]),
                    **_cpu_spread([r[variant].cpu_ms for r in by_round.values()]),
                }
            )
        pairs = (("ours", "bare"), ("ours2p", "bare"), ("ours", "direct"), ("bare", "direct"))
        for numerator, denominator in pairs:
            if numerator in variants and denominator in variants:
                ratios = [r[numerator].rate / r[denominator].rate for r in by_round.values()]
                rows.append(
                    {
                        "scenario": scenario,
                        "ratio": f"{numerator}÷{denominator}",
                        "spread": spread(ratios),
                    }
                )
                # The same ratio from each server's CPU per request: the work each does,
                # which the machine's other load moves far less than the throughput.
                by_cpu = [
                    theirs / ours
                    for r in by_round.values()
                    if (ours := r[numerator].cpu_ms) and (theirs := r[denominator].cpu_ms)
                ]
                if len(by_cpu) == len(by_round):
                    rows.append(
                        {
                            "scenario": scenario,
                            "ratio": f"{numerator}÷{denominator} by CPU",
                            "spread": spread(by_cpu),
                        }
                    )
    return rows


def _cpu_spread(values: list[float | None]) -> dict[str, Any]:
    found = [v for v in values if v is not None]
    return {"cpu_ms": spread(found)} if found and len(found) == len(values) else {}


def show(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'scenario':16} {'variant':8} {'req/s min/median/max':>26} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'CPU ms/req':>10}"
    )
    for row in rows:
        if "variant" in row:
            rate, p50, p99 = row["rate"], row["p50_ms"], row["p99_ms"]
            rates = f"{rate['min']:.0f}/{rate['median']:.0f}/{rate['max']:.0f}"
            cpu = f"{row['cpu_ms']['median']:10.2f}" if "cpu_ms" in row else f"{'-':>10}"
            print(
                f"{row['scenario']:16} {row['variant']:8} {rates:>26} "
                f"{p50['median']:8.1f} {p99['median']:8.1f} {cpu}"
            )
    print()
    print(f"{'scenario':16} {'ratio':21} {'min':>6} {'median':>7} {'max':>6}")
    for row in rows:
        if "ratio" in row:
            s = row["spread"]
            print(
                f"{row['scenario']:16} {row['ratio']:21} "
                f"{s['min']:6.2f} {s['median']:7.2f} {s['max']:6.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer, smaller rounds (~2 min)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--concurrency", type=int)
    add_arguments(parser)
    args = parser.parse_args()
    limits = from_arguments(args)
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = Sizes(**{**asdict(sizes), "rounds": args.rounds})
    if args.concurrency:
        sizes = Sizes(**{**asdict(sizes), "concurrency": args.concurrency})
    started = time.monotonic()
    with (
        postgres() as server_url,
        camunda() as camunda_url,
        database(server_url) as database_url,
    ):
        samples = asyncio.run(bench(database_url, camunda_url, sizes, limits))
    rows = summary(samples)
    print(f"\n{sizes} cpus={os.cpu_count()} in {time.monotonic() - started:.0f} s")
    show(rows)
    write("latest", "bench.redeem_vs_correlate", samples, rows, limits, sizes=asdict(sizes))


if __name__ == "__main__":
    main()
