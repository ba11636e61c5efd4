"""The recipient on record: the worker stores it with the group, the confirmation page shows
it masked, the audit trail keeps it, and the process receives it with the answer."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from tests.support.bpmn import model_xml
from tests.support.harness import (
    WAIT_FOR_DECISION,
    Harness,
    link_server,
    page,
    settings_for,
    wait_until,
)
from tests.support.keys import SIGNING_KEYS
from tests.support.worker_process import link_rows
from tokenstore.db import Database
from tokenstore.tables import audit_events
from tokenstore.tokens import Keyring
from tokenstore.types import AuditAction
from worker.daemon import Worker
from worker.engine import EngineClient
from worker.outcome import Complete
from worker.settings import WorkerSettings
from worker.task import Task
from worker.topics import Context

PUBLIC_URL = "https://links.example.test"
APPROVER = "anna.berg@example.com"


@pytest.fixture
async def harness(
    database_url: str, db: AsyncEngine, camunda_url: str, engine_rest: EngineRest, keyring: Keyring
) -> AsyncIterator[Harness]:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    engine_rest.deploy_xml("worker_recipient", model_xml("worker-recipient"))
    async with (
        link_server(settings_for(database_url, keyring, camunda_url)) as base,
        aiohttp.ClientSession() as http,
    ):
        yield Harness(base, http, db, engine_rest, keyring)


def worker_settings(database_url: str, camunda_url: str) -> WorkerSettings:
    return WorkerSettings.from_env(
        {
            "ACTION_LINKS_DATABASE_URL": database_url,
            "ACTION_LINKS_SIGNING_KEYS": SIGNING_KEYS,
            "ACTION_LINKS_CAMUNDA_URL": camunda_url,
            "ACTION_LINKS_PUBLIC_URL": PUBLIC_URL,
            "ACTION_LINKS_WORKER_ID": f"it-{uuid.uuid4().hex[:8]}",
            "ACTION_LINKS_LONG_POLL": "PT1S",
        }
    )


async def fetch_issue_task(client: EngineClient, business_key: str) -> Task:
    body = {
        "workerId": client.worker_id,
        "maxTasks": 1,
        "topics": [
            {
                "topicName": "issue-token",
                "lockDuration": 60_000,
                "businessKey": business_key,
                "localVariables": True,
                "deserializeValues": False,
            }
        ],
    }
    for _ in range(50):
        response = await client._http.post(client.fetch_and_lock_url, json=body)
        response.raise_for_status()
        if items := response.json():
            return Task.from_json(items[0])
        await asyncio.sleep(0.2)
    raise AssertionError(f"no issue-token task for {business_key}")


async def issued_audit(db: AsyncEngine, group_id: Any) -> dict[str, Any]:
    async with db.connect() as conn:
        detail = (
            await conn.execute(
                sa.select(audit_events.c.detail).where(
                    audit_events.c.group_id == group_id,
                    audit_events.c.action == AuditAction.ISSUED.value,
                )
            )
        ).scalar_one()
    return dict(detail)


async def test_the_recipient_travels_from_the_model_to_the_answer(
    database: Database,
    harness: Harness,
    database_url: str,
    camunda_url: str,
    keyring: Keyring,
    started: list[str],
) -> None:
    business_key = f"it-{uuid.uuid4().hex}"
    pid = harness.rest.start(
        "worker_recipient", {"approver": {"type": "String", "value": APPROVER}}, business_key
    )
    started.append(pid)
    settings = worker_settings(database_url, camunda_url)
    async with httpx.AsyncClient() as http:
        client = EngineClient(settings, http)
        ctx = Context(database, client, keyring, PUBLIC_URL)
        outcome = await Worker(settings, client, ctx).process(
            await fetch_issue_task(client, business_key)
        )
    assert isinstance(outcome, Complete)
    (row,) = link_rows(database_url, pid)
    assert row["recipient"] == APPROVER
    assert (await issued_audit(harness.db, row["group_id"]))["recipient"] == APPROVER

    urls = json.loads(harness.rest.history_variables(pid)["actionLinks"]["value"])
    token = urls["approve"].rsplit("/", 1)[1]
    status, html, _ = await page(harness, "GET", harness.url(token))
    assert status == 200
    assert "Sent to a…@example.com" in html
    assert APPROVER not in html and "anna.berg" not in html

    status, _, _ = await page(harness, "POST", harness.url(token))
    assert status == 303
    history = harness.rest.history_variables(pid)
    assert history["actionLinkRecipient"]["value"] == APPROVER
    assert history["approved"]["value"] is True
    assert not harness.rest.is_running(pid)


async def test_a_retried_delivery_still_carries_the_recipient(harness: Harness) -> None:
    """The retry loop reads its answers back from the tables: the recipient comes along."""
    pid = await harness.instance(waiting=False)  # a user task holds it before the catch event
    issued = await harness.issue(pid, recipient="anna")
    status, html, _ = await page(harness, "GET", harness.url(issued.tokens["approve"]))
    assert status == 200 and "Sent to a…" in html and "anna" not in html
    await page(harness, "POST", harness.url(issued.tokens["approve"]))
    assert harness.rest.is_running(pid)  # the first attempt found nobody waiting
    harness.release(pid)
    await wait_until(lambda: _ended(harness, pid), what="the retried delivery")
    assert harness.rest.history_variables(pid)["actionLinkRecipient"]["value"] == "anna"


async def _ended(harness: Harness, pid: str) -> bool:
    return not await asyncio.to_thread(harness.rest.is_running, pid)


async def test_groups_without_a_recipient_show_none(harness: Harness) -> None:
    pid = await harness.instance()
    issued = await harness.issue(pid)
    _, html, _ = await page(harness, "GET", harness.url(issued.tokens["approve"]))
    assert "Sent to" not in html
    assert "recipient" not in await issued_audit(harness.db, issued.group_id)
