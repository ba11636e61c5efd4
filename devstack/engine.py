"""A real Camunda 7 engine: from the environment, testcontainers or the Maven-built one.

In that order: ``ACTION_LINKS_TEST_CAMUNDA_URL``, testcontainers where a Docker engine
answers, or the engine built with Maven from ``tests/engine`` run on a free port. Whatever
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
from pathlib import Path

from devstack import ROOT, ServiceUnavailable
from devstack.containers import docker_available
from devstack.ports import free_port

ENGINE_DIR = ROOT / "tests" / "engine"
ENGINE_JAR = ENGINE_DIR / "target" / "test-engine.jar"
CAMUNDA_IMAGE = "camunda/camunda-bpm-platform:run-7.24.0"
ENGINE_START_TIMEOUT_S = 180


def engine_answers(rest_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{rest_url}/engine", timeout=2) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as exc:
        # An engine with basic auth on its REST API asks who we are: it is up.
        return exc.code == 401
    except (urllib.error.URLError, OSError):
        return False


def build_engine() -> Path:
    """Build the test engine with Maven (cached in ~/.m2 after the first time)."""
    sources = [ENGINE_DIR / "pom.xml", *sorted((ENGINE_DIR / "src").rglob("*"))]
    newest = max(p.stat().st_mtime for p in sources if p.is_file())
    if ENGINE_JAR.exists() and ENGINE_JAR.stat().st_mtime >= newest:
        return ENGINE_JAR
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceUnavailable("Maven (mvn) is needed to build the test engine in tests/engine")
    result = subprocess.run(
        [mvn, "-B", "-q", "-DskipTests", "package"], cwd=ENGINE_DIR, capture_output=True, text=True
    )
    if result.returncode != 0 or not ENGINE_JAR.exists():
        raise ServiceUnavailable(f"building the test engine failed:\n{result.stdout[-4000:]}")
    return ENGINE_JAR


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
def local_engine(port: int | None = None, *, auth: bool = False) -> Iterator[str]:
    """The Maven-built engine on a free port; ``auth`` switches on Camunda authorization and
    HTTP basic auth on the REST API (the ``auth`` Spring profile; admin ``demo``/``demo``)."""
    jar = build_engine()
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
    if docker_available():
        from testcontainers.core.container import DockerContainer

        with DockerContainer(CAMUNDA_IMAGE).with_exposed_ports(8080) as container:
            host = container.get_container_host_ip()
            rest_url = f"http://{host}:{container.get_exposed_port(8080)}/engine-rest"
            _wait_for_engine(rest_url, None, Path(os.devnull))
            yield rest_url
        return
    with local_engine() as rest_url:
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
    with local_engine(auth=True) as rest_url:
        yield rest_url
