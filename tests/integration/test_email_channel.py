"""send-links-email against a real SMTP server (aiosmtpd) and the real engine: the mail is
parsed, its Approve button opened and confirmed, and the process finishes; a task delivered
again sends nothing; refusals are incidents and an unreachable server is retried."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from tests.support.channels import APPROVER, PUBLIC_URL, rig, worker_env
from tests.support.harness import Harness, link_server, page, settings_for
from tests.support.smtp import PASSWORD, USERNAME, Inbox, SmtpServer, free_port, smtp_server
from tokenstore import sending
from tokenstore.tokens import Keyring
from tokenstore.types import GroupId
from worker.channels import send_links_email
from worker.outcome import Complete, Failure
from worker.settings import WorkerSettings

FROM = "approvals@example.com"


@pytest.fixture
async def harness(
    database_url: str, db: AsyncEngine, camunda_url: str, engine_rest: EngineRest, keyring: Keyring
) -> AsyncIterator[Harness]:
    engine_rest.deploy_example("approval-by-email.bpmn")
    async with (
        link_server(settings_for(database_url, keyring, camunda_url)) as base,
        aiohttp.ClientSession() as http,
    ):
        yield Harness(base, http, db, engine_rest, keyring)


@pytest.fixture
def plain_smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


def worker_settings(
    database_url: str, camunda_url: str, server: SmtpServer, tmp_path: Path
) -> WorkerSettings:
    env = {
        **worker_env(database_url, camunda_url),
        "ACTION_LINKS_SMTP_HOST": server.host,
        "ACTION_LINKS_SMTP_PORT": str(server.port),
        "ACTION_LINKS_SMTP_FROM": FROM,
        "ACTION_LINKS_SMTP_TIMEOUT": "PT10S",
        "ACTION_LINKS_SMTP_SECURITY": "none",
    }
    if server.ca_file:
        password_file = tmp_path / "smtp-password"
        password_file.write_text(PASSWORD + "\n")
        env |= {
            "ACTION_LINKS_SMTP_SECURITY": "starttls",
            "ACTION_LINKS_SMTP_CA_FILE": server.ca_file,
            "ACTION_LINKS_SMTP_USERNAME": USERNAME,
            "ACTION_LINKS_SMTP_PASSWORD_FILE": str(password_file),
        }
    return WorkerSettings.from_env(env)


def parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    return str(plain.get_content()), str(html.get_content())


def button_url(html: str, label: str) -> str:
    found = re.search(r'<a href="([^"]+)"[^>]*>' + re.escape(label) + "</a>", html)
    assert found, f"no {label} button in {html}"
    return found.group(1)


async def mails_and_finishes(
    harness: Harness,
    database_url: str,
    camunda_url: str,
    keyring: Keyring,
    started: list[str],
    server: SmtpServer,
    tmp_path: Path,
) -> None:
    settings = worker_settings(database_url, camunda_url, server, tmp_path)
    async with rig(harness, settings, keyring) as r:
        pid, task = await r.issued(started)
        first = await send_links_email(task, r.ctx)
        # The lock ran out before complete: the engine hands the same task out again.
        again = await send_links_email(task, r.ctx)
        assert await r.client.complete(task.id, again)

    assert len(server.inbox.messages) == 1, "a redelivered task sent a second mail"
    assert first == again
    (message,) = server.inbox.messages
    assert server.inbox.recipients == [[APPROVER]]
    assert message["From"] == FROM
    assert message["To"] == APPROVER
    assert message["Subject"] == "Please approve purchase request"
    assert message["Message-ID"] == first["actionLinksMessageId"].value
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Auto-Submitted"] == "auto-generated"
    plain, html = parts(message)
    approve, deny = button_url(html, "Approve"), button_url(html, "Deny")
    assert approve.startswith(f"{PUBLIC_URL}/l/") and deny.startswith(f"{PUBLIC_URL}/l/")
    assert approve in plain and deny in plain
    for text in (plain, html):
        assert "Approve purchase request" in text  # the description, above the buttons
        assert f"Sent by {FROM} for the process approval-by-email" in text
        assert " UTC" in text  # the expiry

    token = approve.rsplit("/", 1)[1]
    status, page_html, _ = await page(harness, "GET", harness.url(token))
    assert status == 200 and "Sent to a…@example.com" in page_html
    status, _, _ = await page(harness, "POST", harness.url(token))
    assert status == 303
    assert not harness.rest.is_running(pid)
    assert "Approved" in harness.rest.activities(pid)
    history = harness.rest.history_variables(pid)
    assert history["approved"]["value"] is True
    assert history["actionLinkRecipient"]["value"] == APPROVER


async def test_a_mail_without_tls_is_sent_once_and_its_button_answers_the_process(
    harness: Harness,
    database_url: str,
    camunda_url: str,
    keyring: Keyring,
    started: list[str],
    plain_smtp: SmtpServer,
    tmp_path: Path,
) -> None:
    await mails_and_finishes(
        harness, database_url, camunda_url, keyring, started, plain_smtp, tmp_path
    )
    assert plain_smtp.inbox.logins == []


async def test_a_mail_over_starttls_with_login_is_sent_once_and_answers_the_process(
    harness: Harness,
    database_url: str,
    camunda_url: str,
    keyring: Keyring,
    started: list[str],
    tmp_path: Path,
) -> None:
    with smtp_server(tmp_path, starttls=True) as server:
        await mails_and_finishes(
            harness, database_url, camunda_url, keyring, started, server, tmp_path
        )
    assert server.inbox.logins == [USERNAME]


async def test_a_send_of_unknown_outcome_goes_out_again_with_the_same_message_id(
    harness: Harness,
    database_url: str,
    camunda_url: str,
    keyring: Keyring,
    started: list[str],
    plain_smtp: SmtpServer,
    tmp_path: Path,
) -> None:
    settings = worker_settings(database_url, camunda_url, plain_smtp, tmp_path)
    async with rig(harness, settings, keyring) as r:
        _, task = await r.issued(started)
        group_id = GroupId(
            uuid.UUID(
                r.harness.rest.history_variables(task.process_instance_id)["actionLinkGroupId"][
                    "value"
                ]
            )
        )
        # A first attempt recorded its send, then died before the server's answer was known.
        async with r.ctx.db.transaction() as conn:
            await sending.begin_send(
                conn, task.id, "email", group_id, "<first-try@example.com>", r.ctx.clock()
            )
        outcome = await r.worker.process(task)
    assert isinstance(outcome, Complete)
    assert [m["Message-ID"] for m in plain_smtp.inbox.messages] == ["<first-try@example.com>"]


async def test_a_refused_recipient_is_an_incident_and_nothing_is_recorded_as_sent(
    harness: Harness,
    database_url: str,
    camunda_url: str,
    keyring: Keyring,
    started: list[str],
    plain_smtp: SmtpServer,
    tmp_path: Path,
) -> None:
    settings = worker_settings(database_url, camunda_url, plain_smtp, tmp_path)
    async with rig(harness, settings, keyring) as r:
        pid, task = await r.issued(started)
        to = {"type": "String", "value": "nobody@example.com"}
        outcome = await r.worker.process(dataclasses.replace(task, variables={"to": to}))
    assert isinstance(outcome, Failure) and outcome.incident
    assert plain_smtp.inbox.messages == []
    (incident,) = harness.rest.incidents(pid)
    assert "refused every recipient" in incident["incidentMessage"]
    assert "nobody@example.com: 550" in incident["incidentMessage"]


async def test_an_unreachable_mail_server_is_retried_not_an_incident(
    harness: Harness,
    database_url: str,
    camunda_url: str,
    keyring: Keyring,
    started: list[str],
    tmp_path: Path,
) -> None:
    nowhere = SmtpServer("127.0.0.1", free_port(), Inbox(), None)
    settings = worker_settings(database_url, camunda_url, nowhere, tmp_path)
    async with rig(harness, settings, keyring) as r:
        pid, task = await r.issued(started)
        outcome = await r.worker.process(task)
    assert isinstance(outcome, Failure) and not outcome.incident
    assert outcome.retries > 0
    assert "could not be reached" in outcome.message
    assert harness.rest.incidents(pid) == []


async def test_a_template_mistake_is_an_incident_that_names_the_template(
    harness: Harness,
    database_url: str,
    camunda_url: str,
    keyring: Keyring,
    started: list[str],
    plain_smtp: SmtpServer,
    tmp_path: Path,
) -> None:
    settings = worker_settings(database_url, camunda_url, plain_smtp, tmp_path)
    async with rig(harness, settings, keyring) as r:
        _, task = await r.issued(started)
        template = {"type": "String", "value": "reminder"}
        outcome = await r.worker.process(
            dataclasses.replace(task, variables={"template": template})
        )
    assert isinstance(outcome, Failure) and outcome.incident
    assert "template 'reminder' has no txt part" in outcome.message
    assert plain_smtp.inbox.messages == []
