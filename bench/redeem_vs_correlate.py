"""Redemptions per second through the link server ÷ message correlations per second straight
to the engine, measured side by side in one run on this machine. Prints ratios, asserts nothing.

    make bench            # or: python -m bench.redeem_vs_correlate --instances 300 --concurrency 8

Uses ACTION_LINKS_TEST_DATABASE_URL / ACTION_LINKS_TEST_CAMUNDA_URL when set, otherwise starts
a throwaway Postgres and the test engine like the test suite does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import psycopg
from alembic import command
from psycopg import sql

from devstack.engine import camunda
from devstack.linkserver import running_linkserver
from devstack.postgres import alembic_config, postgres, with_database
from devstack.rest import EngineRest
from tokenstore import issuing
from tokenstore.db import create_db
from tokenstore.model import ActionSpec, IssueRequest
from tokenstore.tokens import Keyring
from tokenstore.types import ExternalTaskId, ProcessInstanceId
from tokenstore.variables import TypedValue

# The run's link server and store sign with a key of the run's own.
SIGNING_KEYS = f"bench:{secrets.token_urlsafe(32)}"
# A process that only waits for the message: the cheapest thing a correlation can end.
WAITING = Path(__file__).resolve().parent / "bench-wait.bpmn"


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


async def run_all(jobs: list[Callable[[], Awaitable[int]]], concurrency: int) -> float:
    """Run the jobs with bounded concurrency; return completions per second."""
    queue = list(jobs)
    ok = 0

    async def runner() -> None:
        nonlocal ok
        while queue:
            status = await queue.pop()()
            ok += status < 400

    start = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    if ok != len(jobs):
        raise SystemExit(f"only {ok} of {len(jobs)} requests succeeded")
    return len(jobs) / elapsed


async def bench(
    database_url: str, camunda_url: str, instances: int, concurrency: int, rounds: int
) -> None:
    rest = EngineRest(camunda_url)
    rest.deploy(WAITING, name="bench-wait")
    keyring = Keyring.parse(SIGNING_KEYS)
    direct = [rest.start("bench-wait") for _ in range(instances)]
    linked = [rest.start("bench-wait") for _ in range(instances)]
    db = create_db(database_url)
    tokens = []
    async with db.begin() as conn:
        for pid in linked:
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
            tokens.append(issued.tokens["ok"])
    await db.dispose()
    async with aiohttp.ClientSession() as http:

        def correlate(pid: str) -> Callable[[], Awaitable[int]]:
            async def job() -> int:
                body = {
                    "messageName": "decision",
                    "processInstanceId": pid,
                    "processVariables": {"ok": {"value": True, "type": "Boolean"}},
                    "resultEnabled": True,
                }
                async with http.post(f"{camunda_url}/message", json=body) as r:
                    return r.status

            return job

        with running_linkserver(
            database_url, camunda_url, signing_keys=SIGNING_KEYS, log_level="WARNING"
        ) as server:

            def redeem(token: str) -> Callable[[], Awaitable[int]]:
                async def job() -> int:
                    async with http.post(f"{server.base_url}/api/v1/links/{token}/redeem") as r:
                        return r.status

                return job

            def look(token: str) -> Callable[[], Awaitable[int]]:
                async def job() -> int:
                    async with http.get(f"{server.base_url}/l/{token}") as r:
                        await r.read()
                        return r.status

                return job

            # Alternate the two in rounds, so a busy moment of this shared machine hits both.
            rows = []
            size = max(1, instances // rounds)
            for start in range(0, instances, size):
                part = slice(start, start + size)
                pages = await run_all([look(t) for t in tokens[part]], concurrency)
                direct_rate = await run_all([correlate(p) for p in direct[part]], concurrency)
                redeem_rate = await run_all([redeem(t) for t in tokens[part]], concurrency)
                rows.append((direct_rate, redeem_rate, pages))
    rest.close()
    print(f"instances={instances} concurrency={concurrency} rounds={len(rows)}")
    print("round  correlations/s  redemptions/s  pages/s  redemptions÷correlations")
    for i, (direct_rate, redeem_rate, pages) in enumerate(rows, 1):
        ratio = redeem_rate / direct_rate
        print(f"{i:5}  {direct_rate:14.1f}  {redeem_rate:13.1f}  {pages:7.1f}  {ratio:24.2f}")
    ratios = sorted(r / d for d, r, _ in rows)
    print(f"median ratio redemptions ÷ direct correlations: {statistics.median(ratios):.2f}")
    page_ratios = sorted(p / d for d, _, p in rows)
    print(
        f"median ratio read-only pages ÷ direct correlations: {statistics.median(page_ratios):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with (
        postgres() as server_url,
        camunda() as camunda_url,
        database(server_url) as database_url,
    ):
        asyncio.run(bench(database_url, camunda_url, args.instances, args.concurrency, args.rounds))


if __name__ == "__main__":
    main()
