"""The Modeler element templates in examples/ produce tasks the worker accepts as they are."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tokenstore.types import CorrelateBy, ExternalTaskId, ProcessInstanceId
from worker.parsing import parse_issue, parse_revoke
from worker.task import Task

TEMPLATES = json.loads(
    (
        Path(__file__).resolve().parents[2] / "examples/element-templates/action-links.json"
    ).read_text()
)
NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)


def _template(topic: str) -> dict[str, Any]:
    (found,) = [
        t
        for t in TEMPLATES
        if any(
            p["binding"].get("name") == "camunda:topic" and p["value"] == topic
            for p in t["properties"]
        )
    ]
    return dict(found)


def _task(template: dict[str, Any], **overrides: str) -> Task:
    """A task as the engine would hand it out once the template is applied with its defaults."""
    inputs = {
        p["binding"]["name"]: p.get("value", "")
        for p in template["properties"]
        if p["binding"]["type"] == "camunda:inputParameter"
    }
    inputs.update(overrides)
    return Task(
        id=ExternalTaskId("t-1"),
        topic="x",
        process_instance_id=ProcessInstanceId("p-1"),
        activity_id="Issue",
        business_key="order-1",
        variables={name: {"type": "String", "value": value} for name, value in inputs.items()},
    )


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["id"])
def test_templates_make_external_tasks(template: dict[str, Any]) -> None:
    hidden = {
        p["binding"]["name"]: p["value"] for p in template["properties"] if p["type"] == "Hidden"
    }
    assert hidden["camunda:type"] == "external"
    assert hidden["camunda:topic"] in ("issue-token", "revoke-tokens")
    assert template["elementType"]["value"] == "bpmn:ServiceTask"


def test_issue_template_defaults_are_a_valid_request() -> None:
    spec = parse_issue(_task(_template("issue-token")), NOW)
    assert [a.name for a in spec.request.actions] == ["approve", "deny"]
    assert spec.request.ttl == dt.timedelta(days=7)
    assert spec.request.exclusive is True
    assert spec.request.correlate_by is CorrelateBy.PROCESS_INSTANCE


@pytest.mark.parametrize("choice", ["processInstance", "businessKey"])
def test_every_correlation_choice_is_understood(choice: str) -> None:
    spec = parse_issue(_task(_template("issue-token"), correlateBy=choice), NOW)
    assert spec.request.correlate_by.value == choice


def test_revoke_template_default_revokes_everything() -> None:
    spec = parse_revoke(_task(_template("revoke-tokens")))
    assert spec.actions is None and spec.group_id is None
    narrowed = parse_revoke(_task(_template("revoke-tokens"), actions="pay-now, schedule"))
    assert narrowed.actions == ("pay-now", "schedule")
