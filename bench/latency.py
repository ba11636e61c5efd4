"""Two latency measurements at concurrency 1, side by side in one run: prints p50/p99 per
variant with their spread over rounds, writes bench/results/latency.json and latency.png,
asserts nothing. Each round first waits for a quiet machine (``bench.quiet``).

    python -m bench.latency --quick                      # both scenarios, short
    python -m bench.latency --scenario scaling --links 10000000   # the goal's size, ~11 min

- redeem-latency: one redemption at a time through ``action-links serve`` against the real
  engine, and one direct ``POST /message`` correlation at a time; the two alternate who goes
  first each round; the figure to read is p50(ours) - p50(direct) (issue 10: at most 2 ms).
- scaling: one redemption at a time through two ``serve`` processes on a stand-in engine, one
  on a database whose table holds ``--small`` links, the other ``--links``; the figure to
  read is p50(large) ÷ p50(small) (issue 10: at most 1.2). The tables are filled with one
  ``INSERT … SELECT generate_series`` per million rows (valid open links with random token
  hashes nobody holds), then ANALYZEd; the links redeemed are issued through the store.

Uses ACTION_LINKS_TEST_DATABASE_URL / ACTION_LINKS_TEST_CAMUNDA_URL when set, otherwise starts
a throwaway Postgres and the test engine like the test suite does. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import psycopg

from bench.percentiles import percentile
from bench.quiet import Quiet, Seen, add_arguments, from_arguments, start_round
from bench.redeem_vs_correlate import (
    ACCEPTED,
    LINKSERVER_ENV,
    SIGNING_KEYS,
    WAITING,
    Job,
    bare,
    correlation,
    database,
    issue,
    marked_correlation,
    redemption,
)
from bench.results import by_scenario, spread, write
from devstack.engine import camunda
from devstack.linkserver import running_linkserver
from devstack.postgres import postgres
from devstack.rest import EngineRest
from tokenstore.db import Database
from tokenstore.tokens import Keyring

SCENARIOS = ("redeem-latency", "scaling")
# Rows per fill statement: one statement per million keeps each transaction's memory bounded
# and prints progress, so a fill that will not fit its time can be stopped early.
FILL_BATCH = 1_000_000
# One group of one open link per row, like an issued single-action group; the token hash is
# random bytes of a token's size (no token hashes to it), so no filler can be redeemed.
FILL = """
WITH g AS (
    INSERT INTO link_groups (id, external_task_id, process_instance_id, activity_id,
                             message_name, correlate_by, created_at, expires_at)
    SELECT gen_random_uuid(), 'fill-' || i, 'fill-' || i, 'issue', 'decision',
           'processInstance', now(), now() + interval '30 days'
    FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS i
    RETURNING id
)
INSERT INTO links (id, group_id, action, label, position, token_hash)
SELECT gen_random_uuid(), g.id, 'ok', 'OK', 0, sha256(uuid_send(gen_random_uuid())) FROM g
"""


@dataclass(frozen=True)
class Sizes:
    rounds: int
    warmup: int
    engine: int  # sequential requests per variant and round against the real engine
    standin: int  # sequential redemptions per variant and round on the stand-in


QUICK = Sizes(rounds=4, warmup=1, engine=60, standin=200)
FULL = Sizes(rounds=6, warmup=1, engine=150, standin=500)


@dataclass(frozen=True)
class Sample:
    round: int
    warmup: bool
    load: float
    scenario: str
    variant: str
    requests: int
    p50_ms: float
    p99_ms: float
    waited_s: float  # for the load to fall below --max-load before this round
    quiet: bool  # False: it did not within --max-wait, and the round ran all the same


async def sequential(jobs: list[Job]) -> tuple[float, float]:
    """Run the jobs one after the other: p50 and p99 in ms."""
    latencies: list[float] = []
    for job in jobs:
        start = time.perf_counter()
        status = await job()
        latencies.append(time.perf_counter() - start)
        if status not in ACCEPTED:
            raise SystemExit(f"a request failed with {status}")
    return percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000


def fill(database_url: str, count: int) -> float:
    """``count`` open filler links (one group each), then ANALYZE; seconds it took."""
    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        for start in range(1, count + 1, FILL_BATCH):
            stop = min(count, start + FILL_BATCH - 1)
            conn.execute(FILL, {"start": start, "stop": stop})
            print(f"  filled {stop:,} links in {time.monotonic() - started:.0f} s", flush=True)
        conn.execute("ANALYZE link_groups")
        conn.execute("ANALYZE links")
    return time.monotonic() - started


async def rounds(sizes: Sizes, limits: Quiet) -> AsyncIterator[tuple[int, bool, Seen]]:
    """Round number, whether it is a warm-up, and the load seen once it was quiet (or not)."""
    total = sizes.rounds + sizes.warmup
    for number in range(1, total + 1):
        warmup = number <= sizes.warmup
        # In a thread: the loop stays free to see idle connections closed meanwhile.
        seen = await asyncio.to_thread(start_round, number, total, warmup, limits)
        yield number, warmup, seen


async def redeem_latency(
    database_url: str, camunda_url: str, sizes: Sizes, limits: Quiet
) -> list[Sample]:
    rest = EngineRest(camunda_url)
    rest.deploy(WAITING, name="bench-wait")
    total = sizes.rounds + sizes.warmup
    ids = [rest.start("bench-wait") for _ in range(total * sizes.engine * 3)]
    rest.close()
    db = Database.from_url(database_url)
    tokens = await issue(db, ids[: total * sizes.engine], Keyring.parse(SIGNING_KEYS))
    await db.dispose()
    direct_ids = ids[total * sizes.engine : total * sizes.engine * 2]
    marked_ids = ids[total * sizes.engine * 2 :]
    samples: list[Sample] = []
    with running_linkserver(
        database_url, camunda_url, signing_keys=SIGNING_KEYS, env=LINKSERVER_ENV,
        log_level="WARNING",
    ) as server:  # fmt: skip
        async with aiohttp.ClientSession() as http:
            async for number, warmup, seen in rounds(sizes, limits):
                part = slice((number - 1) * sizes.engine, number * sizes.engine)
                variants = {
                    "ours": [redemption(http, server.base_url, t) for t in tokens[part]],
                    "direct": [correlation(http, camunda_url, p) for p in direct_ids[part]],
                    "marked": [marked_correlation(http, camunda_url, p) for p in marked_ids[part]],
                }
                order = list(variants.items())
                if number % 2 == 0:
                    order.reverse()
                for variant, jobs in order:
                    p50, p99 = await sequential(jobs)
                    samples.append(
                        Sample(
                            number, warmup, seen.load, "redeem-latency", variant, len(jobs),
                            p50, p99, seen.waited_s, seen.quiet,
                        )
                    )  # fmt: skip
    return samples


async def scaling(
    small_url: str, large_url: str, small: int, large: int, sizes: Sizes, limits: Quiet
) -> tuple[list[Sample], dict[str, float]]:
    fill_s: dict[str, float] = {}
    for name, url, count in (("small", small_url, small), ("large", large_url, large)):
        print(f"filling {name}: {count:,} links", flush=True)
        fill_s[name] = fill(url, count)
    total = sizes.rounds + sizes.warmup
    keyring = Keyring.parse(SIGNING_KEYS)
    tokens: dict[str, list[str]] = {}
    for name, url in (("small", small_url), ("large", large_url)):
        db = Database.from_url(url)
        pids = [f"scaling-{uuid.uuid4()}" for _ in range(total * sizes.standin)]
        tokens[name] = await issue(db, pids, keyring)
        await db.dispose()
    samples: list[Sample] = []
    with contextlib.ExitStack() as stack:
        standin = stack.enter_context(bare("standin"))
        servers = {
            name: stack.enter_context(
                running_linkserver(
                    url, standin.base_url, signing_keys=SIGNING_KEYS, env=LINKSERVER_ENV,
                    log_level="WARNING",
                )
            ).base_url
            for name, url in (("small", small_url), ("large", large_url))
        }  # fmt: skip
        async with aiohttp.ClientSession() as http:
            async for number, warmup, seen in rounds(sizes, limits):
                part = slice((number - 1) * sizes.standin, number * sizes.standin)
                order = list(servers.items())
                if number % 2 == 0:
                    order.reverse()
                for name, base in order:
                    jobs = [redemption(http, base, t) for t in tokens[name][part]]
                    p50, p99 = await sequential(jobs)
                    samples.append(
                        Sample(
                            number, warmup, seen.load, "scaling", name, len(jobs), p50, p99,
                            seen.waited_s, seen.quiet,
                        )
                    )  # fmt: skip
    return samples, fill_s


def summary(samples: list[Sample]) -> list[dict[str, Any]]:
    """Per scenario and variant p50/p99 over rounds, and the figure the issue asks for."""
    rows: list[dict[str, Any]] = []
    for scenario, by_round in by_scenario(samples):
        for variant in next(iter(by_round.values())):
            rows.append(
                {
                    "scenario": scenario,
                    "variant": variant,
                    "p50_ms": spread([r[variant].p50_ms for r in by_round.values()]),
                    "p99_ms": spread([r[variant].p99_ms for r in by_round.values()]),
                }
            )
        if scenario == "redeem-latency":
            for reference in ("direct", "marked"):
                if any(reference not in r for r in by_round.values()):
                    continue
                diffs = [r["ours"].p50_ms - r[reference].p50_ms for r in by_round.values()]
                rows.append(
                    {
                        "scenario": scenario,
                        "figure": f"p50 ours-{reference} ms",
                        "spread": spread(diffs),
                    }
                )
        else:
            ratios = [r["large"].p50_ms / r["small"].p50_ms for r in by_round.values()]
            rows.append(
                {"scenario": scenario, "figure": "p50 large÷small", "spread": spread(ratios)}
            )
    return rows


def show(rows: list[dict[str, Any]]) -> None:
    print(f"{'scenario':15} {'variant':8} {'p50 ms min/med/max':>22} {'p99 ms min/med/max':>22}")
    for row in rows:
        if "variant" in row:
            p50, p99 = row["p50_ms"], row["p99_ms"]
            print(
                f"{row['scenario']:15} {row['variant']:8} "
                f"{p50['min']:6.2f}/{p50['median']:6.2f}/{p50['max']:6.2f}  "
                f"{p99['min']:6.2f}/{p99['median']:6.2f}/{p99['max']:6.2f}"
            )
    print()
    print(f"{'scenario':15} {'figure':20} {'min':>7} {'median':>7} {'max':>7}")
    for row in rows:
        if "figure" in row:
            s = row["spread"]
            print(
                f"{row['scenario']:15} {row['figure']:20} "
                f"{s['min']:7.2f} {s['median']:7.2f} {s['max']:7.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer, smaller rounds")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    parser.add_argument("--links", type=int, default=10_000_000, help="links in the large table")
    parser.add_argument("--small", type=int, default=10_000, help="links in the small table")
    add_arguments(parser)
    args = parser.parse_args()
    limits = from_arguments(args)
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = Sizes(**{**asdict(sizes), "rounds": args.rounds})
    started = time.monotonic()
    samples: list[Sample] = []
    fill_s: dict[str, float] = {}
    with postgres() as server_url:
        if args.scenario in ("redeem-latency", "all"):
            with camunda() as camunda_url, database(server_url) as database_url:
                samples += asyncio.run(redeem_latency(database_url, camunda_url, sizes, limits))
        if args.scenario in ("scaling", "all"):
            with database(server_url) as small_url, database(server_url) as large_url:
                found, fill_s = asyncio.run(
                    scaling(small_url, large_url, args.small, args.links, sizes, limits)
                )
                samples += found
    rows = summary(samples)
    print(f"\n{sizes} cpus={os.cpu_count()} in {time.monotonic() - started:.0f} s")
    if fill_s:
        print(
            f"scaling sizes: small {args.small:,} links (filled in {fill_s['small']:.0f} s), "
            f"large {args.links:,} links (filled in {fill_s['large']:.0f} s)"
        )
    show(rows)
    write(
        "latency", "bench.latency", samples, rows, limits,
        sizes=asdict(sizes), links={"small": args.small, "large": args.links}, fill_s=fill_s,
    )  # fmt: skip


if __name__ == "__main__":
    main()
