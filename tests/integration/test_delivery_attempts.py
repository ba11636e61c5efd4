"""Delivery attempts that end badly after the request left: cancelled, answered by a gateway's
504 while the engine still works, or lost. Real engine behind the fault proxy."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from linkserver.camunda import CamundaClient
from linkserver.delivery import Deliverer
from linkserver.retry import DeliveryPolicy
from tests.support.bpmn import model_xml
from tests.support.faultproxy import Fault, FaultProxy, Rule
from tests.support.harness import (
    WAIT_FOR_DECISION,
    Harness,
    page,
    reminder_link,
    serving,
    wait_until,
)
from tokenstore import answering, tokens
from tokenstore.db import Database
from tokenstore.model import ClientInfo
from tokenstore.tables import redemptions
from tokenstore.tokens import Keyring
from tokenstore.types import RedemptionId

REMINDERS = model_xml("reminders")
MESSAGE = r"/message$"
LEASE = dt.timedelta(seconds=2)


@pytest.fixture
async def harness(
    database_url: str, db: AsyncEngine, proxy: FaultProxy, engine_rest: EngineRest, keyring: Keyring
) -> AsyncIterator[Harness]:
    models = {"reminders": REMINDERS, "wait-for-decision": WAIT_FOR_DECISION}
    async with serving(
        database_url,
        db,
        engine_rest,
        keyring,
        proxy.url,
        models,
        correlation_timeout=dt.timedelta(seconds=1),
    ) as h:
        yield h


async def _states(db: AsyncEngine) -> list[str]:
    async with db.connect() as conn:
        return list((await conn.execute(sa.select(redemptions.c.state))).scalars())


async def _settled(db: AsyncEngine) -> None:
    async def done() -> bool:
        states = await _states(db)
        return bool(states) and "pending" not in states

    await wait_until(done, timeout_s=60, what="the answer to settle")


async def test_gateway_504_while_the_engine_works_is_not_sent_twice(
    harness: Harness, proxy: FaultProxy
) -> None:
    pid, token = await reminder_link(harness)
    proxy.add(Rule(Fault.GATEWAY_TIMEOUT, "POST", MESSAGE, times=1, delay_s=2.0))
    await page(harness, "POST", harness.url(token))
    await _settled(harness.db)
    assert await _states(harness.db) == ["delivered"]
    assert harness.rest.correlation_count(pid) == 1


async def test_gateway_504_then_instance_ends_is_delivered_not_undeliverable(
    harness: Harness, proxy: FaultProxy
) -> None:
    pid = await harness.instance()
    issued = await harness.issue(pid)
    proxy.add(Rule(Fault.GATEWAY_TIMEOUT, "POST", MESSAGE, times=1, delay_s=2.0))
    await page(harness, "POST", harness.url(issued.tokens["approve"]))
    await _settled(harness.db)
    # The late request ended the instance; the answer arrived and must say so.
    assert await _states(harness.db) == ["delivered"]
    _, html, _ = await page(harness, "GET", harness.url(issued.tokens["approve"]))
    assert "Answer recorded" in html
    assert harness.rest.history_variables(pid)["approved"]["value"] is True


async def test_a_cancelled_attempt_keeps_its_lease_and_is_found_in_history(
    database: Database,
    db: AsyncEngine,
    proxy: FaultProxy,
    engine_rest: EngineRest,
    keyring: Keyring,
) -> None:
    engine_rest.deploy_xml("reminders", REMINDERS)
    async with aiohttp.ClientSession() as http:
        h = Harness("http://unused", http, db, engine_rest, keyring)
        pid, token = await reminder_link(h)
    now = dt.datetime.now(dt.UTC)
    async with db.begin() as conn:
        recorded = await answering.redeem(
            conn, tokens.verify(keyring, token), None, now, ClientInfo()
        )
    assert recorded is not None and recorded.delivery is not None
    rid = RedemptionId(recorded.delivery.redemption_id)
    camunda = CamundaClient(proxy.url, {}, dt.timedelta(seconds=5))
    deliverer = Deliverer(database, camunda, DeliveryPolicy(), attempt_lease=LEASE)
    hold = proxy.add(Rule(Fault.HOLD, "POST", MESSAGE, times=1))
    try:
        attempt = asyncio.create_task(deliverer.deliver_now(rid))

        async def sent() -> bool:
            return proxy.count("POST", MESSAGE) == 1

        await wait_until(sent, what="the correlation to leave")
        attempt.cancel()  # shutdown, or a request handler cancelled: nothing gets recorded
        await asyncio.gather(attempt, return_exceptions=True)
        hold.release.set()  # ... and the engine acts on it all the same
        assert await deliverer.deliver_one_due() is False  # the lease keeps everyone off
        await asyncio.sleep(LEASE.total_seconds() + 0.2)
        assert await deliverer.deliver_one_due() is True
    finally:
        await camunda.close()
    assert await _states(db) == ["delivered"]
    assert proxy.count("POST", MESSAGE) == 1
    assert engine_rest.correlation_count(pid) == 1
