"""A real PostgreSQL server: from the environment, testcontainers or a throwaway local cluster.

In that order: ``ACTION_LINKS_TEST_DATABASE_URL``, testcontainers where a Docker engine
answers, or a cluster of PostgreSQL 15 binaries in a temp dir on a free port. Whatever
cannot be brought up raises ServiceUnavailable: tests never skip for a missing service.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from alembic.config import Config

from devstack import ROOT, ServiceUnavailable
from devstack.containers import docker_available
from devstack.ports import free_port

# Debian's layout first, newest version first; then a source build's default prefix.
PG_BIN_DIRS = (
    *sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), reverse=True),
    "/usr/local/pgsql/bin",
)
POSTGRES_IMAGE = "postgres:15-alpine"
POSTGRES_START_TIMEOUT_S = 60


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
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, driver=None) as container:
            yield container.get_connection_url()
        return
    with local_postgres() as local_url:
        yield local_url


def with_database(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url``."""
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


def alembic_config(database_url: str) -> Config:
    """Alembic run from the repository's ``migrations`` folder against ``database_url``."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config
