"""send-links-webhook against a receiver the test starts: the signature verifies as the
README says, one link is redeemed through the JSON API and the process finishes; a task
delivered again posts nothing; refusals are incidents and an unreachable receiver is retried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from tests.support.bpmn import model_xml
from tests.support.channels import APPROVER, PUBLIC_URL, rig, worker_env
from tests.support.harness import Harness, link_server, settings_for
from tests.support.smtp import free_port
from tests.support.webhook_receiver import SECRET, Receiver, webhook_receiver
from tokenstore.tokens import Keyring
from worker.channels import send_links_webhook
from worker.outcome import Failure
from worker.settings import WorkerSettings

KEY = "webhook_approval"


@pytest.fixture
async def harness(
    database_url: str, db: AsyncEngine, camunda_url: str, engine_rest: EngineRest, keyring: Keyring
) -> AsyncIterator[Harness]:
    engine_rest.deploy_xml(KEY, model_xml("webhook-approval"))
    async with (
        link_server(settings_for(database_url, keyring, camunda_url)) as base,
        aiohttp.ClientSession() as http,
    ):
        yield Harness(base, http, db, engine_rest, keyring)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with webhook_receiver() as running:
        yield running


def settings(
    database_url: str, camunda_url: str, url: str, tmp_path: Path, secret: str = SECRET
) -> WorkerSettings:
    secret_file = tmp_path / "hook-secret"
    secret_file.write_text(secret + "\n")
    return WorkerSettings.from_env(
        {
            **worker_env(database_url, camunda_url),
            "ACTION_LINKS_WEBHOOK_CHAT_BOT_URL": url,
            "ACTION_LINKS_WEBHOOK_CHAT_BOT_SECRET_FILE": str(secret_file),
        }
    )


async def test_a_signed_post_once_per_task_and_a_link_redeemed_through_the_api(
    harness: Harness,
    database_url: str,
    camunda_url: str,
    keyring: Keyring,
    started: list[str],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    worker_settings = settings(database_url, camunda_url, receiver.url, tmp_path)
    async with rig(harness, worker_settings, keyring) as r:
        pid, task = await r.issued(started, KEY, "send-links-webhook", {"hook": "chat-bot"})
        first = await send_links_webhook(task, r.ctx)
        again = await send_links_webhook(task, r.ctx)  # the engine handed the task out again
        assert await r.client.complete(task.id, again)

    assert receiver.forged == 0
    assert len(receiver.documents) == 1, "a redelivered task posted a second time"
    assert first == again
    assert receiver.deliveries == [first["actionLinksDeliveryId"].value]
    (document,) = receiver.documents
    assert document["messageName"] == "decision"
    assert document["description"] == "Purchase request 4711"
    assert document["recipient"] == APPROVER
    assert document["process"]["instanceId"] == pid
    assert document["expiresAt"].endswith("+00:00")
    (action,) = document["actions"]
    assert (action["name"], action["label"]) == ("approve", "Approve")
    assert action["url"].startswith(f"{PUBLIC_URL}/l/")

    token = action["url"].rsplit("/", 1)[1]
    async with harness.http.post(f"{harness.base}/api/v1/links/{token}/redeem") as response:
        body = await response.json()
    assert response.status == 200 and body["outcome"] == "accepted"
    assert not harness.rest.is_running(pid)
    history = harness.rest.history_variables(pid)
    assert history["approved"]["value"] is True
    assert history["actionLinkRecipient"]["value"] == APPROVER


async def test_a_receiver_with_another_secret_refuses_and_that_is_an_incident(
    harness: Harness,
    database_url: str,
    camunda_url: str,
    keyring: Keyring,
    started: list[str],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    wrong = settings(database_url, camunda_url, receiver.url, tmp_path, "another-secret-0123456789")
    async with rig(harness, wrong, keyring) as r:
        pid, task = await r.issued(started, KEY, "send-links-webhook", {"hook": "chat-bot"})
        outcome = await r.worker.process(task)
    assert receiver.forged == 1 and receiver.documents == []
    assert isinstance(outcome, Failure) and outcome.incident
    (incident,) = harness.rest.incidents(pid)
    assert "webhook CHAT_BOT answered HTTP 401" in incident["incidentMessage"]


async def test_a_busy_or_unreachable_receiver_is_retried(
    harness: Harness,
    database_url: str,
    camunda_url: str,
    keyring: Keyring,
    started: list[str],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    receiver.answer_status = 503
    busy = settings(database_url, camunda_url, receiver.url, tmp_path)
    nowhere = settings(database_url, camunda_url, f"http://127.0.0.1:{free_port()}/", tmp_path)
    for worker_settings in (busy, nowhere):
        async with rig(harness, worker_settings, keyring) as r:
            pid, task = await r.issued(started, KEY, "send-links-webhook", {"hook": "chat-bot"})
            outcome = await r.worker.process(task)
        assert isinstance(outcome, Failure) and not outcome.incident and outcome.retries > 0
        assert harness.rest.incidents(pid) == []
    assert receiver.documents == []


async def test_an_unconfigured_webhook_name_is_an_incident(
    harness: Harness,
    database_url: str,
    camunda_url: str,
    keyring: Keyring,
    started: list[str],
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    async with rig(
        harness, settings(database_url, camunda_url, receiver.url, tmp_path), keyring
    ) as r:
        _, task = await r.issued(started, KEY, "send-links-webhook", {"hook": "pager"})
        outcome = await r.worker.process(task)
    assert isinstance(outcome, Failure) and outcome.incident
    assert "no webhook 'pager' is configured" in outcome.message
    assert "ACTION_LINKS_WEBHOOK_PAGER_URL" in outcome.message
