"""Keep what a group's request is about (details) and the language and time zone of its pages;
keep a link's input schema in the order the model wrote it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 08:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: Postgres 11+ records it in the catalog and rewrites no rows, so the
    # upgrade is quick on a large table; older groups simply have no details.
    op.add_column(
        "link_groups",
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'"),
            nullable=False,
        ),
    )
    op.add_column("link_groups", sa.Column("locale", sa.Text(), nullable=True))
    op.add_column("link_groups", sa.Column("time_zone", sa.Text(), nullable=True))
    # jsonb sorts an object's keys (shorter first), so a form's fields came back in another
    # order than the model's; json keeps the text as written. Schemas stored before keep the
    # order jsonb gave them. Nothing compares or indexes the column, so json suffices.
    op.alter_column(
        "links",
        "input_schema",
        type_=postgresql.JSON(astext_type=sa.Text()),
        existing_type=postgresql.JSONB(astext_type=sa.Text()),
        postgresql_using="input_schema::json",
    )


def downgrade() -> None:
    op.alter_column(
        "links",
        "input_schema",
        type_=postgresql.JSONB(astext_type=sa.Text()),
        existing_type=postgresql.JSON(astext_type=sa.Text()),
        postgresql_using="input_schema::jsonb",
    )
    op.drop_column("link_groups", "time_zone")
    op.drop_column("link_groups", "locale")
    op.drop_column("link_groups", "details")
