"""``action-links migrate`` from the installed package: its own version table, the carry-over
from ``alembic_version``, a schema of the operator's choice, and one line when Postgres is away."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import psycopg
from alembic.script import ScriptDirectory
from psycopg import sql

from devstack.ports import free_port
from devstack.postgres import alembic_config
from tokenstore import answering, issuing, tokens
from tokenstore.db import create_db
from tokenstore.decisions import Accept
from tokenstore.model import ActionSpec, ClientInfo, IssueRequest
from tokenstore.tokens import Keyring
from tokenstore.types import ExternalTaskId, LinkState, ProcessInstanceId
from tokenstore.variables import TypedValue

NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)
# The newest revision in migrations/ (a constant here went stale when 0002 came).
HEAD = ScriptDirectory.from_config(alembic_config("")).get_current_head()
TABLES = {"link_groups", "links", "redemptions", "audit_events", "sends"}


def _cli(
    database_url: str, *args: str, schema: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"ACTION_LINKS_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    if schema:
        env["ACTION_LINKS_DB_SCHEMA"] = schema
    return subprocess.run(
        [sys.executable, "-m", "actionlinks_cli", "migrate", *args],
        env=env, capture_output=True, text=True, check=False, cwd="/",
    )  # fmt: skip


def _tables(url: str, schema: str = "public") -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
    return {row[0] for row in rows}


def _versions(url: str, table: str, schema: str = "public") -> list[str]:
    with psycopg.connect(url) as conn:
        query = sql.SQL("SELECT version_num FROM {}.{} ORDER BY 1").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        return [row[0] for row in conn.execute(query).fetchall()]


def test_migrate_current_check_downgrade_with_nothing_but_the_package(empty_database: str) -> None:
    """cwd is ``/``: no alembic.ini, no migrations folder within reach."""
    up = _cli(empty_database)
    assert up.returncode == 0, up.stderr
    assert _tables(empty_database) == TABLES | {"action_links_alembic_version"}
    assert _versions(empty_database, "action_links_alembic_version") == [HEAD]
    current = _cli(empty_database, "current")
    assert current.returncode == 0 and f"{HEAD} (head)" in current.stdout, current.stderr
    check = _cli(empty_database, "check")
    assert check.returncode == 0, check.stderr
    down = _cli(empty_database, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert _tables(empty_database) == {"action_links_alembic_version"}
    bad = _cli(empty_database, "downgrade", "nosuchrev")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_sql_prints_the_script_for_review_and_changes_nothing(empty_database: str) -> None:
    result = _cli(empty_database, "--sql")
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE links" in result.stdout
    assert "CREATE TABLE action_links_alembic_version" in result.stdout
    assert "SET search_path TO public" in result.stdout
    assert _tables(empty_database) == set()


def test_our_revision_in_alembic_version_is_carried_over_once(empty_database: str) -> None:
    assert _cli(empty_database).returncode == 0
    # What a database migrated by an earlier release looks like.
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("ALTER TABLE action_links_alembic_version RENAME TO alembic_version")
        conn.execute(
            "ALTER TABLE alembic_version"
            " RENAME CONSTRAINT action_links_alembic_version_pkc TO alembic_version_pkc"
        )
    result = _cli(empty_database)
    assert result.returncode == 0, result.stderr
    assert _versions(empty_database, "action_links_alembic_version") == [HEAD]
    assert "alembic_version" not in _tables(empty_database)
    assert _tables(empty_database) == TABLES | {"action_links_alembic_version"}


def test_another_apps_alembic_version_is_left_alone(empty_database: str) -> None:
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('f00dcafe1234')")
    result = _cli(empty_database)
    assert result.returncode == 0, result.stderr
    assert _versions(empty_database, "alembic_version") == ["f00dcafe1234"]
    assert _versions(empty_database, "action_links_alembic_version") == [HEAD]


def test_an_unreachable_database_is_one_line_and_exit_3() -> None:
    result = _cli(f"postgresql://nobody@127.0.0.1:{free_port()}/nowhere", "current")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the database" in lines[0], result.stderr


def test_a_bad_schema_name_is_a_configuration_error(empty_database: str) -> None:
    result = _cli(empty_database, schema="Links; DROP")
    assert result.returncode == 2
    assert "ACTION_LINKS_DB_SCHEMA" in result.stderr and "Traceback" not in result.stderr


async def test_tables_in_a_schema_of_the_operators_choice(
    empty_database: str, keyring: Keyring
) -> None:
    result = _cli(empty_database, schema="links_app")
    assert result.returncode == 0, result.stderr
    assert _tables(empty_database, "links_app") == TABLES | {"action_links_alembic_version"}
    assert _tables(empty_database) == set()
    assert _versions(empty_database, "action_links_alembic_version", "links_app") == [HEAD]
    assert _cli(empty_database, "check", schema="links_app").returncode == 0
    db = create_db(empty_database, pool_size=2, schema="links_app")
    try:
        req = IssueRequest(
            external_task_id=ExternalTaskId("task-s"),
            process_instance_id=ProcessInstanceId("pi-s"),
            activity_id="issue",
            message_name="decision",
            actions=(ActionSpec("approve", "Approve", {"ok": TypedValue("Boolean", True)}),),
            ttl=dt.timedelta(hours=1),
        )
        async with db.begin() as conn:
            issued = await issuing.issue_group(conn, req, keyring, NOW)
        token_hash = tokens.verify(keyring, issued.tokens["approve"])
        async with db.begin() as conn:
            result_ = await answering.redeem(conn, token_hash, None, NOW, ClientInfo("ip", "ua"))
        assert result_ is not None and isinstance(result_.decision, Accept)
        assert result_.view.link.state is LinkState.PENDING
    finally:
        await db.dispose()
    with psycopg.connect(empty_database) as conn:
        count = conn.execute("SELECT count(*) FROM links_app.redemptions").fetchone()
    assert count == (1,)
