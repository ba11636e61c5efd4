"""Fair waits behind a slow engine: a click waits for a delivery slot no longer than one
correlation may take, then the retry loop, on slots of its own, takes the answer over.
Real engine behind the fault proxy, which holds correlations as a slow engine would."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from linkserver.camunda import CamundaClient
from linkserver.delivery import MAX_CONCURRENT_DELIVERIES, Deliverer
from linkserver.retry import Delivered, DeliveryPolicy
from tests.support.faultproxy import Fault, FaultProxy, Rule
from tests.support.harness import WAIT_FOR_DECISION, Harness, page, wait_until
from tests.support.observe import answer_rows
from tokenstore import answering, tokens
from tokenstore.db import Database
from tokenstore.model import ClientInfo
from tokenstore.tokens import Keyring
from tokenstore.types import RedemptionId

MESSAGE = r"/message$"


async def test_more_clicks_than_slots_all_get_a_page_and_arrive_once(
    harness: Harness, proxy: FaultProxy
) -> None:
    clicks = MAX_CONCURRENT_DELIVERIES + 3
    pids = [await harness.instance() for _ in range(clicks)]
    groups = [await harness.issue(pid) for pid in pids]
    urls = [harness.url(group.tokens["approve"]) for group in groups]
    hold = proxy.add(Rule(Fault.HOLD, "POST", MESSAGE))  # the engine takes "forever"
    answered = await asyncio.gather(*(page(harness, "POST", url) for url in urls))
    assert [status for status, _, _ in answered] == [303] * clicks
    for url in urls:  # every person has their page while the engine still holds everything
        _, html, _ = await page(harness, "GET", url)
        assert "Received" in html
    assert not hold.release.is_set()
    proxy.clear()

    async def all_delivered() -> bool:
        return [row["state"] for row in await answer_rows(harness.db)] == ["delivered"] * clicks

    await wait_until(all_delivered, timeout_s=120, what="every answer to arrive")
    for pid in pids:
        assert harness.rest.correlation_count(pid) == 1
    assert await harness.answers() == clicks


async def _recorded(db: AsyncEngine, keyring: Keyring, token: str) -> RedemptionId:
    async with db.begin() as conn:
        recorded = await answering.redeem(
            conn,
            tokens.verify(keyring, token),
            None,
            dt.datetime.now(dt.UTC),
            ClientInfo(),
            # Long: only the hand-over can make the answer due for the retry loop soon.
            delivery_lease=dt.timedelta(minutes=5),
        )
    assert recorded is not None and recorded.delivery is not None
    return RedemptionId(recorded.delivery.redemption_id)


async def test_a_click_without_a_slot_hands_over_to_a_retry_loop_with_slots_of_its_own(
    database: Database,
    db: AsyncEngine,
    proxy: FaultProxy,
    engine_rest: EngineRest,
    keyring: Keyring,
) -> None:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    async with aiohttp.ClientSession() as http:
        h = Harness("http://unused", http, db, engine_rest, keyring)
        first_pid, second_pid = await h.instance(), await h.instance()
        first = await _recorded(db, keyring, (await h.issue(first_pid)).tokens["approve"])
        second = await _recorded(db, keyring, (await h.issue(second_pid)).tokens["deny"])
    camunda = CamundaClient(proxy.url, {}, dt.timedelta(seconds=30))
    deliverer = Deliverer(
        database,
        camunda,
        DeliveryPolicy(),
        attempt_lease=dt.timedelta(minutes=5),
        max_concurrent=1,
        max_concurrent_retries=1,
        slot_wait=dt.timedelta(seconds=0.5),
    )
    hold = proxy.add(Rule(Fault.HOLD, "POST", MESSAGE, times=1))
    try:
        holding = asyncio.create_task(deliverer.deliver_now(first))

        async def sent() -> bool:
            return proxy.count("POST", MESSAGE) == 1

        await wait_until(sent, what="the first correlation to leave")
        # The only inline slot is taken: the second click gives up waiting, nothing sent.
        assert await deliverer.deliver_now(second) is None
        assert proxy.count("POST", MESSAGE) == 1
        (handed_over,) = [r for r in await answer_rows(db) if r["id"] == second]
        assert handed_over["attempts"] == 0
        assert handed_over["next_attempt_at"] <= dt.datetime.now(dt.UTC)  # due at once
        # The retry loop's own slot delivers it while the click's attempt is still held.
        assert await deliverer.deliver_one_due() is True
        assert not holding.done()
        assert engine_rest.correlation_count(second_pid) == 1
        hold.release.set()
        assert await holding == Delivered()
    finally:
        await camunda.close()
    assert sorted(r["state"] for r in await answer_rows(db)) == ["delivered", "delivered"]
    assert engine_rest.correlation_count(first_pid) == 1
