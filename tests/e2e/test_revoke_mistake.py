"""A misspelt action in revoke-tokens is a modeling mistake, not a silent "revoked 0"."""

from __future__ import annotations

from devstack.rest import EngineRest
from tests.support.bpmn import model_xml
from tests.support.worker_process import link_rows, running_worker

ISSUE_THEN_REVOKE = model_xml("revoke-typo")


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
