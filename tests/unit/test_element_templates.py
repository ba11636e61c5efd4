"""The Modeler element templates produce tasks the worker accepts, whatever a modeler picks.

Camunda 7 templates cannot hide a field for one dropdown choice (schema 0.22.1 has no
`condition`), so every field is always written: the defaults plus any one dropdown choice
must make a task the worker's parser accepts.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.modeling import template_files
from tokenstore.model import Detail
from tokenstore.types import CorrelateBy, ExternalTaskId, ProcessInstanceId
from tokenstore.variables import TypedValue
from worker.parsing import (
    bind_correlation_keys,
    parse_email,
    parse_issue,
    parse_revoke,
    parse_webhook,
)
from worker.task import Task
from worker.topics import HANDLERS

TEMPLATES: list[dict[str, Any]] = [
    template for path in template_files() for template in json.loads(path.read_text())
]
NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)

# What each topic reads (worker/parsing.py); a template must offer every one of them.
TOPIC_INPUTS = {
    "issue-token": {
        "messageName",
        "actions",
        "ttl",
        "description",
        "exclusive",
        "correlateBy",
        "correlationKeys",
        "resultVariable",
        "resultStringVariable",
        "linkVariablePrefix",
        "expiresAtVariable",
        "groupIdVariable",
        "recipient",
        "details",
        "locale",
        "timeZone",
    },
    "revoke-tokens": {"groupId", "actions", "resultVariable"},
    "send-links-email": {
        "to",
        "cc",
        "replyTo",
        "subject",
        "template",
        "locale",
        "groupId",
        "resultVariable",
    },
    "send-links-webhook": {"webhook", "groupId", "resultVariable"},
}
# Parses a task as the topic's handler does before any I/O; raises ModelingError if refused.
PARSERS: dict[str, Callable[[Task], object]] = {
    "issue-token": lambda task: parse_issue(task, NOW),
    "revoke-tokens": parse_revoke,
    "send-links-email": parse_email,
    "send-links-webhook": parse_webhook,
}


def topic_of(template: dict[str, Any]) -> str:
    (topic,) = [
        p["value"] for p in template["properties"] if p["binding"].get("name") == "camunda:topic"
    ]
    return str(topic)


def inputs(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in template["properties"] if p["binding"]["type"] == "camunda:inputParameter"]


def template_for(topic: str) -> dict[str, Any]:
    (found,) = [t for t in TEMPLATES if topic_of(t) == topic]
    return found


def task_from(template: dict[str, Any], **choices: str) -> Task:
    """The task the engine hands out once the template is applied, defaults plus choices."""
    values: dict[str, str] = {}
    for prop in inputs(template):
        value = choices.get(prop["binding"]["name"], prop.get("value", ""))
        # The Modeler leaves an empty optional input out; any other field is written as is.
        if prop.get("optional") and value == "":
            continue
        values[prop["binding"]["name"]] = value
    return Task(
        id=ExternalTaskId("t-1"),
        topic=topic_of(template),
        process_instance_id=ProcessInstanceId("p-1"),
        activity_id="Issue",
        business_key="order-1",
        variables={name: {"type": "String", "value": value} for name, value in values.items()},
    )


def every_choice() -> Iterator[Any]:
    for template in TEMPLATES:
        yield pytest.param(template, {}, id=f"{template['id']}-defaults")
        for prop in inputs(template):
            if prop["type"] == "Dropdown":
                name = prop["binding"]["name"]
                for choice in prop["choices"]:
                    choice_id = f"{template['id']}-{name}={choice['value']}"
                    yield pytest.param(template, {name: choice["value"]}, id=choice_id)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["id"])
def test_templates_make_external_tasks_of_a_served_topic(template: dict[str, Any]) -> None:
    hidden = {
        p["binding"]["name"]: p["value"] for p in template["properties"] if p["type"] == "Hidden"
    }
    assert hidden["camunda:type"] == "external"
    assert hidden["camunda:topic"] in HANDLERS
    assert template["elementType"]["value"] == "bpmn:ServiceTask"


def test_every_topic_the_worker_serves_has_a_template() -> None:
    assert {topic_of(t) for t in TEMPLATES} == set(HANDLERS)


@pytest.mark.parametrize("topic", sorted(HANDLERS))
def test_a_template_offers_every_input_its_topic_reads(topic: str) -> None:
    assert topic in TOPIC_INPUTS, f"list the inputs {topic} reads in TOPIC_INPUTS"
    offered = {p["binding"]["name"] for p in inputs(template_for(topic))}
    assert offered == TOPIC_INPUTS[topic]


@pytest.mark.parametrize(("template", "choices"), list(every_choice()))
def test_defaults_and_every_dropdown_choice_make_a_task_the_worker_accepts(
    template: dict[str, Any], choices: dict[str, str]
) -> None:
    topic = topic_of(template)
    assert topic in PARSERS, f"add the parser of {topic} to PARSERS"
    assert PARSERS[topic](task_from(template, **choices)) is not None


def test_issue_template_defaults() -> None:
    spec = parse_issue(task_from(template_for("issue-token")), NOW)
    assert [a.name for a in spec.request.actions] == ["approve", "deny"]
    assert spec.request.ttl == dt.timedelta(days=7)
    assert spec.request.exclusive is True
    assert spec.request.correlate_by is CorrelateBy.PROCESS_INSTANCE
    # The keys field always carries its default; it only counts with "Correlation keys".
    assert spec.correlation_key_names == ()
    assert spec.outputs.links == "actionLinks"
    assert spec.outputs.links_text is None


@pytest.mark.parametrize("choice", [c.value for c in CorrelateBy])
def test_every_correlation_choice_is_understood(choice: str) -> None:
    spec = parse_issue(task_from(template_for("issue-token"), correlateBy=choice), NOW)
    assert spec.request.correlate_by.value == choice


def test_the_correlation_keys_choice_binds_the_default_key() -> None:
    template = template_for("issue-token")
    spec = parse_issue(task_from(template, correlateBy="correlationKeys"), NOW)
    assert spec.correlation_key_names == ("orderId",)
    request = bind_correlation_keys(spec, {"orderId": {"type": "String", "value": "o-7"}})
    assert request.correlation_keys == {"orderId": TypedValue("String", "o-7")}


def test_the_string_link_map_is_written_when_named() -> None:
    spec = parse_issue(
        task_from(template_for("issue-token"), resultStringVariable="actionLinksText"), NOW
    )
    assert spec.outputs.links_text == "actionLinksText"


def test_the_page_fields_stay_out_of_the_model_while_empty() -> None:
    request = parse_issue(task_from(template_for("issue-token")), NOW).request
    assert request.details == () and request.locale is None and request.time_zone is None


@pytest.mark.parametrize(
    "details",
    [
        '[{"label": "Amount", "value": 4800}, {"label": "Requester", "value": "Anna"}]',
        '{"Amount": 4800, "Requester": "Anna"}',
    ],
    ids=["list", "map"],
)
def test_the_page_fields_take_details_as_a_list_or_a_map(details: str) -> None:
    task = task_from(
        template_for("issue-token"), details=details, locale="de_CH", timeZone="Europe/Berlin"
    )
    request = parse_issue(task, NOW).request
    assert request.details == (Detail("Amount", 4800), Detail("Requester", "Anna"))
    assert (request.locale, request.time_zone) == ("de-CH", "Europe/Berlin")


@pytest.mark.parametrize("tag", ["de", "de-CH", "pt_BR", "zh-Hant-TW", "es-419"])
def test_the_locale_fields_pattern_admits_what_the_worker_accepts(tag: str) -> None:
    (field,) = [p for p in inputs(template_for("issue-token")) if p["binding"]["name"] == "locale"]
    assert re.match(field["constraints"]["pattern"]["value"], tag)
    assert parse_issue(task_from(template_for("issue-token"), locale=tag), NOW).request.locale


def test_revoke_template_default_revokes_everything() -> None:
    spec = parse_revoke(task_from(template_for("revoke-tokens")))
    assert spec.actions is None and spec.group_id is None
    assert spec.result_variable == "revokedCount"
    narrowed = parse_revoke(task_from(template_for("revoke-tokens"), actions="pay-now, schedule"))
    assert narrowed.actions == ("pay-now", "schedule")
