"""compose.yaml's one-shot ``deploy-examples`` command, run as written (with the paths and the
engine's address of this machine) against the real engine: every example gets deployed."""

from __future__ import annotations

import subprocess

import yaml

from devstack import ROOT
from devstack.rest import EngineRest

EXAMPLE_KEYS = {"approval", "topup", "bill-payment"}


def test_the_deploy_examples_service_deploys_every_example(
    camunda_url: str, engine_rest: EngineRest
) -> None:
    service = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["deploy-examples"]
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    (script,) = service["command"]
    # What compose itself does: $$ is a literal $; then this machine's paths and engine.
    script = script.replace("$$", "$").replace("/examples/", f"{ROOT}/examples/")
    script = script.replace("http://camunda:8080/engine-rest", camunda_url)
    for _ in range(2):  # a restart of the one-shot service must succeed too
        result = subprocess.run(
            ["/bin/sh", "-c", script], capture_output=True, text=True, check=False, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert "deployed examples/*.bpmn" in result.stdout
    definitions = engine_rest.http.get(
        "/process-definition", params={"latestVersion": "true"}
    ).json()
    assert {d["key"] for d in definitions} >= EXAMPLE_KEYS
    deployments = engine_rest.http.get(
        "/deployment", params={"name": "action-links-examples"}
    ).json()
    # Duplicate filtering: the second run deployed nothing new.
    assert len(deployments) == 1
