"""The first delivery attempt claimed in the transaction that records the answer: the retry
loop keeps off it for the attempt lease, the click delivers it once, and a click that finds
no free slot hands it back unclaimed. Real engine behind the fault proxy."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from linkserver.camunda import CamundaClient
from linkserver.delivery import Deliverer
from linkserver.retry import Delivered, DeliveryPolicy
from tests.support.faultproxy import Fault, FaultProxy, Rule
from tests.support.harness import WAIT_FOR_DECISION, Harness, wait_until
from tests.support.observe import answer_rows
from tokenstore import answering, tokens
from tokenstore.db import Database
from tokenstore.model import ClientInfo, Delivery
from tokenstore.tokens import Keyring

MESSAGE = r"/message$"
CLAIM = dt.timedelta(minutes=5)


async def _claimed(db: AsyncEngine, keyring: Keyring, token: str, now: dt.datetime) -> Delivery:
    async with db.begin() as conn:
        recorded = await answering.redeem(
            conn, tokens.verify(keyring, token), None, now, ClientInfo(), claim=CLAIM
        )
    assert recorded is not None and recorded.delivery is not None
    return recorded.delivery


async def test_an_answer_is_recorded_claimed_and_delivered_once_by_its_click(
    database: Database,
    db: AsyncEngine,
    proxy: FaultProxy,
    engine_rest: EngineRest,
    keyring: Keyring,
) -> None:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    now = dt.datetime.now(dt.UTC)
    async with aiohttp.ClientSession() as http:
        h = Harness("http://unused", http, db, engine_rest, keyring)
        pid = await h.instance()
        delivery = await _claimed(db, keyring, (await h.issue(pid)).tokens["approve"], now)
    assert delivery.attempts == 1
    (row,) = await answer_rows(db)
    assert (row["attempts"], row["state"]) == (1, "pending")
    assert row["next_attempt_at"] == now + CLAIM
    camunda = CamundaClient(proxy.url, {}, dt.timedelta(seconds=30))
    deliverer = Deliverer(database, camunda, DeliveryPolicy(), attempt_lease=CLAIM)
    try:
        assert await deliverer.deliver_one_due() is False  # the claim keeps the loop off
        assert await deliverer.deliver_claimed(delivery) == Delivered()
    finally:
        await camunda.close()
    (row,) = await answer_rows(db)
    assert (row["attempts"], row["state"]) == (1, "delivered")
    assert proxy.count("POST", MESSAGE) == 1
    assert engine_rest.correlation_count(pid) == 1


async def test_a_claimed_click_without_a_slot_hands_its_answer_back_unclaimed(
    database: Database,
    db: AsyncEngine,
    proxy: FaultProxy,
    engine_rest: EngineRest,
    keyring: Keyring,
) -> None:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    now = dt.datetime.now(dt.UTC)
    async with aiohttp.ClientSession() as http:
        h = Harness("http://unused", http, db, engine_rest, keyring)
        first_pid, second_pid = await h.instance(), await h.instance()
        first = await _claimed(db, keyring, (await h.issue(first_pid)).tokens["approve"], now)
        second = await _claimed(db, keyring, (await h.issue(second_pid)).tokens["deny"], now)
    camunda = CamundaClient(proxy.url, {}, dt.timedelta(seconds=30))
    deliverer = Deliverer(
        database,
        camunda,
        DeliveryPolicy(),
        attempt_lease=CLAIM,
        max_concurrent=1,
        max_concurrent_retries=1,
        slot_wait=dt.timedelta(seconds=0.5),
    )
    hold = proxy.add(Rule(Fault.HOLD, "POST", MESSAGE, times=1))
    try:
        holding = asyncio.create_task(deliverer.deliver_claimed(first))

        async def sent() -> bool:
            return proxy.count("POST", MESSAGE) == 1

        await wait_until(sent, what="the first correlation to leave")
        assert await deliverer.deliver_claimed(second) is None
        assert proxy.count("POST", MESSAGE) == 1
        (handed_back,) = [r for r in await answer_rows(db) if r["id"] == second.redemption_id]
        assert handed_back["attempts"] == 0  # as if never claimed: nothing was sent
        assert handed_back["next_attempt_at"] <= dt.datetime.now(dt.UTC)  # due at once
        assert await deliverer.deliver_one_due() is True
        assert engine_rest.correlation_count(second_pid) == 1
        hold.release.set()
        assert await holding == Delivered()
    finally:
        hold.release.set()
        await camunda.close()
    assert engine_rest.correlation_count(first_pid) == 1
    assert sorted(r["state"] for r in await answer_rows(db)) == ["delivered", "delivered"]
