"""The Camunda modeling tools (element template validator, bpmnlint), run through node.

They are pinned in tests/modeling/package.json and installed by `npm ci` there (.ci/run does
it). A missing install fails the tests that need it, saying how to install: never a skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELING = ROOT / "tests" / "modeling"
TEMPLATES_DIR = ROOT / "examples" / "element-templates"
EXAMPLES_DIR = ROOT / "examples"
INSTALL_HINT = "install them with: (cd tests/modeling && npm ci) (.ci/run does it)"
NODE_TIMEOUT_S = 120


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str


def template_files() -> list[Path]:
    return sorted(TEMPLATES_DIR.glob("*.json"))


def example_models() -> list[Path]:
    return sorted(EXAMPLES_DIR.glob("*.bpmn"))


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not on PATH: the modeling tools need Node.js 18+; {INSTALL_HINT}")
    for package in ("@bpmn-io/element-templates-validator", "bpmnlint"):
        if not (MODELING / "node_modules" / package / "package.json").is_file():
            pytest.fail(f"the npm package {package} is not installed; {INSTALL_HINT}")
    return node


def _run(args: list[str]) -> Run:
    done = subprocess.run(
        args, cwd=MODELING, capture_output=True, text=True, timeout=NODE_TIMEOUT_S, check=False
    )
    return Run(done.returncode, done.stdout + done.stderr)


def validate_templates(files: list[Path]) -> tuple[int, list[dict[str, Any]]]:
    """Exit code and one report per file: {file, valid, templates: [{id, valid, errors}]}."""
    run = _run([_node(), "validate-templates.mjs", *map(str, files)])
    try:
        reports = json.loads(run.output)
    except json.JSONDecodeError:
        pytest.fail(f"the template validator did not answer with JSON:\n{run.output}")
    return run.returncode, reports


def bpmnlint(files: list[Path]) -> Run:
    """bpmnlint with tests/modeling/.bpmnlintrc; any warning counts as a failure."""
    return _run(
        [_node(), "node_modules/bpmnlint/bin/bpmnlint.js", "--max-warnings=0", *map(str, files)]
    )
