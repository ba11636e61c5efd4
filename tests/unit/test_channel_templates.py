"""The Modeler element templates of the channel topics make tasks the worker accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tokenstore.types import ExternalTaskId, ProcessInstanceId
from worker.parsing import parse_email, parse_webhook
from worker.task import Task

TEMPLATES: list[dict[str, Any]] = json.loads(
    (
        Path(__file__).resolve().parents[2]
        / "examples/element-templates/action-links-channels.json"
    ).read_text()
)


def _hidden(template: dict[str, Any]) -> dict[str, str]:
    return {
        p["binding"]["name"]: p["value"] for p in template["properties"] if p["type"] == "Hidden"
    }


def _task(topic: str, **overrides: str) -> Task:
    (template,) = [t for t in TEMPLATES if _hidden(t)["camunda:topic"] == topic]
    inputs = {
        p["binding"]["name"]: p.get("value", "")
        for p in template["properties"]
        if p["binding"]["type"] == "camunda:inputParameter"
    }
    inputs.update(overrides)
    return Task(
        id=ExternalTaskId("t-1"),
        topic=topic,
        process_instance_id=ProcessInstanceId("p-1"),
        activity_id="Send",
        variables={name: {"type": "String", "value": value} for name, value in inputs.items()},
    )


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["id"])
def test_templates_make_external_tasks_of_the_channel_topics(template: dict[str, Any]) -> None:
    hidden = _hidden(template)
    assert hidden["camunda:type"] == "external"
    assert hidden["camunda:topic"] in ("send-links-email", "send-links-webhook")
    assert template["elementType"]["value"] == "bpmn:ServiceTask"


def test_email_template_defaults_mail_the_recipient_with_the_shipped_template() -> None:
    spec = parse_email(_task("send-links-email"))
    assert (spec.to, spec.cc, spec.reply_to, spec.subject) == ((), (), None, None)
    assert (spec.template, spec.locale, spec.group_id) == ("links", None, None)


def test_webhook_template_default_names_a_webhook() -> None:
    assert parse_webhook(_task("send-links-webhook")).webhook == "sms-gateway"
