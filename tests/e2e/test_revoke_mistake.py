"""A misspelt action in revoke-tokens is a modeling mistake, not a silent "revoked 0"."""

from __future__ import annotations

from tests.camunda_rest import EngineRest
from tests.e2e.worker_process import link_rows, running_worker

ISSUE_THEN_REVOKE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="revoke_typo" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="s" />
    <bpmn:serviceTask id="Issue" camunda:type="external" camunda:topic="issue-token">
      <bpmn:extensionElements>
        <camunda:inputOutput>
          <camunda:inputParameter name="messageName">decision</camunda:inputParameter>
          <camunda:inputParameter name="actions">[{"name": "approve"},
            {"name": "deny"}]</camunda:inputParameter>
        </camunda:inputOutput>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:serviceTask id="Revoke" camunda:type="external" camunda:topic="revoke-tokens">
      <bpmn:extensionElements>
        <camunda:inputOutput>
          <camunda:inputParameter name="actions">aprove</camunda:inputParameter>
        </camunda:inputOutput>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:endEvent id="e" />
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="Issue" />
    <bpmn:sequenceFlow id="f2" sourceRef="Issue" targetRef="Revoke" />
    <bpmn:sequenceFlow id="f3" sourceRef="Revoke" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_misspelt_action_in_revoke_tokens_raises_an_incident(
    engine_rest: EngineRest, camunda_url: str, database_url: str
) -> None:
    engine_rest.deploy_xml("revoke_typo", ISSUE_THEN_REVOKE)
    instance = engine_rest.start("revoke_typo")
    with running_worker(database_url, camunda_url, "http://links.test") as worker:
        (incident,) = engine_rest.wait_for(
            lambda: engine_rest.incidents(instance), what="the incident"
        )
        assert worker.stop() == 0
    assert incident["activityId"] == "Revoke"
    assert "aprove" in incident["incidentMessage"]
    assert "it has approve, deny" in incident["incidentMessage"]
    assert {r["state"] for r in link_rows(database_url, instance)} == {"active"}
