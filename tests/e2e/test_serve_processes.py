"""``action-links serve --processes 2``: both processes take answers on one port, and SIGTERM
in the middle of the load drains both; nothing is lost, and the parent exits 0."""

from __future__ import annotations

import asyncio
import json
import signal

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from tests.support.faultproxy import Fault, FaultProxy, Rule
from tests.support.harness import WAIT_FOR_DECISION, Harness, wait_until
from tests.support.linkserver_process import start_linkserver
from tokenstore.tables import redemptions
from tokenstore.tokens import Keyring

MESSAGE = r"/message$"
CLICKS = 16


async def _redeem(base: str, token: str) -> tuple[int, str]:
    # A connection of its own per click, so the kernel spreads them over the processes.
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
        http.post(f"{base}/api/v1/links/{token}/redeem") as response,
    ):
        return response.status, (await response.json()).get("outcome", "")


async def test_two_processes_share_the_port_and_drain_on_sigterm(
    database_url: str,
    db: AsyncEngine,
    proxy: FaultProxy,
    engine_rest: EngineRest,
    keyring: Keyring,
    http: aiohttp.ClientSession,
) -> None:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    env = {"ACTION_LINKS_SHUTDOWN_GRACE": "PT20S", "ACTION_LINKS_LOG_FORMAT": "json"}
    server = start_linkserver(database_url, proxy.url, env=env, log_level="INFO", processes=2)
    try:
        h = Harness(server.base_url, http, db, engine_rest, keyring)
        pids = await asyncio.gather(*(h.instance() for _ in range(CLICKS)))
        issued = [await h.issue(pid) for pid in pids]
        # Every correlation is held a while, so all clicks are in flight when SIGTERM comes.
        proxy.add(Rule(Fault.DELAY, "POST", MESSAGE, times=CLICKS, delay_s=2))
        clicks = [
            asyncio.create_task(_redeem(server.base_url, group.tokens["approve"]))
            for group in issued
        ]

        async def all_in_flight() -> bool:
            return proxy.count("POST", MESSAGE) == CLICKS

        await wait_until(all_in_flight, what="every correlation to be in flight")
        server.process.send_signal(signal.SIGTERM)
        assert await asyncio.gather(*clicks) == [(200, "accepted")] * CLICKS
        assert await asyncio.to_thread(server.process.wait, 30) == 0
        log = server.log_text()
        assert "Traceback" not in log
        entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        answered_by = {e.get("server_process") for e in entries if e.get("action") == "answered"}
        assert answered_by == {0, 1}
        stopped_by = {
            e.get("server_process") for e in entries if e.get("action") == "serve_stopped"
        }
        assert stopped_by == {0, 1}
        async with db.connect() as conn:
            states = (await conn.execute(sa.select(redemptions.c.state))).scalars().all()
        assert states == ["delivered"] * CLICKS
        for pid in pids:
            assert engine_rest.correlation_count(pid) == 1
    finally:
        if server.process.poll() is None:
            server.kill()
        server.log_path.unlink(missing_ok=True)
