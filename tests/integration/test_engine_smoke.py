from __future__ import annotations

import json

from devstack.engine import selected_engine
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


def test_the_engine_is_the_one_selected(engine_rest: EngineRest) -> None:
    """ACTION_LINKS_TEST_ENGINE=operaton really runs the suite on Operaton, not on Camunda.

    The versions are those of the README's compatibility table: an engine given by URL must
    be one of them too, or the table would claim what was not tested.
    """
    assert engine_rest.http.get("/version").json()["version"] == selected_engine().version
