"""Both daemons authenticate to the engine as configured: basic auth or a bearer token."""

from __future__ import annotations

import asyncio
import base64

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from tests.support.faultproxy import FaultProxy
from tests.support.harness import WAIT_FOR_DECISION, Harness, page, wait_until
from tests.support.linkserver_process import running_linkserver
from tests.support.worker_process import running_worker
from tokenstore.tokens import Keyring


async def test_worker_sends_basic_auth(
    database_url: str, proxy: FaultProxy, engine_rest: EngineRest
) -> None:
    engine_rest.deploy_example("approval.bpmn")
    expected = "Basic " + base64.b64encode(b"links-bot:s3cret").decode()
    with running_worker(
        database_url,
        proxy.url,
        "http://links.test",
        CAMUNDA_USER="links-bot",
        CAMUNDA_PASSWORD="s3cret",
    ):
        pid = engine_rest.start("approval")
        await asyncio.to_thread(
            engine_rest.wait_for,
            lambda: "link_approve" in engine_rest.variables(pid),
            30,
            "links",
        )
    sent = [s for s in proxy.seen if s.path.startswith("/engine-rest/external-task")]
    assert {s.path.rsplit("/", 1)[-1] for s in sent} >= {"fetchAndLock", "complete"}
    assert {s.authorization for s in sent} == {expected}


async def test_link_server_sends_the_bearer_token(
    database_url: str, db: AsyncEngine, proxy: FaultProxy, engine_rest: EngineRest, keyring: Keyring
) -> None:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    with running_linkserver(
        database_url, proxy.url, env={"ACTION_LINKS_CAMUNDA_TOKEN": "t0ken-42"}
    ) as server:
        async with aiohttp.ClientSession() as http:
            h = Harness(server.base_url, http, db, engine_rest, keyring)
            pid = await h.instance()
            issued = await h.issue(pid)
            assert (await page(h, "POST", h.url(issued.tokens["approve"])))[0] == 303

            async def delivered() -> bool:
                return not engine_rest.is_running(pid)

            await wait_until(delivered, what="the answer to arrive")
    messages = [s for s in proxy.seen if s.path.endswith("/message")]
    assert len(messages) == 1
    assert messages[0].authorization == "Bearer t0ken-42"
