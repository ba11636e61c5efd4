"""Element templates validate against the published schema; the example models pass bpmnlint."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.modeling import bpmnlint, example_models, template_files, validate_templates


def test_there_are_templates_and_models_to_check() -> None:
    assert "action-links.json" in [path.name for path in template_files()]
    assert {"approval.bpmn", "topup.bpmn", "bill-payment.bpmn"} <= {
        path.name for path in example_models()
    }


def test_every_template_file_fits_the_camunda_7_template_schema() -> None:
    code, reports = validate_templates(template_files())
    problems = [
        (report["file"], template["id"], template["errors"])
        for report in reports
        for template in report["templates"]
        if not template["valid"]
    ]
    assert problems == []
    assert code == 0
    assert [Path(report["file"]).name for report in reports] == [
        path.name for path in template_files()
    ]


def test_the_validator_rejects_a_broken_template(tmp_path: Path) -> None:
    templates = json.loads((template_files()[0]).read_text())
    templates[0]["properties"][2]["type"] = "Boolean"  # not a Camunda 7 property type
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(templates))
    code, reports = validate_templates([broken])
    assert code == 1
    (report,) = reports
    assert report["valid"] is False
    assert [t["valid"] for t in report["templates"]] == [False, True]


def test_the_example_models_pass_bpmnlint_with_camunda_7_24_rules() -> None:
    run = bpmnlint(example_models())
    assert run.returncode == 0, run.output


def test_bpmnlint_flags_a_join_without_a_gateway(tmp_path: Path) -> None:
    # What bill-payment.bpmn had: two flows straight into RevokeAll.
    model = (Path(__file__).resolve().parents[2] / "examples/bill-payment.bpmn").read_text()
    model = model.replace('targetRef="SettledMerge"', 'targetRef="RevokeAll"').replace(
        "<bpmn:incoming>Flow_merge_revoke</bpmn:incoming>",
        "<bpmn:incoming>Flow_paid_revoke</bpmn:incoming>"
        "<bpmn:incoming>Flow_late_paid_revoke</bpmn:incoming>",
    )
    broken = tmp_path / "fake-join.bpmn"
    broken.write_text(model)
    run = bpmnlint([broken])
    assert run.returncode != 0
    assert re.search(r"RevokeAll .*fake-join", run.output), run.output


def test_the_camunda_compat_rules_are_active(tmp_path: Path) -> None:
    # Camunda 7.24 refuses to deploy a process without a history time to live.
    model = (Path(__file__).resolve().parents[2] / "examples/approval.bpmn").read_text()
    broken = tmp_path / "no-ttl.bpmn"
    broken.write_text(re.sub(r'camunda:historyTimeToLive="[^"]*"', "", model))
    run = bpmnlint([broken])
    assert run.returncode != 0
    assert "camunda-compat/history-time-to-live" in run.output
