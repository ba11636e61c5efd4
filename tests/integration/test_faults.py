"""Exactly once under faults: a fault-injecting proxy sits between link servers and the engine.

Each test counts correlations in Camunda's history and answers in Postgres, and checks that
every click that got "received" ends delivered or undeliverable: never lost, never twice.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AsyncExitStack

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from tests.support.faultproxy import Fault, FaultProxy, Rule
from tests.support.harness import (
    WAIT_FOR_DECISION,
    Harness,
    link_server,
    page,
    settings_for,
    wait_until,
)
from tokenstore.tables import audit_events, redemptions
from tokenstore.tokens import Keyring

MESSAGE = r"/message$"


async def _state(h: Harness, token: str) -> str:
    _, html, _ = await page(h, "GET", h.url(token))
    for marker, state in (
        ("Answer recorded", "recorded"),
        ("Received", "received"),
        ("no longer open", "undeliverable"),
    ):
        if marker in html:
            return state
    return "other"


async def _settled(h: Harness, token: str, expected: str = "recorded") -> None:
    async def done() -> bool:
        return await _state(h, token) == expected

    await wait_until(done, timeout_s=40, what=f"the answer to be {expected}")


async def _audit(h: Harness) -> list[str]:
    async with h.db.connect() as conn:
        rows = await conn.execute(sa.select(audit_events.c.action).order_by(audit_events.c.id))
        return list(rows.scalars())


async def _answer_click(h: Harness, proxy: FaultProxy, rule: Rule) -> tuple[str, str]:
    pid = await h.instance()
    issued = await h.issue(pid)
    proxy.add(rule)
    status, _, _ = await page(h, "POST", h.url(issued.tokens["approve"]))
    assert status == 303
    return pid, issued.tokens["approve"]


@pytest.mark.parametrize(
    "rule",
    [
        Rule(Fault.RESET, "POST", MESSAGE, times=2),
        Rule(Fault.UNAVAILABLE, "POST", MESSAGE, times=2),
    ],
    ids=["engine-refuses", "engine-503"],
)
async def test_engine_down_answer_received_then_delivered_once(
    harness: Harness, proxy: FaultProxy, rule: Rule
) -> None:
    pid, token = await _answer_click(harness, proxy, rule)
    assert await _state(harness, token) == "received"
    await _settled(harness, token)
    assert harness.rest.correlation_count(pid) == 1
    assert harness.rest.history_variables(pid)["approved"]["value"] is True
    audit = await _audit(harness)
    assert audit.count("answered") == 1 and audit.count("delivered") == 1
    assert proxy.count("POST", MESSAGE, fault=None) == 1


async def test_lost_response_is_found_in_history_not_sent_again(
    harness: Harness, proxy: FaultProxy
) -> None:
    pid, token = await _answer_click(
        harness, proxy, Rule(Fault.DROP_RESPONSE, "POST", MESSAGE, times=1)
    )
    assert await _state(harness, token) == "received"
    await _settled(harness, token)
    assert harness.rest.correlation_count(pid) == 1
    assert proxy.count("POST", MESSAGE) == 1  # the history answered; no second correlation
    assert proxy.count("GET", r"/history/variable-instance/count$") >= 1


async def test_slow_engine_times_out_but_answer_arrives_once(
    harness: Harness, proxy: FaultProxy
) -> None:
    # The engine takes longer than the correlation timeout: the link server gives up waiting,
    # the engine still correlates. The retry must learn that from the history.
    pid, token = await _answer_click(
        harness, proxy, Rule(Fault.DELAY, "POST", MESSAGE, times=1, delay_s=2.5)
    )
    await _settled(harness, token)
    assert harness.rest.correlation_count(pid) == 1


async def test_unreadable_history_never_risks_a_second_correlation(
    harness: Harness, proxy: FaultProxy
) -> None:
    proxy.add(Rule(Fault.UNAVAILABLE, "GET", r"/history/", times=3))
    pid, token = await _answer_click(
        harness, proxy, Rule(Fault.DROP_RESPONSE, "POST", MESSAGE, times=1)
    )
    await _settled(harness, token)
    assert harness.rest.correlation_count(pid) == 1
    assert proxy.count("POST", MESSAGE) == 1


async def test_two_link_servers_deliver_each_pending_answer_once(
    database_url: str,
    db: AsyncEngine,
    proxy: FaultProxy,
    engine_rest: EngineRest,
    keyring: Keyring,
) -> None:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    settings = settings_for(
        database_url, keyring, proxy.url, correlation_timeout=dt.timedelta(seconds=1)
    )
    down = proxy.add(Rule(Fault.RESET, "POST", MESSAGE))
    async with AsyncExitStack() as stack:
        bases = [await stack.enter_async_context(link_server(settings)) for _ in range(2)]
        http = await stack.enter_async_context(aiohttp.ClientSession())
        servers = [Harness(base, http, db, engine_rest, keyring) for base in bases]
        clicks = []
        for i in range(6):
            h = servers[i % 2]
            pid = await h.instance()
            issued = await h.issue(pid)
            action = "approve" if i % 3 else "deny"
            status, _, _ = await page(h, "POST", h.url(issued.tokens[action]))
            assert status == 303
            clicks.append((pid, issued.tokens[action]))
        for _pid, token in clicks:
            assert await _state(servers[0], token) == "received"
        proxy.rules.remove(down)
        for _pid, token in clicks:
            await _settled(servers[1], token)
        for pid, _ in clicks:
            assert engine_rest.correlation_count(pid) == 1
    async with db.connect() as conn:
        states = (await conn.execute(sa.select(redemptions.c.state))).scalars().all()
    assert sorted(states) == ["delivered"] * 6
    assert proxy.count("POST", MESSAGE, fault=None) == 6


async def test_too_early_answer_waits_then_becomes_undeliverable_after_the_window(
    database_url: str,
    db: AsyncEngine,
    camunda_url: str,
    engine_rest: EngineRest,
    keyring: Keyring,
) -> None:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    settings = settings_for(
        database_url, keyring, camunda_url, not_yet_window=dt.timedelta(seconds=2)
    )
    async with link_server(settings) as base, aiohttp.ClientSession() as http:
        h = Harness(base, http, db, engine_rest, keyring)
        pid = await h.instance(waiting=False)  # never reaches its message event
        issued = await h.issue(pid)
        await page(h, "POST", h.url(issued.tokens["deny"]))
        assert await _state(h, issued.tokens["deny"]) == "received"
        await _settled(h, issued.tokens["deny"], "undeliverable")
        assert engine_rest.is_running(pid)
        assert engine_rest.correlation_count(pid) == 0
        assert "undeliverable" in await _audit(h)
