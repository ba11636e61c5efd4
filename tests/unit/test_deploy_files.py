"""The Dockerfile and compose.yaml, checked without a Docker engine: services, health checks,
dependencies, restart policies, secrets through *_FILE, settings the product knows, and an
image that does not run as root. Where the compose plugin exists, ``docker compose config``
must accept the file too."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from actionlinks_cli import VARIABLES
from devstack import ROOT
from tokenstore.settings import FILE_SUFFIX, PREFIX, known_names

COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
LONG_RUNNING = {"postgres", "camunda", "worker", "linkserver"}
ONE_SHOT = {"migrate", "deploy-examples"}
SECRET_NAMES = {v.env_name for v in VARIABLES if v.secret}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def test_the_services_are_all_there(compose: dict[str, Any]) -> None:
    assert set(_services(compose)) == LONG_RUNNING | ONE_SHOT


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_long_running_services_have_health_checks_and_restart(
    compose: dict[str, Any], name: str
) -> None:
    service = _services(compose)[name]
    test = service["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1
    assert service["restart"] in ("always", "unless-stopped", "on-failure")


@pytest.mark.parametrize("name", sorted(ONE_SHOT))
def test_one_shot_services_run_once(compose: dict[str, Any], name: str) -> None:
    service = _services(compose)[name]
    assert service["restart"] == "no"
    assert "healthcheck" not in service


def test_dependencies_wait_for_health_and_for_the_migration(compose: dict[str, Any]) -> None:
    services = _services(compose)

    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert conditions("migrate") == {"postgres": "service_healthy"}
    assert conditions("deploy-examples") == {"camunda": "service_healthy"}
    for daemon in ("worker", "linkserver"):
        assert conditions(daemon) == {
            "migrate": "service_completed_successfully",
            "camunda": "service_healthy",
        }
    # Every dependency's own health check exists, or the condition could never hold.
    for service in services.values():
        for dep, spec in service.get("depends_on", {}).items():
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], dep


def test_the_product_runs_from_the_image_with_its_own_commands(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, command in {"migrate": "migrate", "worker": "worker", "linkserver": "serve"}.items():
        assert services[name]["build"] == "."
        assert services[name]["command"] == [command]
        assert "volumes" not in services[name]  # the image only, no bind-mounted sources


def _product_environment(compose: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        name: {k: str(v) for k, v in service.get("environment", {}).items()}
        for name, service in _services(compose).items()
        if name in ("migrate", "worker", "linkserver")
    }


def test_every_action_links_variable_is_one_the_settings_know(compose: dict[str, Any]) -> None:
    for name, env in _product_environment(compose).items():
        names = {k for k in env if k.startswith(PREFIX)}
        assert names, name
        assert names <= known_names(VARIABLES), (name, names - known_names(VARIABLES))
    dockerfile_env = set(re.findall(r"\b(ACTION_LINKS_[A-Z_]+)=", DOCKERFILE.read_text()))
    assert dockerfile_env and dockerfile_env <= known_names(VARIABLES)


def test_secrets_come_from_files_never_from_the_environment(compose: dict[str, Any]) -> None:
    services = _services(compose)
    declared = compose["secrets"]
    for name, env in _product_environment(compose).items():
        assert not SECRET_NAMES & set(env), f"{name} sets a secret in plain text"
        for key, path in env.items():
            if key.endswith(FILE_SUFFIX):
                secret = path.removeprefix("/run/secrets/")
                assert path == f"/run/secrets/{secret}", path
                assert secret in services[name]["secrets"] and secret in declared
        assert f"{PREFIX}DATABASE_URL{FILE_SUFFIX}" in env
    for name in ("worker", "linkserver"):
        assert f"{PREFIX}SIGNING_KEYS{FILE_SUFFIX}" in _product_environment(compose)[name]
    postgres = services["postgres"]
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    for secret in declared.values():
        assert (ROOT / secret["file"]).is_file(), secret["file"]


def test_the_demo_secrets_agree(compose: dict[str, Any]) -> None:
    password = (ROOT / "deploy/secrets/postgres_password").read_text().strip()
    url = (ROOT / "deploy/secrets/database_url").read_text().strip()
    assert f":{password}@postgres:5432/" in url


def _final_stage(dockerfile: str) -> str:
    return re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[-1]


def test_the_dockerfile_is_multi_stage_slim_non_root_and_healthchecked() -> None:
    text = DOCKERFILE.read_text()
    assert len(re.findall(r"^FROM ", text, flags=re.MULTILINE)) >= 2
    final = _final_stage(text)
    assert final.startswith("python:3.11-slim")
    assert "COPY --from=build /wheels /wheels" in final
    # Nothing from the build context reaches the final image but the wheel.
    copies = re.findall(r"^COPY .*$", final, flags=re.MULTILINE)
    assert copies == ["COPY --from=build /wheels /wheels"]
    users = re.findall(r"^USER (\S+)", final, flags=re.MULTILINE)
    assert users, "the image must not run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert 'ENTRYPOINT ["action-links"]' in final
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", final, re.MULTILINE | re.DOTALL)
    assert healthcheck and "/healthz" in healthcheck.group(1)


def test_the_healthcheck_one_liner_compiles() -> None:
    import json

    final = _final_stage(DOCKERFILE.read_text())
    match = re.search(r"CMD (\[\"python\".*\])$", final, re.MULTILINE)
    assert match
    argv = json.loads(match.group(1))
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<healthcheck>", "exec")
    for service in ("worker", "linkserver"):
        test = yaml.safe_load(COMPOSE.read_text())["services"][service]["healthcheck"]["test"]
        compile(test[3], f"<{service} healthcheck>", "exec")


def test_docker_compose_accepts_the_file_where_the_plugin_exists(compose: dict[str, Any]) -> None:
    """Here no compose plugin may exist; the structural tests above still ran."""
    docker = shutil.which("docker")
    plugin = docker is not None and (
        subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode
        == 0
    )
    if plugin:
        assert docker is not None
        result = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE), "config", "-q"],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    assert Path(COMPOSE).read_text().startswith("#")
