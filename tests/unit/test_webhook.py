"""Webhook receivers from the environment, the signature, and the task's inputs."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import httpx
import pytest

from actionlinks_cli import VARIABLES
from tokenstore.settings import SettingsError, unknown_variables
from tokenstore.types import ExternalTaskId, ProcessInstanceId
from worker import webhook
from worker.errors import ChannelRefused, ChannelUnavailable, ModelingError
from worker.parsing import parse_webhook
from worker.task import Task

SECRET = "0123456789abcdef-secret"


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"group": "g"}'
    expected = hmac.new(SECRET.encode(), b"1764410400." + body, hashlib.sha256).hexdigest()
    assert webhook.signature(SECRET, 1764410400, body) == "sha256=" + expected
    assert webhook.signature(SECRET, 1764410401, body) != "sha256=" + expected


def test_receivers_are_read_by_name_with_their_secret(tmp_path: Path) -> None:
    secret_file = tmp_path / "s"
    secret_file.write_text(SECRET + "\n")
    hooks = webhook.webhooks_from_env(
        {
            "ACTION_LINKS_WEBHOOK_SMS_GATEWAY_URL": "https://sms.internal/hook",
            "ACTION_LINKS_WEBHOOK_SMS_GATEWAY_SECRET": SECRET,
            "ACTION_LINKS_WEBHOOK_BOT_URL": "http://bot:8080/in",
            "ACTION_LINKS_WEBHOOK_BOT_SECRET_FILE": str(secret_file),
        }
    )
    assert {name: (h.url, h.secret) for name, h in hooks.items()} == {
        "SMS_GATEWAY": ("https://sms.internal/hook", SECRET),
        "BOT": ("http://bot:8080/in", SECRET),
    }
    assert SECRET not in repr(hooks)
    assert webhook.variable_name("sms-gateway") == "SMS_GATEWAY"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "ACTION_LINKS_WEBHOOK_BOT_SECRET (or ACTION_LINKS_WEBHOOK_BOT_SECRET_FILE) must"),
        ({"ACTION_LINKS_WEBHOOK_BOT_SECRET": "short"}, "at least 16 characters"),
        (
            {
                "ACTION_LINKS_WEBHOOK_BOT_SECRET": SECRET,
                "ACTION_LINKS_WEBHOOK_BOT_SECRET_FILE": "x",
            },
            "set only one of them",
        ),
        (
            {
                "ACTION_LINKS_WEBHOOK_BOT_URL": "ftp://bot",
                "ACTION_LINKS_WEBHOOK_BOT_SECRET": SECRET,
            },
            "ACTION_LINKS_WEBHOOK_BOT_URL: 'ftp://bot' is not an http(s) URL",
        ),
    ],
)
def test_receiver_mistakes_are_settings_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        webhook.webhooks_from_env({"ACTION_LINKS_WEBHOOK_BOT_URL": "https://bot/in", **env})


def test_webhook_variables_are_no_typos_but_near_misses_are() -> None:
    env = {
        "ACTION_LINKS_WEBHOOK_BOT_URL": "https://bot/in",
        "ACTION_LINKS_WEBHOOK_BOT_SECRET_FILE": "/run/secrets/bot",
        "ACTION_LINKS_WEBHOOK_BOT_URI": "https://bot/in",
        "ACTION_LINKS_SMTP_HOST": "mail",
        "ACTION_LINKS_SMTP_PASSWORD_FILE": "/run/secrets/smtp",
    }
    assert unknown_variables(VARIABLES, env) == ["ACTION_LINKS_WEBHOOK_BOT_URI"]


def task(**inputs: Any) -> Task:
    return Task(
        id=ExternalTaskId("t1"),
        topic="send-links-webhook",
        process_instance_id=ProcessInstanceId("pi-1"),
        activity_id="Post",
        variables={k: {"type": "String", "value": v} for k, v in inputs.items()},
    )


def test_webhook_inputs() -> None:
    spec = parse_webhook(task(webhook="sms-gateway"))
    assert (spec.webhook, spec.group_id, spec.result_variable) == (
        "sms-gateway",
        None,
        "actionLinksDeliveryId",
    )


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "the input parameter webhook is required"),
        ({"webhook": "https://evil.example/hook"}, "must be the name of a configured webhook"),
        ({"webhook": "bot", "groupId": "nope"}, "groupId 'nope' is not a link group id"),
    ],
)
def test_webhook_mistakes_say_what_to_fix(inputs: dict[str, str], message: str) -> None:
    with pytest.raises(ModelingError) as caught:
        parse_webhook(task(**inputs))
    assert message in str(caught.value.detail)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ChannelRefused),
        (401, ChannelRefused),
        (429, ChannelUnavailable),
        (503, ChannelUnavailable),
    ],
)
async def test_a_receiver_echoing_the_body_never_puts_the_links_in_an_error(
    status: int, error: type[Exception]
) -> None:
    body = b'{"actions": [{"url": "https://links.example/l/SECRET-TOKEN"}]}'

    def echo(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-Action-Links-Signature"] == webhook.signature(SECRET, 7, body)
        return httpx.Response(status, content=request.content)

    hook = webhook.Webhook("BOT", "https://bot/in", SECRET)
    async with httpx.AsyncClient(transport=httpx.MockTransport(echo)) as http:
        with pytest.raises(error) as caught:
            await webhook.post(http, hook, body, "d-1", 7, 5.0)
    assert f"webhook BOT answered HTTP {status}" in str(caught.value)
    assert "SECRET-TOKEN" not in str(caught.value)
