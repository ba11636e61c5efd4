"""The handlers and the loop in-process, against the real engine and a real Postgres."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EXAMPLES, EngineRest
from tests.support.bpmn import model_xml
from tests.support.keys import SIGNING_KEYS
from tests.support.worker_process import link_rows
from tokenstore import answering, tokens
from tokenstore.db import Database
from tokenstore.tables import audit_events
from tokenstore.tokens import Keyring
from tokenstore.types import TokenHash
from tokenstore.variables import TypedValue
from worker.daemon import Worker
from worker.engine import EngineClient
from worker.outcome import Complete, Failure
from worker.settings import WorkerSettings
from worker.task import Task
from worker.topics import Context, issue_token

PUBLIC_URL = "https://links.example.test"


def settings_for(database_url: str, camunda_url: str, **changes: Any) -> WorkerSettings:
    return dataclasses.replace(
        WorkerSettings.from_env(
            {
                "ACTION_LINKS_DATABASE_URL": database_url,
                "ACTION_LINKS_SIGNING_KEYS": SIGNING_KEYS,
                "ACTION_LINKS_CAMUNDA_URL": camunda_url,
                "ACTION_LINKS_PUBLIC_URL": PUBLIC_URL,
                "ACTION_LINKS_WORKER_ID": f"it-{uuid.uuid4().hex[:8]}",
                "ACTION_LINKS_LONG_POLL": "PT1S",
            }
        ),
        **changes,
    )


@pytest.fixture
def settings(database_url: str, camunda_url: str) -> WorkerSettings:
    return settings_for(database_url, camunda_url)


@pytest.fixture
async def client(settings: WorkerSettings) -> AsyncIterator[EngineClient]:
    async with httpx.AsyncClient() as http:
        yield EngineClient(settings, http)


@pytest.fixture
def ctx(database: Database, client: EngineClient, keyring: Keyring) -> Context:
    return Context(database, client, keyring, PUBLIC_URL)


def start(engine_rest: EngineRest, started: list[str], key: str, **variables: Any) -> str:
    """Start an instance under a unique business key, so fetches here see only its tasks."""
    typed = {k: {"value": v, "type": "String"} for k, v in variables.items()}
    instance = engine_rest.start(key, typed, business_key=f"it-{uuid.uuid4().hex}")
    started.append(instance)
    return instance


async def fetch_own(
    client: EngineClient, engine_rest: EngineRest, instance: str, lock_ms: int = 60_000
) -> Task:
    """Fetch and lock the issue-token task of one instance, the way the daemon does."""
    business_key = engine_rest.history_instance(instance)["businessKey"]
    body = {
        "workerId": client.worker_id,
        "maxTasks": 1,
        "topics": [
            {
                "topicName": "issue-token",
                "lockDuration": lock_ms,
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
    raise AssertionError(f"no issue-token task for {instance}")


def urls_of(variables: Mapping[str, TypedValue] | Mapping[str, dict[str, Any]]) -> dict[str, str]:
    """The link map from a handler's outputs or from the engine's variables."""
    links = variables["actionLinks"]
    value = links.value if isinstance(links, TypedValue) else links["value"]
    return dict(json.loads(str(value)))


def token_hash(keyring: Keyring, url: str) -> bytes:
    return bytes(tokens.verify(keyring, url.rsplit("/", 1)[1]))


async def test_a_redelivered_task_leaves_exactly_one_live_set(
    engine_rest: EngineRest,
    client: EngineClient,
    ctx: Context,
    db: AsyncEngine,
    database_url: str,
    keyring: Keyring,
    started: list[str],
) -> None:
    engine_rest.deploy_example("approval.bpmn")
    instance = start(engine_rest, started, "approval")
    task = await fetch_own(client, engine_rest, instance)

    first = urls_of(await issue_token(task, ctx))  # then the worker "crashed" before complete
    second_variables = await issue_token(task, ctx)  # the same task, delivered again
    second = urls_of(second_variables)
    assert await client.complete(task.id, second_variables)

    assert set(first) == set(second) == {"approve", "deny"}
    assert not set(first.values()) & set(second.values())
    rows = link_rows(database_url, instance)
    assert len({r["group_id"] for r in rows}) == 1
    assert {str(r["action"]): bytes(r["token_hash"]) for r in rows} == {
        name: token_hash(keyring, url) for name, url in second.items()
    }
    async with db.connect() as conn:
        for url in first.values():
            assert await answering.find_link(conn, TokenHash(token_hash(keyring, url))) is None
        for url in second.values():
            view = await answering.find_link(conn, TokenHash(token_hash(keyring, url)))
            assert view is not None
            assert view.link.state == "active"
        audit = (await conn.execute(sa.select(audit_events.c.action))).scalars().all()
    assert sorted(audit) == ["issued", "reissued"]
    held = engine_rest.variables(instance)
    assert urls_of(held) == second
    assert held["actionLinkGroupId"]["value"] == str(rows[0]["group_id"])


async def test_an_expired_lock_is_redelivered_and_the_daemon_reissues(
    engine_rest: EngineRest,
    client: EngineClient,
    ctx: Context,
    settings: WorkerSettings,
    database_url: str,
    keyring: Keyring,
    started: list[str],
) -> None:
    engine_rest.deploy_example("approval.bpmn")
    instance = start(engine_rest, started, "approval")
    task = await fetch_own(client, engine_rest, instance, lock_ms=1000)
    stale = urls_of(await issue_token(task, ctx))  # written, never completed: the lock runs out

    stop = asyncio.Event()
    running = asyncio.create_task(Worker(settings, client, ctx).run(stop))
    try:
        await asyncio.to_thread(
            engine_rest.wait_for,
            lambda: "actionLinks" in engine_rest.variables(instance),
            30,
            "the redelivered task to complete",
        )
    finally:
        stop.set()
        await running
    fresh = urls_of(engine_rest.variables(instance))
    rows = link_rows(database_url, instance)
    assert len({r["group_id"] for r in rows}) == 1
    live = {bytes(r["token_hash"]) for r in rows if r["state"] == "active"}
    assert live == {token_hash(keyring, url) for url in fresh.values()}
    assert not live & {token_hash(keyring, url) for url in stale.values()}


async def test_an_unreachable_database_fails_the_task_with_retries(
    engine_rest: EngineRest,
    client: EngineClient,
    settings: WorkerSettings,
    keyring: Keyring,
    started: list[str],
) -> None:
    engine_rest.deploy_example("approval.bpmn")
    instance = start(engine_rest, started, "approval")
    task = await fetch_own(client, engine_rest, instance)
    dead = Database.from_url("postgresql://postgres@127.0.0.1:1/nowhere")
    try:
        ctx = Context(dead, client, keyring, PUBLIC_URL)
        outcome = await Worker(settings, client, ctx).process(task)
    finally:
        await dead.dispose()
    assert isinstance(outcome, Failure)
    assert outcome.retries == settings.task_retries
    (held,) = engine_rest.external_tasks(instance)
    assert held["retries"] == settings.task_retries
    assert held["errorMessage"] == "issue-token: the link database is unreachable; will retry"
    assert engine_rest.incidents(instance) == []
    details = engine_rest.http.get(f"/external-task/{held['id']}/errorDetails").text
    assert "OperationalError" in details


KEYS_BPMN = model_xml("worker-keys")


async def test_correlation_keys_are_read_from_the_process_instance(
    engine_rest: EngineRest,
    client: EngineClient,
    ctx: Context,
    settings: WorkerSettings,
    database_url: str,
    started: list[str],
) -> None:
    engine_rest.deploy_xml("worker_keys", KEYS_BPMN)
    business_key = f"it-{uuid.uuid4().hex}"
    complete = engine_rest.start(
        "worker_keys",
        {
            "billId": {"type": "Long", "value": 4711},
            "dueOn": {"type": "Date", "value": "2026-12-01T09:00:00.000+0100"},
        },
        business_key,
    )
    started.append(complete)
    incomplete = start(engine_rest, started, "worker_keys", billId="B-1")
    worker = Worker(settings, client, ctx)

    outcome = await worker.process(await fetch_own(client, engine_rest, complete))
    assert isinstance(outcome, Complete)
    (row,) = link_rows(database_url, complete)
    assert row["correlate_by"] == "correlationKeys"
    assert row["business_key"] == business_key
    assert row["correlation_keys"] == {
        "billId": {"type": "Long", "value": 4711},
        "dueOn": {"type": "Date", "value": "2026-12-01T08:00:00.000+0000"},
    }

    outcome = await worker.process(await fetch_own(client, engine_rest, incomplete))
    assert isinstance(outcome, Failure)
    assert outcome.incident
    (incident,) = engine_rest.incidents(incomplete)
    assert incident["incidentMessage"] == (
        "issue-token: correlation key 'dueOn' has no value in this process instance"
    )
    assert link_rows(database_url, incomplete) == []


async def test_slow_work_keeps_its_lock(
    database: Database,
    engine_rest: EngineRest,
    client: EngineClient,
    keyring: Keyring,
    database_url: str,
    camunda_url: str,
    started: list[str],
) -> None:
    """A task stuck behind a row lock outlives its lock duration and still completes."""
    settings = settings_for(database_url, camunda_url, lock_duration=dt.timedelta(seconds=2))
    engine_rest.deploy_example("approval.bpmn")
    instance = start(engine_rest, started, "approval")
    task = await fetch_own(client, engine_rest, instance, lock_ms=2000)
    ctx = Context(database, client, keyring, PUBLIC_URL)

    # An uncommitted group with the same external task id makes the insert wait.
    with psycopg.connect(database_url) as blocker:
        blocker.execute(
            "INSERT INTO link_groups (id, external_task_id, process_instance_id, activity_id,"
            " message_name, correlate_by, created_at, expires_at)"
            " VALUES (%s, %s, 'x', 'x', 'x', 'processInstance', now(), now())",
            (uuid.uuid4(), task.id),
        )
        running = asyncio.create_task(Worker(settings, client, ctx).process(task))
        for _ in range(3):  # the lock moves on while the task waits, more than once
            previous = engine_rest.external_tasks(instance)[0]["lockExpirationTime"]
            await asyncio.to_thread(
                engine_rest.wait_for,
                lambda previous=previous: (
                    engine_rest.external_tasks(instance)[0]["lockExpirationTime"] != previous
                ),
                10,
                "the lock to be extended",
            )
        assert not running.done()
        blocker.rollback()
    outcome = await running
    assert isinstance(outcome, Complete)
    assert "actionLinks" in engine_rest.variables(instance)


async def test_log_records_carry_the_task_ids_and_never_a_token(
    engine_rest: EngineRest,
    client: EngineClient,
    ctx: Context,
    settings: WorkerSettings,
    started: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine_rest.deploy_example("approval.bpmn")
    instance = start(engine_rest, started, "approval")
    task = await fetch_own(client, engine_rest, instance)
    with caplog.at_level(logging.DEBUG, logger="worker"):
        outcome = await Worker(settings, client, ctx).process(task)
    assert isinstance(outcome, Complete)
    records = [r for r in caplog.records if r.name.startswith("worker.")]
    assert [r.__dict__["action"] for r in records] == ["issued", "completed"]
    for record in records:
        assert record.__dict__["task_id"] == task.id
        assert record.__dict__["topic"] == "issue-token"
        assert record.__dict__["process_instance_id"] == instance
    text = caplog.text + repr([r.__dict__ for r in caplog.records])
    for url in urls_of(engine_rest.variables(instance)).values():
        token = url.rsplit("/", 1)[1]
        assert token not in text
        assert token.split(".")[1] not in text


async def test_the_tenant_of_the_task_is_kept(
    engine_rest: EngineRest,
    client: EngineClient,
    ctx: Context,
    settings: WorkerSettings,
    database_url: str,
    started: list[str],
) -> None:
    example = EXAMPLES / "approval.bpmn"
    response = engine_rest.http.post(
        "/deployment/create",
        data={
            "deployment-name": "approval-tenant-a",
            "tenant-id": "tenant-a",
            "enable-duplicate-filtering": "true",
        },
        files={example.name: (example.name, example.read_bytes(), "application/xml")},
    )
    assert response.status_code == 200, response.text
    response = engine_rest.http.post(
        "/process-definition/key/approval/tenant-id/tenant-a/start",
        json={"businessKey": f"it-{uuid.uuid4().hex}"},
    )
    assert response.status_code == 200, response.text
    instance = response.json()["id"]
    started.append(instance)
    task = await fetch_own(client, engine_rest, instance)
    assert task.tenant_id == "tenant-a"
    assert isinstance(await Worker(settings, client, ctx).process(task), Complete)
    rows = link_rows(database_url, instance)
    assert {r["tenant_id"] for r in rows} == {"tenant-a"}


ACTIONS_FROM_VARIABLE_BPMN = model_xml("worker-hostile")


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        # Deep enough to exhaust Python's stack in json.loads, short enough for a String.
        ("[" * 1900 + "]" * 1900, "actions nests JSON more than 16 levels deep"),
        ('[{"name": "a", "label": "Appro\\u0000ve"}]', "contains a NUL character"),
        (
            '[{"name": "a", "input": {"type": "object", "properties": '
            '{"x": {"type": "string", "pattern": "(a)\\\\1"}}}}]',
            "pattern '(a)\\\\1' cannot be used",
        ),
    ],
    ids=["deep nesting", "NUL in a label", "pattern RE2 cannot run"],
)
async def test_hostile_models_become_incidents_at_once(
    engine_rest: EngineRest,
    client: EngineClient,
    ctx: Context,
    settings: WorkerSettings,
    database_url: str,
    started: list[str],
    caplog: pytest.LogCaptureFixture,
    actions: str,
    message: str,
) -> None:
    engine_rest.deploy_xml("worker_hostile", ACTIONS_FROM_VARIABLE_BPMN)
    instance = start(engine_rest, started, "worker_hostile", actionsJson=actions)
    outcome = await Worker(settings, client, ctx).process(
        await fetch_own(client, engine_rest, instance)
    )
    # An incident, not a retry of what can never work, and no traceback in the log.
    assert isinstance(outcome, Failure) and outcome.incident
    (incident,) = engine_rest.incidents(instance)
    assert incident["incidentMessage"].startswith("issue-token: action")
    assert message in incident["incidentMessage"]
    assert "unexpected" not in incident["incidentMessage"]
    assert link_rows(database_url, instance) == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
