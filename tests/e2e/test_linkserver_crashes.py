"""The link server as a real process: SIGKILL, SIGTERM, and a Postgres restart under it."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.postgres import PostgresCluster
from devstack.rest import EngineRest
from tests.support.faultproxy import Fault, FaultProxy, Rule
from tests.support.harness import WAIT_FOR_DECISION, Harness, page, wait_until
from tests.support.linkserver_process import LinkServerProcess, running_linkserver, start_linkserver
from tokenstore.db import create_db
from tokenstore.tables import links, redemptions
from tokenstore.tokens import Keyring

MESSAGE = r"/message$"


def _discard(server: LinkServerProcess) -> None:
    """Kill a server the test started itself and delete its log, even after a failed assert."""
    if server.process.poll() is None:
        server.kill()
    server.log_path.unlink(missing_ok=True)


async def _answers(db: AsyncEngine) -> list[str]:
    async with db.connect() as conn:
        return list((await conn.execute(sa.select(redemptions.c.state))).scalars())


async def test_sigkill_while_waiting_for_the_row_lock_loses_and_duplicates_nothing(
    database_url: str,
    db: AsyncEngine,
    camunda_url: str,
    engine_rest: EngineRest,
    keyring: Keyring,
    http: aiohttp.ClientSession,
) -> None:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    env = {"ACTION_LINKS_CORRELATION_TIMEOUT": "PT2S"}  # a short attempt lease
    server = start_linkserver(database_url, camunda_url, env=env)
    try:
        h = Harness(server.base_url, http, db, engine_rest, keyring)
        pid = await h.instance()
        issued = await h.issue(pid)
        token = issued.tokens["approve"]
        blocker = await psycopg.AsyncConnection.connect(database_url)
        try:
            # Hold the link's row lock: the server's recording statement takes the group
            # lock, then waits here. Killing the server now kills it mid-statement.
            await blocker.execute("SELECT id FROM links WHERE action = 'approve' FOR UPDATE")
            click = asyncio.create_task(page(h, "POST", h.url(token)))

            async def server_waits_on_lock() -> bool:
                async with await psycopg.AsyncConnection.connect(database_url) as probe:
                    cur = await probe.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    )
                    row = await cur.fetchone()
                    return bool(row and row[0] > 0)

            await wait_until(server_waits_on_lock, what="the server to block on the row lock")
            server.kill()
            with pytest.raises(aiohttp.ClientError):
                await click
        finally:
            await blocker.rollback()
            await blocker.close()

        # The statement was sent, whole, before the kill: Postgres runs it to its end once the
        # lock is free, and it records the answer by itself (no transaction left open to roll
        # back), with the dead server's first attempt claimed and nothing sent.
        async def recorded() -> bool:
            return await _answers(db) == ["pending"]

        await wait_until(recorded, what="the statement the dead server sent to commit")
        assert engine_rest.is_running(pid)
        with running_linkserver(database_url, camunda_url, env=env) as restarted:
            h.base = restarted.base_url

            async def delivered() -> bool:
                return await _answers(db) == ["delivered"]

            # The retry loop takes it over when that attempt's lease ends.
            await wait_until(delivered, timeout_s=60, what="the retry loop to settle the answer")
            # Clicking again shows the answer, and records nothing more.
            status, _, _ = await page(h, "POST", h.url(token))
            assert status == 303
            _, html, _ = await page(h, "GET", h.url(token))
            assert "Answer recorded" in html
        assert await _answers(db) == ["delivered"]
        assert engine_rest.correlation_count(pid) == 1
    finally:
        _discard(server)


@pytest.mark.parametrize("engine_got_it", [True, False], ids=["arrived", "never-arrived"])
async def test_sigkill_during_correlation_is_delivered_once_after_restart(
    database_url: str,
    db: AsyncEngine,
    proxy: FaultProxy,
    engine_rest: EngineRest,
    keyring: Keyring,
    http: aiohttp.ClientSession,
    engine_got_it: bool,
) -> None:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    env = {"ACTION_LINKS_CORRELATION_TIMEOUT": "PT2S"}
    server = start_linkserver(database_url, proxy.url, env=env)
    try:
        h = Harness(server.base_url, http, db, engine_rest, keyring)
        pid = await h.instance()
        issued = await h.issue(pid)
        token = issued.tokens["deny"]
        hold = proxy.add(
            Rule(Fault.HOLD if engine_got_it else Fault.HOLD_THEN_RESET, "POST", MESSAGE, times=1)
        )
        click = asyncio.create_task(page(h, "POST", h.url(token)))

        async def correlation_sent() -> bool:
            return proxy.count("POST", MESSAGE) == 1

        await wait_until(correlation_sent, what="the correlation to reach the proxy")
        server.kill()
        with pytest.raises(aiohttp.ClientError):
            await click
        hold.release.set()  # the engine acts on the request of a server that is gone
        assert await _answers(db) == ["pending"]  # committed before Camunda heard of it
        with running_linkserver(database_url, proxy.url, env=env) as restarted:
            h.base = restarted.base_url

            async def delivered() -> bool:
                return await _answers(db) == ["delivered"]

            await wait_until(delivered, timeout_s=60, what="the retry loop to settle the answer")
            _, html, _ = await page(h, "GET", h.url(token))
            assert "Answer recorded" in html
        assert engine_rest.correlation_count(pid) == 1
        assert engine_rest.history_variables(pid)["approved"]["value"] is False
        sent = proxy.count("POST", MESSAGE)
        assert sent == (1 if engine_got_it else 2)
    finally:
        _discard(server)


async def test_sigterm_drains_an_inflight_answer_and_exits_cleanly(
    database_url: str,
    db: AsyncEngine,
    proxy: FaultProxy,
    engine_rest: EngineRest,
    keyring: Keyring,
    http: aiohttp.ClientSession,
) -> None:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    server = start_linkserver(database_url, proxy.url, env={"ACTION_LINKS_SHUTDOWN_GRACE": "PT20S"})
    try:
        h = Harness(server.base_url, http, db, engine_rest, keyring)
        pid = await h.instance()
        issued = await h.issue(pid)
        proxy.add(Rule(Fault.DELAY, "POST", MESSAGE, times=1, delay_s=2))
        click = asyncio.create_task(page(h, "POST", h.url(issued.tokens["approve"])))

        async def in_flight() -> bool:
            return proxy.count("POST", MESSAGE) == 1

        await wait_until(in_flight, what="the correlation to be in flight")
        server.process.send_signal(signal.SIGTERM)
        status, _, _ = await click
        assert status == 303
        assert await asyncio.to_thread(server.process.wait, 30) == 0
        assert "Traceback" not in server.log_text()
        assert await _answers(db) == ["delivered"]
        assert engine_rest.correlation_count(pid) == 1
    finally:
        _discard(server)


async def test_postgres_restart_gives_503_then_recovers_by_itself(
    own_postgres: tuple[PostgresCluster, str],
    camunda_url: str,
    engine_rest: EngineRest,
    keyring: Keyring,
    http: aiohttp.ClientSession,
) -> None:
    cluster, url = own_postgres
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    db = create_db(url)
    try:
        with running_linkserver(url, camunda_url) as server:
            h = Harness(server.base_url, http, db, engine_rest, keyring)
            pid = await h.instance()
            issued = await h.issue(pid)
            token = issued.tokens["approve"]
            status, _, _ = await page(h, "GET", h.url(token))
            assert status == 200
            # Readers keep coming through the restart: each gets the page or a plain 503.
            seen: list[int] = []
            load_running = asyncio.Event()
            load_running.set()

            async def load() -> None:
                while load_running.is_set():
                    seen.append((await page(h, "GET", h.url(issued.tokens["deny"])))[0])
                    await asyncio.sleep(0.02)

            loader = asyncio.create_task(load())
            await asyncio.to_thread(cluster.stop)
            status, html, _ = await page(h, "GET", h.url(token))
            assert status == 503 and "try again" in html and "Traceback" not in html
            status, html, _ = await page(h, "POST", h.url(token))
            assert status == 503
            async with http.get(f"{server.base_url}/api/v1/links/{token}") as r:
                assert r.status == 503 and (await r.json())["error"]["code"] == "unavailable"
            async with http.get(f"{server.base_url}/readyz") as r:
                assert r.status == 503
            async with http.get(f"{server.base_url}/healthz") as r:
                assert r.status == 200  # alive: a restart would not help
            await asyncio.to_thread(cluster.start)

            async def ready() -> bool:
                async with http.get(f"{server.base_url}/readyz") as r:
                    return r.status == 200

            await wait_until(ready, what="the link server to reconnect")
            load_running.clear()
            await loader
            assert set(seen) == {200, 503}, sorted(set(seen))
            assert seen[-1] == 200
            status, _, _ = await page(h, "POST", h.url(token))
            assert status == 303
            _, html, _ = await page(h, "GET", h.url(token))
            assert "Answer recorded" in html
            assert engine_rest.correlation_count(pid) == 1
            assert server.process.poll() is None
        # The test's own pool (a bare engine, not a Database) still holds connections from
        # before the restart; nothing checks them on checkout, so start it afresh.
        await db.dispose()
        async with db.connect() as conn:
            states = (await conn.execute(sa.select(links.c.state))).scalars().all()
        assert sorted(states) == ["redeemed", "revoked", "revoked"]
    finally:
        await db.dispose()
