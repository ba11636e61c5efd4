from __future__ import annotations

import json

from tests.camunda_rest import EngineRest

ONE_TASK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="smoke-defs"
    targetNamespace="http://example.com/action-links">
  <bpmn:process id="smoke" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:serviceTask id="work" camunda:type="external" camunda:topic="smoke-topic"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_deploy_and_start_a_one_task_process(engine_rest: EngineRest) -> None:
    deployment = engine_rest.deploy_xml("smoke", ONE_TASK)
    assert deployment["deployedProcessDefinitions"]
    instance = engine_rest.start("smoke", {"greeting": {"value": "hi", "type": "String"}})
    assert engine_rest.is_running(instance)
    tasks = engine_rest.external_tasks(instance, "smoke-topic")
    assert [t["activityId"] for t in tasks] == ["work"]
    assert engine_rest.variables(instance)["greeting"]["value"] == "hi"


def test_json_variables_work_as_in_camunda_run(engine_rest: EngineRest) -> None:
    """Spin with Jackson is on the engine: a Json variable round-trips."""
    engine_rest.deploy_xml("smoke", ONE_TASK)
    instance = engine_rest.start("smoke", {"links": {"value": '{"a": "b"}', "type": "Json"}})
    variable = engine_rest.variables(instance)["links"]
    assert variable["type"] == "Json"
    assert json.loads(variable["value"]) == {"a": "b"}
