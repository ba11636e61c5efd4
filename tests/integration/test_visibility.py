"""An answer is given up only on proof that its instance ended, never because the link server
cannot see it. The fault proxy hides the instance (404 from the runtime and the history API,
as the engine answers a user without READ, or outside the instance's tenant); the real engine
behind it decides everything else."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from linkserver.retry import INVISIBLE_ERROR
from tests.support.faultproxy import Fault, FaultProxy, Rule
from tests.support.harness import WAIT_FOR_DECISION, Harness, page, serving, wait_until
from tests.support.observe import answer_rows, audit_rows, metric
from tokenstore.tables import links
from tokenstore.tokens import Keyring

NOT_YET_WINDOW = dt.timedelta(seconds=2)
HIDDEN = json.dumps({"type": "InvalidRequestException", "message": "does not exist"})


@pytest.fixture
async def harness(
    database_url: str, db: AsyncEngine, proxy: FaultProxy, engine_rest: EngineRest, keyring: Keyring
) -> AsyncIterator[Harness]:
    async with serving(
        database_url,
        db,
        engine_rest,
        keyring,
        proxy.url,
        {"wait-for-decision": WAIT_FOR_DECISION},
        correlation_timeout=dt.timedelta(seconds=1),
        not_yet_window=NOT_YET_WINDOW,
    ) as h:
        yield h


def hide(proxy: FaultProxy, pid: str) -> None:
    """Make the engine answer for this instance as it does to a user who may not see it."""
    for path in (rf"/process-instance/{pid}$", rf"/history/process-instance/{pid}$"):
        proxy.add(Rule(Fault.RESPOND, "GET", path, status=404, body=HIDDEN))


async def test_an_early_answer_to_an_instance_it_cannot_see_waits_then_arrives_once(
    harness: Harness, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="linkserver")
    pid = await harness.instance(waiting=False)  # not at its message event yet
    issued = await harness.issue(pid)
    hide(proxy, pid)
    status, _, _ = await page(harness, "POST", harness.url(issued.tokens["approve"]))
    assert status == 303

    async def tried_past_the_window() -> bool:
        (row,) = await answer_rows(harness.db)
        return bool(row["attempts"] >= 4)

    await wait_until(tried_past_the_window, timeout_s=60, what="four attempts")
    (row,) = await answer_rows(harness.db)
    async with harness.db.connect() as conn:
        now = (await conn.execute(sa.select(sa.func.now()))).scalar_one()
    assert now - row["answered_at"] > NOT_YET_WINDOW  # the window alone would have given up
    assert row["state"] == "pending"
    assert row["last_error"] == INVISIBLE_ERROR
    _, html, _ = await page(harness, "GET", harness.url(issued.tokens["approve"]))
    assert "Received" in html

    async def gauge_up() -> bool:
        return await metric(harness, "action_links_invisible_instances") == 1.0

    await wait_until(gauge_up, what="the invisible-instances gauge")
    assert await metric(harness, "action_links_deliveries_total", 'result="invisible"') >= 3
    said = [r for r in caplog.records if getattr(r, "action", None) == "instance_invisible"]
    assert len(said) == 1  # once per interval, not once per attempt
    assert INVISIBLE_ERROR in said[0].getMessage()
    assert proxy.count("GET", rf"/history/process-instance/{pid}$") >= 3

    # The permission is granted back, and the process reaches its message event.
    harness.release(pid)
    proxy.clear()

    async def delivered() -> bool:
        return [r["state"] for r in await answer_rows(harness.db)] == ["delivered"]

    await wait_until(delivered, timeout_s=60, what="the answer to arrive")
    assert harness.rest.correlation_count(pid) == 1
    assert harness.rest.history_variables(pid)["approved"]["value"] is True
    actions = [r["action"] for r in await audit_rows(harness.db)]
    assert "undeliverable" not in actions and actions.count("delivered") == 1

    async def gauge_down() -> bool:
        return await metric(harness, "action_links_invisible_instances") == 0.0

    await wait_until(gauge_down, what="the invisible-instances gauge to fall")


async def test_an_instance_the_history_shows_ended_still_closes_the_group(
    harness: Harness, proxy: FaultProxy
) -> None:
    pid = await harness.instance()
    issued = await harness.issue(pid, exclusive=False)
    harness.rest.http.delete(f"/process-instance/{pid}").raise_for_status()
    assert harness.rest.history_instance(pid)["state"] == "EXTERNALLY_TERMINATED"
    await page(harness, "POST", harness.url(issued.tokens["deny"]))
    _, html, _ = await page(harness, "GET", harness.url(issued.tokens["deny"]))
    assert "no longer open" in html
    assert [r["state"] for r in await answer_rows(harness.db)] == ["undeliverable"]
    async with harness.db.connect() as conn:
        rows = await conn.execute(sa.select(links.c.action, links.c.state, links.c.revoked_reason))
        states = {action: (state, reason) for action, state, reason in rows}
    # The instance has ended (the history says so): no other answer could arrive either.
    assert states["approve"] == ("revoked", "closed")
    assert states["other"] == ("revoked", "closed")
    assert proxy.count("GET", rf"/history/process-instance/{pid}$") == 1
    assert harness.rest.correlation_count(pid) == 0


async def test_a_completed_instance_seen_only_in_the_history_ends_the_answer(
    harness: Harness, proxy: FaultProxy
) -> None:
    """The runtime API says 404 for an ended instance, as it does for a hidden one: the
    history's COMPLETED tells them apart."""
    pid = await harness.instance(waiting=False)
    issued = await harness.issue(pid, exclusive=False)
    # Answer the process some other way (it completes), then click a link of it.
    harness.release(pid)
    harness.rest.http.post(
        "/message", json={"messageName": "decision", "processInstanceId": pid}
    ).raise_for_status()
    assert harness.rest.history_instance(pid)["state"] == "COMPLETED"
    await page(harness, "POST", harness.url(issued.tokens["approve"]))
    assert [r["state"] for r in await answer_rows(harness.db)] == ["undeliverable"]
    _, html, _ = await page(harness, "GET", harness.url(issued.tokens["other"]))
    assert "withdrawn" in html  # the group closed
