"""Alembic environment: plain synchronous psycopg, URL from ``ACTION_LINKS_DATABASE_URL``."""

from __future__ import annotations

import os
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from tokenstore.schema import (
    DEFAULT_SCHEMA,
    VERSION_TABLE,
    carry_over_version,
    checked_schema,
    connect_args,
    ensure_schema,
)
from tokenstore.settings import sqlalchemy_url
from tokenstore.tables import metadata

# Any fixed 64-bit number works, as long as nothing else on the server uses it for a lock.
MIGRATION_LOCK_KEY = -5325074876496860869  # first 8 bytes of sha256("action-links migrations")

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.attributes.get("database_url") or os.environ.get("ACTION_LINKS_DATABASE_URL")
    if not url:
        raise SystemExit("set ACTION_LINKS_DATABASE_URL to the Postgres URL to migrate")
    return sqlalchemy_url(url)


def _schema() -> str:
    name = config.attributes.get("db_schema") or os.environ.get("ACTION_LINKS_DB_SCHEMA")
    return checked_schema(name.strip() if name and name.strip() else DEFAULT_SCHEMA)


def run_offline() -> None:
    schema = _schema()
    context.configure(
        url=_url(),
        target_metadata=metadata,
        literal_binds=True,
        transaction_per_migration=True,
        version_table=VERSION_TABLE,
    )
    # The reviewed script must create the schema and work in it, as the online run does.
    context.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    context.execute(f"SET search_path TO {schema}")
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    schema = _schema()
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool, connect_args=connect_args(schema))
    with engine.connect() as connection:
        # Several replicas may run ``alembic upgrade head`` as they start. A session lock
        # makes them take turns, schema creation and version carry-over included: the later
        # ones wait, then read the version the first one wrote and have nothing left to do.
        # The lock outlives the commits (alembic commits per migration) and ends with the
        # unlock, or with the connection should the process die.
        connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()
        try:
            with connection.begin():
                ensure_schema(connection, schema)
                ours = {script.revision for script in context.script.walk_revisions()}
                carry_over_version(connection, schema, ours)
            context.configure(
                connection=connection,
                target_metadata=metadata,
                transaction_per_migration=True,
                # Unqualified, like the tables: the search_path puts it in the schema, and
                # autogenerate (``check``) then recognises it as the version table.
                version_table=VERSION_TABLE,
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.rollback()
            connection.execute(
                sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
