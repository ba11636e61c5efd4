from __future__ import annotations

import json

from devstack.rest import EngineRest
from tests.support.bpmn import model_xml

ONE_TASK = model_xml("smoke")


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
