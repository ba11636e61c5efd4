"""A real engine: Camunda 7 or Operaton, from the environment, testcontainers or Maven.

``ACTION_LINKS_TEST_ENGINE`` picks the engine (``camunda``, the default, or ``operaton``).
In order: ``ACTION_LINKS_TEST_CAMUNDA_URL``, testcontainers where a Docker engine answers
(Camunda only: the Operaton image is not part of the tested matrix), or the engine built
with Maven from ``tests/engine`` (one Maven profile per engine) run on a free port. Whatever
cannot be brought up raises ServiceUnavailable: tests never skip for a missing service.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devstack import ROOT, ServiceUnavailable
from devstack.containers import docker_available
from devstack.ports import free_port

ENGINE_DIR = ROOT / "tests" / "engine"
ENGINE_VARIABLE = "ACTION_LINKS_TEST_ENGINE"
ENGINE_START_TIMEOUT_S = 180


@dataclass(frozen=True)
class EngineBuild:
    """One engine of the matrix: how Maven builds it and what it is called afterwards."""

    name: str
    # What the engine's ``GET /version`` answers: the suite checks it ran against this one.
    version: str
    jar: Path
    maven_goals: tuple[str, ...]
    docker_image: str | None


CAMUNDA = EngineBuild(
    name="camunda",
    version="7.24.0",
    jar=ENGINE_DIR / "target" / "test-engine.jar",
    maven_goals=("package",),
    docker_image="camunda/camunda-bpm-platform:run-7.24.0",
)
# The copy goal runs first, on its own: Maven resolves dependencies before a build's first
# goal, and Operaton's Jackson data format jar must be in target/ by then (see the pom).
OPERATON = EngineBuild(
    name="operaton",
    version="1.0.3",
    jar=ENGINE_DIR / "target" / "operaton" / "test-engine-operaton.jar",
    maven_goals=("-Poperaton", "dependency:copy@operaton-spin-jackson", "package"),
    docker_image=None,
)
ENGINES = {engine.name: engine for engine in (CAMUNDA, OPERATON)}


def selected_engine() -> EngineBuild:
    """The engine ``ACTION_LINKS_TEST_ENGINE`` names; Camunda 7 when it is unset."""
    name = os.environ.get(ENGINE_VARIABLE, "").strip().lower() or CAMUNDA.name
    engine = ENGINES.get(name)
    if engine is None:
        known = ", ".join(sorted(ENGINES))
        raise ServiceUnavailable(f"{ENGINE_VARIABLE}={name!r} names no engine; one of: {known}")
    return engine


def engine_answers(rest_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{rest_url}/engine", timeout=2) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as exc:
        # An engine with basic auth on its REST API asks who we are: it is up.
        return exc.code == 401
    except (urllib.error.URLError, OSError):
        return False


def build_engine(engine: EngineBuild | None = None) -> Path:
    """Build the test engine with Maven (cached in ~/.m2 after the first time)."""
    engine = engine or selected_engine()
    sources = [ENGINE_DIR / "pom.xml", *sorted((ENGINE_DIR / "src").rglob("*"))]
    newest = max(p.stat().st_mtime for p in sources if p.is_file())
    if engine.jar.exists() and engine.jar.stat().st_mtime >= newest:
        return engine.jar
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceUnavailable("Maven (mvn) is needed to build the test engine in tests/engine")
    result = subprocess.run(
        [mvn, "-B", "-q", "-DskipTests", *engine.maven_goals],
        cwd=ENGINE_DIR,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not engine.jar.exists():
        raise ServiceUnavailable(
            f"building the {engine.name} test engine failed:\n{result.stdout[-4000:]}"
        )
    return engine.jar


def _wait_for_engine(rest_url: str, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    deadline = time.monotonic() + ENGINE_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if engine_answers(rest_url):
            return
        if process is not None and process.poll() is not None:
            raise ServiceUnavailable(f"the test engine exited:\n{log.read_text()[-4000:]}")
        time.sleep(0.5)
    raise ServiceUnavailable(f"the test engine did not answer in {ENGINE_START_TIMEOUT_S}s")


@contextlib.contextmanager
def local_engine(
    port: int | None = None, *, auth: bool = False, engine: EngineBuild | None = None
) -> Iterator[str]:
    """The Maven-built engine on a free port; ``auth`` switches on the engine's authorization
    and HTTP basic auth on the REST API (the ``auth`` Spring profile; admin ``demo``/``demo``)."""
    jar = build_engine(engine)
    port = port or free_port()
    java = shutil.which("java")
    if java is None:
        raise ServiceUnavailable("Java 17 is needed to run the test engine")
    log = Path(tempfile.mkstemp(prefix="action-links-engine-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            [java, "-Xmx768m", "-XX:TieredStopAtLevel=1", "-jar", str(jar),
             f"--server.port={port}", "--server.address=127.0.0.1",
             *(["--spring.profiles.active=auth"] if auth else [])],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    rest_url = f"http://127.0.0.1:{port}/engine-rest"
    try:
        _wait_for_engine(rest_url, process, log)
        yield rest_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.unlink(missing_ok=True)


@contextlib.contextmanager
def camunda() -> Iterator[str]:
    """An engine REST base URL (``…/engine-rest``) for the whole test run."""
    url = os.environ.get("ACTION_LINKS_TEST_CAMUNDA_URL")
    if url:
        if not engine_answers(url.rstrip("/")):
            raise ServiceUnavailable(f"ACTION_LINKS_TEST_CAMUNDA_URL={url} does not answer")
        yield url.rstrip("/")
        return
    engine = selected_engine()
    if engine.docker_image is not None and docker_available():
        from testcontainers.core.container import DockerContainer

        with DockerContainer(engine.docker_image).with_exposed_ports(8080) as container:
            host = container.get_container_host_ip()
            rest_url = f"http://{host}:{container.get_exposed_port(8080)}/engine-rest"
            _wait_for_engine(rest_url, None, Path(os.devnull))
            yield rest_url
        return
    with local_engine(engine=engine) as rest_url:
        yield rest_url


@contextlib.contextmanager
def camunda_with_authorization() -> Iterator[str]:
    """A second engine with authorization and basic auth on, for the permission tests.

    Always the local Maven-built engine (its ``auth`` profile), unless
    ``ACTION_LINKS_TEST_CAMUNDA_AUTH_URL`` names one configured the same way (admin demo/demo).
    """
    url = os.environ.get("ACTION_LINKS_TEST_CAMUNDA_AUTH_URL")
    if url:
        if not engine_answers(url.rstrip("/")):
            raise ServiceUnavailable(f"ACTION_LINKS_TEST_CAMUNDA_AUTH_URL={url} does not answer")
        yield url.rstrip("/")
        return
    with local_engine(auth=True, engine=selected_engine()) as rest_url:
        yield rest_url
