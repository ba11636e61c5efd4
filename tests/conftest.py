"""Session-wide real services (Postgres, Camunda 7) and a fresh migrated database per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import psycopg
import pytest
from alembic import command
from psycopg import sql
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.engine import camunda
from devstack.postgres import (
    PostgresCluster,
    alembic_config,
    local_cluster,
    postgres,
    with_database,
)
from devstack.rest import EngineRest
from tests.support.faultproxy import FaultProxy
from tests.support.keys import SIGNING_KEYS
from tokenstore.db import Database, create_db
from tokenstore.tokens import Keyring

# One name per test run: two runs sharing a Postgres server must not drop each other's template.
TEMPLATE_DB = f"action_links_template_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with postgres() as url:
        yield url


@pytest.fixture(scope="session")
def template_database(postgres_server: str) -> Iterator[str]:
    """Migrate once; each test copies the result (CREATE DATABASE … TEMPLATE is fast)."""
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
    try:
        url = with_database(postgres_server, TEMPLATE_DB)
        command.upgrade(alembic_config(url), "head")
        yield url
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(TEMPLATE_DB)
                )
            )


@pytest.fixture
def database_url(postgres_server: str, template_database: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE_DB)
            )
        )
    yield with_database(postgres_server, name)
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = create_db(database_url, pool_size=60)
    yield db
    await db.dispose()


@pytest.fixture
async def database(db: AsyncEngine) -> AsyncIterator[Database]:
    """The store's handle on ``db``, as the daemons make it; its pools closed after the test."""
    database = Database(db)
    yield database
    await database.dispose()


@pytest.fixture
def own_postgres() -> Iterator[tuple[PostgresCluster, str]]:
    """A migrated database in a cluster of the test's own, which it may stop and start."""
    with local_cluster() as cluster:
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("outage")))
        url = with_database(cluster.url, "outage")
        command.upgrade(alembic_config(url), "head")
        yield cluster, url


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    return Keyring.parse(SIGNING_KEYS)


@pytest.fixture(scope="session")
def camunda_url() -> Iterator[str]:
    with camunda() as url:
        yield url


@pytest.fixture
async def proxy(camunda_url: str) -> AsyncIterator[FaultProxy]:
    """A fault-injecting proxy in front of the real engine, passing everything by default."""
    fault_proxy = FaultProxy(camunda_url)
    await fault_proxy.start()
    yield fault_proxy
    await fault_proxy.stop()


@pytest.fixture(scope="session")
def engine_rest(camunda_url: str) -> Iterator[EngineRest]:
    rest = EngineRest(camunda_url)
    yield rest
    rest.close()


@pytest.fixture
def empty_database(postgres_server: str) -> Iterator[str]:
    """A database with nothing in it, not even the migrations."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield with_database(postgres_server, name)
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def started(engine_rest: EngineRest) -> Iterator[list[str]]:
    """Instances a test starts; deleted afterwards so no other test's worker meets them."""
    ids: list[str] = []
    yield ids
    for instance_id in ids:
        engine_rest.http.delete(
            f"/process-instance/{instance_id}", params={"skipCustomListeners": "true"}
        )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is not a passing one: fail the run if anything was skipped."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(f"{skipped} test(s) skipped: every test must run", red=True)
