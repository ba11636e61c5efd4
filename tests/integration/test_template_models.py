"""A model built from the "Issue action links" template runs through the worker and engine."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest

from devstack.rest import EngineRest
from tests.support.keys import SIGNING_KEYS
from tests.support.modeling import template_files
from tests.support.worker_process import link_rows
from tokenstore.db import Database
from tokenstore.tokens import Keyring
from worker.daemon import Worker
from worker.engine import EngineClient
from worker.outcome import Complete
from worker.settings import WorkerSettings
from worker.task import Task
from worker.topics import Context

KEY = "template_correlation_keys"
PUBLIC_URL = "https://links.example.test"


def issue_template() -> dict[str, Any]:
    (found,) = [
        template
        for path in template_files()
        for template in json.loads(path.read_text())
        if template["id"] == "camunda-action-links.issue-token"
    ]
    return dict(found)


def model_from_template(choices: dict[str, str]) -> str:
    """What the Modeler writes when the template is applied: its values plus the choices."""
    template = issue_template()
    attributes = []
    parameters = []
    for prop in template["properties"]:
        binding = prop["binding"]
        value = choices.get(binding.get("name", ""), prop.get("value", ""))
        if binding["type"] == "property":
            attributes.append(f'{binding["name"]}="{escape(value)}"')
        elif binding["type"] == "camunda:inputParameter" and not (
            prop.get("optional") and not value
        ):
            parameters.append(
                f'<camunda:inputParameter name="{binding["name"]}">{escape(value)}'
                "</camunda:inputParameter>"
            )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:message id="Message_decision" name="{escape(choices.get("messageName", "decision"))}" />
  <bpmn:process id="{KEY}" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="s" />
    <bpmn:serviceTask id="Issue" {" ".join(attributes)}>
      <bpmn:extensionElements>
        <camunda:inputOutput>{"".join(parameters)}</camunda:inputOutput>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:intermediateCatchEvent id="Decided">
      <bpmn:messageEventDefinition id="Decided_message" messageRef="Message_decision" />
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="e" />
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="Issue" />
    <bpmn:sequenceFlow id="f2" sourceRef="Issue" targetRef="Decided" />
    <bpmn:sequenceFlow id="f3" sourceRef="Decided" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def settings(database_url: str, camunda_url: str) -> WorkerSettings:
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


@pytest.fixture
async def client(settings: WorkerSettings) -> AsyncIterator[EngineClient]:
    async with httpx.AsyncClient() as http:
        yield EngineClient(settings, http)


async def fetch_issue_task(client: EngineClient, business_key: str) -> Task:
    """Fetch and lock the issue-token task of one instance (by its unique business key)."""
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
    raise AssertionError(f"no issue-token task for business key {business_key}")


async def test_the_correlation_keys_choice_issues_links_bound_to_the_key(
    database: Database,
    engine_rest: EngineRest,
    client: EngineClient,
    settings: WorkerSettings,
    keyring: Keyring,
    database_url: str,
    started: list[str],
) -> None:
    choices = {"correlateBy": "correlationKeys", "resultStringVariable": "actionLinksText"}
    engine_rest.deploy_xml(KEY, model_from_template(choices))
    order_id = f"order-{uuid.uuid4().hex[:8]}"
    business_key = f"it-{uuid.uuid4().hex}"
    instance = engine_rest.start(
        KEY, {"orderId": {"type": "String", "value": order_id}}, business_key
    )
    started.append(instance)
    worker = Worker(settings, client, Context(database, client, keyring, PUBLIC_URL))

    outcome = await worker.process(await fetch_issue_task(client, business_key))

    assert isinstance(outcome, Complete)
    assert engine_rest.incidents(instance) == []
    rows = link_rows(database_url, instance)
    assert [row["action"] for row in rows] == ["approve", "deny"]
    assert {row["correlate_by"] for row in rows} == {"correlationKeys"}
    assert rows[0]["correlation_keys"] == {"orderId": {"type": "String", "value": order_id}}
    variables = engine_rest.variables(instance)
    assert variables["actionLinksText"]["type"] == "String"
    assert json.loads(variables["actionLinksText"]["value"]) == json.loads(
        variables["actionLinks"]["value"]
    )
    assert variables["link_approve"]["value"].startswith(f"{PUBLIC_URL}/l/")
    # The message the link server sends for these links reaches this instance by its key.
    response = engine_rest.http.post(
        "/message",
        json={
            "messageName": "decision",
            "correlationKeys": rows[0]["correlation_keys"],
            "withoutTenantId": True,
        },
    )
    assert response.status_code == 204, response.text
    engine_rest.wait_for(lambda: not engine_rest.is_running(instance), what="the end")
    assert engine_rest.end_events(instance) == ["e"]
