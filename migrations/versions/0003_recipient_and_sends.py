"""Keep who a group's links were sent to, and a record of each channel task's send.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable and without a default: adding it rewrites nothing, and older groups have none.
    op.add_column("link_groups", sa.Column("recipient", sa.Text(), nullable=True))
    op.create_table(
        "sends",
        sa.Column("external_task_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("group_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('sending', 'sent')", name=op.f("ck_sends_state")),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["link_groups.id"],
            name=op.f("fk_sends_group_id_link_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("external_task_id", name=op.f("pk_sends")),
    )
    op.create_index(op.f("ix_sends_group_id"), "sends", ["group_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sends_group_id"), table_name="sends")
    op.drop_table("sends")
    op.drop_column("link_groups", "recipient")
