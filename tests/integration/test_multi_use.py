"""Waits that take more than one answer: a multi-use "remind me" link caught by a
non-interrupting event subprocess. Here the engine would accept a duplicate, so these tests
see one if it happens; a single catch event would refuse the second correlation itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from tests.support.bpmn import model_xml
from tests.support.faultproxy import Fault, FaultProxy, Rule
from tests.support.harness import (
    REMIND,
    WAIT_FOR_DECISION,
    Harness,
    page,
    reminder_link,
    serving,
    wait_until,
)
from tokenstore.tables import redemptions
from tokenstore.tokens import Keyring
from tokenstore.types import CorrelateBy
from tokenstore.variables import TypedValue

MESSAGE = r"/message$"
REMINDERS = model_xml("reminders")


@pytest.fixture
async def direct(
    database_url: str, db: AsyncEngine, camunda_url: str, engine_rest: EngineRest, keyring: Keyring
) -> AsyncIterator[Harness]:
    models = {"reminders": REMINDERS, "wait-for-decision": WAIT_FOR_DECISION}
    async with serving(
        database_url,
        db,
        engine_rest,
        keyring,
        camunda_url,
        models,
        not_yet_window=dt.timedelta(seconds=2),
    ) as h:
        yield h


@pytest.fixture
async def faulty(
    database_url: str, db: AsyncEngine, proxy: FaultProxy, engine_rest: EngineRest, keyring: Keyring
) -> AsyncIterator[Harness]:
    async with serving(
        database_url,
        db,
        engine_rest,
        keyring,
        proxy.url,
        {"reminders": REMINDERS},
        correlation_timeout=dt.timedelta(seconds=1),
    ) as h:
        yield h


async def _all_settled(h: Harness) -> None:
    async def settled() -> bool:
        async with h.db.connect() as conn:
            states = (await conn.execute(sa.select(redemptions.c.state))).scalars().all()
        return bool(states) and "pending" not in states

    await wait_until(settled, timeout_s=60, what="every answer to settle")


async def test_each_use_is_acknowledged_and_delivered_once(direct: Harness) -> None:
    h = direct
    pid, token = await reminder_link(h)
    for used, text in ((1, "2 more times"), (2, "once more")):
        assert (await page(h, "POST", h.url(token)))[0] == 303
        status, html, _ = await page(h, "GET", h.url(token))
        assert status == 200 and "Received: you chose “Remind me”" in html and text in html
        assert "Confirm: Remind me" in html
        assert h.rest.correlation_count(pid) == used
    assert (await page(h, "POST", h.url(token)))[0] == 303
    _, html, _ = await page(h, "GET", h.url(token))
    assert "Answer recorded" in html and "Confirm" not in html
    await page(h, "POST", h.url(token))  # a fourth click changes nothing
    assert h.rest.correlation_count(pid) == 3
    assert await h.answers() == 3


async def test_non_exclusive_group_shows_each_link_its_own_answer(direct: Harness) -> None:
    h = direct
    pid = await h.instance()
    issued = await h.issue(pid, exclusive=False)
    await page(h, "POST", h.url(issued.tokens["approve"]))
    await page(h, "POST", h.url(issued.tokens["deny"]))  # too late: the process moved on
    _, approve_html, _ = await page(h, "GET", h.url(issued.tokens["approve"]))
    _, deny_html, _ = await page(h, "GET", h.url(issued.tokens["deny"]))
    assert "Answer recorded" in approve_html and "“Approve”" in approve_html
    assert "“Deny”" in deny_html and "“Approve”" not in deny_html
    assert h.rest.history_variables(pid)["approved"]["value"] is True


async def test_ambiguous_correlation_keys_end_undeliverable_after_the_window(
    direct: Harness,
) -> None:
    h = direct
    twins = [
        h.rest.start("wait-for-decision", {"decisionID": {"value": "same", "type": "String"}})
        for _ in range(2)
    ]
    for pid in twins:
        h.release(pid)
    issued = await h.issue(
        twins[0],
        correlate_by=CorrelateBy.CORRELATION_KEYS,
        correlation_keys={"decisionID": TypedValue("String", "same")},
    )
    await page(h, "POST", h.url(issued.tokens["approve"]))

    async def undeliverable() -> bool:
        _, html, _ = await page(h, "GET", h.url(issued.tokens["approve"]))
        return "no longer open" in html

    await wait_until(undeliverable, timeout_s=30, what="the ambiguous answer to give up")
    assert all(h.rest.is_running(pid) for pid in twins)
    assert all(h.rest.correlation_count(pid) == 0 for pid in twins)


async def test_lost_response_then_a_second_use_still_two_correlations(
    faulty: Harness, proxy: FaultProxy
) -> None:
    h = faulty
    pid, token = await reminder_link(h)
    # Use 1 arrives but its response is lost, and the history is unreadable for a while;
    # use 2 goes through meanwhile and overwrites actionLinkRedemptionId.
    proxy.add(Rule(Fault.DROP_RESPONSE, "POST", MESSAGE, times=1))
    proxy.add(Rule(Fault.UNAVAILABLE, "GET", r"/history/", times=3))
    await page(h, "POST", h.url(token))
    await page(h, "POST", h.url(token))
    await _all_settled(h)
    assert h.rest.correlation_count(pid) == 2
    assert proxy.count("POST", MESSAGE) == 2


async def test_slow_engine_before_a_repeatable_wait_still_one_correlation(
    faulty: Harness, proxy: FaultProxy
) -> None:
    h = faulty
    pid, token = await reminder_link(h)
    proxy.add(Rule(Fault.DELAY, "POST", MESSAGE, times=1, delay_s=2.5))
    await page(h, "POST", h.url(token))
    await _all_settled(h)
    assert h.rest.correlation_count(pid) == 1
    assert proxy.count("POST", MESSAGE) == 1


async def test_a_use_that_came_too_late_says_so_on_the_page(direct: Harness) -> None:
    h = direct
    pid = await h.instance(waiting=False)  # never reaches its message event
    issued = await h.issue(pid, actions=(REMIND,), exclusive=False)
    await page(h, "POST", h.url(issued.tokens["remind"]))
    await _all_settled(h)  # the not-yet window (2 s) runs out
    _, html, _ = await page(h, "GET", h.url(issued.tokens["remind"]))
    assert "came after the request had closed; it was not applied" in html
    assert h.rest.correlation_count(pid) == 0
