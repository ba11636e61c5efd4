"""Where the product's tables live: the Postgres schema and Alembic's version table.

Every connection (both daemons' pools, the migrations, the operator commands) sets its
``search_path`` to the configured schema, so the tables and queries need no schema name.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

DEFAULT_SCHEMA = "public"
# Our own name: another Alembic-managed app in the same database keeps ``alembic_version``.
VERSION_TABLE = "action_links_alembic_version"
LEGACY_VERSION_TABLE = "alembic_version"
# A plain lower-case identifier: it goes into libpq ``options`` and needs no quoting there.
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class SchemaNameError(ValueError):
    """Not a schema name this product accepts."""


def checked_schema(name: str) -> str:
    """``name`` if it is a plain lower-case identifier (letters, digits, ``_``), else raise."""
    if not _SCHEMA_NAME.fullmatch(name) or name.startswith("pg_"):
        raise SchemaNameError(
            f"{name!r} is not a schema name: use lower-case letters, digits and _, "
            "at most 63, not starting with a digit or pg_"
        )
    return name


def connect_args(schema: str) -> dict[str, str]:
    """psycopg connection arguments that put every session on ``schema``."""
    return {"options": f"-c search_path={checked_schema(schema)}"}


def ensure_schema(connection: sa.Connection, schema: str) -> None:
    """Create ``schema`` if missing (the migrations' first step)."""
    quoted = connection.dialect.identifier_preparer.quote_schema(checked_schema(schema))
    connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))


def carry_over_version(connection: sa.Connection, schema: str, ours: set[str]) -> str | None:
    """Move our revision from a pre-existing ``alembic_version`` to ``VERSION_TABLE``, once.

    Databases migrated before the table had its own name recorded the revision in
    ``alembic_version`` (in ``public``). If that table holds one of ``ours``, the revision is
    copied into the new table and removed from the old one (dropped when it is then empty);
    a table that holds another app's revision is left alone. Returns the revision carried.
    """
    inspector = sa.inspect(connection)
    if inspector.has_table(VERSION_TABLE, schema=schema):
        return None
    legacy_schema = DEFAULT_SCHEMA
    if not inspector.has_table(LEGACY_VERSION_TABLE, schema=legacy_schema):
        return None
    legacy = sa.table(LEGACY_VERSION_TABLE, sa.column("version_num"), schema=legacy_schema)
    revisions: set[str] = {
        str(row[0]) for row in connection.execute(sa.select(legacy.c.version_num))
    }
    carried = sorted(revisions & ours)
    if not carried:
        return None
    new = sa.Table(
        VERSION_TABLE,
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
        schema=schema,
    )
    new.create(connection)
    connection.execute(new.insert(), [{"version_num": rev} for rev in carried])
    connection.execute(legacy.delete().where(legacy.c.version_num.in_(carried)))
    if revisions <= set(carried):
        connection.execute(sa.text(f"DROP TABLE {legacy_schema}.{LEGACY_VERSION_TABLE}"))
    return carried[0]
