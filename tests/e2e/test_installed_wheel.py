"""The wheel as a user gets it: built, installed with its real dependencies into an empty
virtual environment outside the repository, then ``migrate``, ``worker`` and ``serve`` from
that environment, in a directory with nothing else in it, against the real Postgres and engine.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
from alembic.script import ScriptDirectory

from devstack import ROOT
from devstack.ports import free_port
from devstack.postgres import alembic_config
from devstack.rest import EngineRest
from tests.support.linkserver_process import start_linkserver
from tests.support.worker_process import running_worker_command, worker_env

# What the wheel is built from: the sources only, so nothing else in the clone can help.
SOURCES = ("pyproject.toml", "README.md", "tokenstore", "worker", "linkserver", "migrations")
INSTALL_TIMEOUT_S = 480


def _run(*args: str | Path, cwd: Path) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False,
        timeout=INSTALL_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``action-links`` executable of a fresh virtual environment holding only the wheel."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    for module in ROOT.glob("actionlinks_*.py"):
        shutil.copy2(module, src / module.name)
    dist = base / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, src, cwd=base)
    (wheel,) = dist.glob("*.whl")
    venv = base / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=base)
    _run(venv / "bin" / "pip", "install", "--quiet", wheel, cwd=base)
    return venv / "bin" / "action-links"


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 120)
def test_the_installed_wheel_migrates_issues_and_delivers(
    installed: Path,
    empty_database: str,
    camunda_url: str,
    engine_rest: EngineRest,
    tmp_path: Path,
) -> None:
    venv_python = installed.parent / "python"
    where = _run(venv_python, "-c", "import tokenstore; print(tokenstore.__file__)", cwd=tmp_path)
    assert where.startswith(str(installed.parent.parent)), where
    version = _run(installed, "--version", cwd=tmp_path)
    assert version.strip() == "action-links 0.1.0"
    migrate = subprocess.run(
        [installed, "migrate"], cwd=tmp_path, capture_output=True, text=True, check=False,
        env={"ACTION_LINKS_DATABASE_URL": empty_database, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    with psycopg.connect(empty_database) as conn:
        rows = conn.execute("SELECT version_num FROM action_links_alembic_version").fetchall()
    assert rows == [(ScriptDirectory.from_config(alembic_config("")).get_current_head(),)]

    engine_rest.deploy_example("approval.bpmn")
    port = free_port()
    links = start_linkserver(
        empty_database, camunda_url, port=port, executable=[str(installed)], cwd=tmp_path
    )
    try:
        env = worker_env(empty_database, camunda_url, links.base_url)
        with running_worker_command([str(installed)], tmp_path, env) as worker:
            pid = engine_rest.start("approval")
            url = engine_rest.wait_for(
                lambda: engine_rest.variables(pid).get("link_approve", {}).get("value"),
                what="links issued by the installed worker",
            )
            assert url.startswith(links.base_url + "/l/")
            page = httpx.get(url, timeout=30)  # the templates and the stylesheet are in the wheel
            assert page.status_code == 200 and "Confirm: Approve" in page.text
            assert httpx.get(f"{links.base_url}/static/links.css", timeout=30).status_code == 200
            response = httpx.post(url, follow_redirects=False, timeout=30)
            assert response.status_code == 303
            engine_rest.wait_for(
                lambda: not engine_rest.is_running(pid), what="the approval to end"
            )
            assert engine_rest.correlation_count(pid) == 1
            assert engine_rest.history_variables(pid)["approved"]["value"] is True
            listed = subprocess.run(
                [installed, "links", "list", "--process-instance", pid, "--json"],
                cwd=tmp_path, capture_output=True, text=True, check=False,
                env={"ACTION_LINKS_DATABASE_URL": empty_database, "PATH": "/usr/bin:/bin"},
            )  # fmt: skip
            assert listed.returncode == 0, listed.stderr
            states = {row["action"]: row["state"] for row in json.loads(listed.stdout)}
            assert states == {"approve": "redeemed", "deny": "revoked"}
            assert worker.stop(signal.SIGTERM) == 0
            assert "Traceback" not in worker.log_text()
        assert links.stop(signal.SIGTERM) == 0
        assert "Traceback" not in links.log_text()
    finally:
        if links.process.poll() is None:
            links.kill()
        links.log_path.unlink(missing_ok=True)
