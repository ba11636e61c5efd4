"""An in-process link server on real Postgres and a real engine, and a process to answer."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from linkserver.app import create_admin_app, create_app
from linkserver.server import make_runner, start_site
from linkserver.settings import LinkServerSettings
from tests.support.bpmn import model_xml
from tokenstore import issuing
from tokenstore.model import ActionSpec, IssuedGroup, IssueRequest
from tokenstore.settings import Settings
from tokenstore.tables import redemptions
from tokenstore.tokens import Keyring
from tokenstore.types import ExternalTaskId, ProcessInstanceId
from tokenstore.variables import TypedValue

WAIT_FOR_DECISION = model_xml("wait-for-decision")
AMOUNT = {
    "type": "object",
    "properties": {"amount": {"type": "integer", "minimum": 1, "maximum": 500, "title": "Amount"}},
    "required": ["amount"],
}


@dataclass
class Harness:
    base: str
    http: aiohttp.ClientSession
    db: AsyncEngine
    rest: EngineRest
    keyring: Keyring

    async def instance(self, waiting: bool = True) -> str:
        pid = await asyncio.to_thread(self.rest.start, "wait-for-decision")
        if waiting:
            await asyncio.to_thread(self.release, pid)
        return pid

    def release(self, pid: str) -> None:
        """Complete the user task so the instance reaches its message catch event."""
        tasks = self.rest.http.get("/task", params={"processInstanceId": pid}).json()
        for task in tasks:
            self.rest.http.post(f"/task/{task['id']}/complete", json={}).raise_for_status()

    async def issue(
        self, pid: str, ttl: dt.timedelta = dt.timedelta(hours=1), **changes: Any
    ) -> IssuedGroup:
        req = IssueRequest(
            external_task_id=ExternalTaskId(f"task-{uuid.uuid4()}"),
            process_instance_id=ProcessInstanceId(pid),
            activity_id="issue",
            message_name="decision",
            description="Purchase request 4711",
            actions=(
                ActionSpec("approve", "Approve", {"approved": TypedValue("Boolean", True)}),
                ActionSpec("deny", "Deny", {"approved": TypedValue("Boolean", False)}),
                ActionSpec(
                    "other", "Other amount", {"choice": TypedValue("String", "other")}, AMOUNT
                ),
            ),
            ttl=ttl,
        )
        req = dataclasses.replace(req, **changes)
        async with self.db.begin() as conn:
            return await issuing.issue_group(conn, req, self.keyring, dt.datetime.now(dt.UTC))

    def url(self, token: str) -> str:
        return f"{self.base}/l/{token}"

    async def answers(self) -> int:
        async with self.db.connect() as conn:
            result = await conn.execute(sa.select(sa.func.count()).select_from(redemptions))
            return int(result.scalar_one())


@asynccontextmanager
async def link_and_admin_server(settings: LinkServerSettings) -> AsyncIterator[tuple[str, str]]:
    """Serve the app and its admin listener in this event loop, as ``serve`` does; yields both
    base URLs."""
    runner = make_runner(create_app(settings), settings)
    await runner.setup()
    admin = web.AppRunner(create_admin_app(runner.app), handle_signals=False)
    try:
        host, port = await start_site(runner, "127.0.0.1", 0)
        await admin.setup()
        admin_host, admin_port = await start_site(admin, "127.0.0.1", 0)
        yield f"http://{host}:{port}", f"http://{admin_host}:{admin_port}"
    finally:
        await admin.cleanup()
        await runner.cleanup()


@asynccontextmanager
async def link_server(settings: LinkServerSettings) -> AsyncIterator[str]:
    """Serve the app in this event loop; yields its base URL."""
    async with link_and_admin_server(settings) as (base, _):
        yield base


def settings_for(
    database_url: str, keyring: Keyring, camunda_url: str, **changes: Any
) -> LinkServerSettings:
    values: dict[str, Any] = {
        "correlation_timeout": dt.timedelta(seconds=5),
        "not_yet_window": dt.timedelta(minutes=5),
        **changes,
    }
    shared = Settings(database_url=database_url, keyring=keyring, camunda_url=camunda_url)
    return LinkServerSettings(shared=shared, **values)


@asynccontextmanager
async def serving(
    database_url: str,
    db: AsyncEngine,
    rest: EngineRest,
    keyring: Keyring,
    camunda_url: str,
    models: Mapping[str, str],
    **settings_changes: Any,
) -> AsyncIterator[Harness]:
    """Deploy the models (name -> BPMN XML), serve a link server, and hand out a Harness."""
    for name, xml in models.items():
        rest.deploy_xml(name, xml)
    settings = settings_for(database_url, keyring, camunda_url, **settings_changes)
    async with link_server(settings) as base, aiohttp.ClientSession() as http:
        yield Harness(base, http, db, rest, keyring)


async def page(h: Harness, method: str, url: str, **kw: Any) -> tuple[int, str, Any]:
    async with h.http.request(method, url, allow_redirects=False, **kw) as response:
        return response.status, await response.text(), response.headers


async def wait_until(check: Any, timeout_s: float = 30, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


# A multi-use action of the ``reminders`` model (tests/support/models/reminders.bpmn).
REMIND = ActionSpec("remind", "Remind me", {"remind": TypedValue("Boolean", True)}, max_uses=3)


async def reminder_link(h: Harness) -> tuple[str, str]:
    """Start a ``reminders`` instance and issue it a multi-use Remind link: (instance, token)."""
    pid = await asyncio.to_thread(h.rest.start, "reminders")
    issued = await h.issue(pid, actions=(REMIND,), exclusive=False, message_name="remind-me")
    return pid, issued.tokens["remind"]
