"""Real Postgres and a real Camunda 7 engine for tests and the local demo.

Each comes from one of three places, in order: a URL from the environment, testcontainers
where a Docker engine answers, or a throwaway local process (PostgreSQL 15 binaries; the
Maven-built engine in ``tests/engine``). Whatever cannot be brought up raises
ServiceUnavailable: tests never skip for a missing service.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE_DIR = ROOT / "tests" / "engine"
ENGINE_JAR = ENGINE_DIR / "target" / "test-engine.jar"
# Debian's layout first, newest version first; then a source build's default prefix.
PG_BIN_DIRS = (
    *sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), reverse=True),
    "/usr/local/pgsql/bin",
)
POSTGRES_IMAGE = "postgres:15-alpine"
CAMUNDA_IMAGE = "camunda/camunda-bpm-platform:run-7.24.0"
ENGINE_START_TIMEOUT_S = 180
POSTGRES_START_TIMEOUT_S = 60


class ServiceUnavailable(RuntimeError):
    """A service the tests need could not be brought up."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _docker_available() -> bool:
    if os.environ.get("ACTION_LINKS_TEST_NO_DOCKER"):
        return False
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception:  # any failure means "no usable Docker engine"
        return False
    return True


# --- Postgres ------------------------------------------------------------------------------


def _pg_bin() -> Path:
    for directory in PG_BIN_DIRS:
        if (Path(directory) / "initdb").exists():
            return Path(directory)
    raise ServiceUnavailable(f"no PostgreSQL binaries in {', '.join(PG_BIN_DIRS)}")


def _as_postgres_user() -> list[str]:
    # initdb refuses to run as root; everything else may run as whoever we are.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PostgresCluster:
    """A throwaway cluster in a temp dir on a free port, trust auth; it can be stopped and
    started again, for tests of a database outage."""

    def __init__(self) -> None:
        self.bin_dir = _pg_bin()
        self.base = Path(tempfile.mkdtemp(prefix="action-links-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self._run = _as_postgres_user()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self._run, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args],
            check=True, capture_output=True,
        )  # fmt: skip

    def init(self) -> None:
        subprocess.run(
            [*self._run, str(self.bin_dir / "initdb"), "--auth=trust", "--username=postgres",
             "--encoding=UTF8", "--no-sync", "-D", str(self.data)],
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._ctl(
            "-l", str(self.log), "-o", options, "-w", "-t", str(POSTGRES_START_TIMEOUT_S), "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def local_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.init()
        cluster.start()
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        tail = cluster.log.read_text()[-2000:] if cluster.log.exists() else ""
        cluster.remove()
        raise ServiceUnavailable(f"local Postgres failed: {detail.decode()} {tail}") from exc
    try:
        yield cluster
    finally:
        cluster.remove()


@contextlib.contextmanager
def local_postgres() -> Iterator[str]:
    with local_cluster() as cluster:
        yield cluster.url


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A Postgres server URL (libpq form) for the whole test run."""
    url = os.environ.get("ACTION_LINKS_TEST_DATABASE_URL")
    if url:
        yield url
        return
    if _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, driver=None) as container:
            yield container.get_connection_url()
        return
    with local_postgres() as local_url:
        yield local_url


# --- Camunda -------------------------------------------------------------------------------


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
    if _docker_available():
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
