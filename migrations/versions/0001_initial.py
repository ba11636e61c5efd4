"""Create link groups, links, redemptions and audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 22:59:29.102537
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("group_id", sa.UUID(), nullable=False),
        sa.Column("link_id", sa.UUID(), nullable=True),
        sa.Column("redemption_id", sa.UUID(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("client_ip_hash", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"], unique=False)
    op.create_index(op.f("ix_audit_events_group_id"), "audit_events", ["group_id"], unique=False)
    op.create_table(
        "link_groups",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("external_task_id", sa.Text(), nullable=False),
        sa.Column("process_instance_id", sa.Text(), nullable=False),
        sa.Column("process_definition_key", sa.Text(), nullable=True),
        sa.Column("business_key", sa.Text(), nullable=True),
        sa.Column("tenant_id", sa.Text(), nullable=True),
        sa.Column("activity_id", sa.Text(), nullable=False),
        sa.Column("message_name", sa.Text(), nullable=False),
        sa.Column("correlate_by", sa.Text(), nullable=False),
        sa.Column(
            "correlation_keys",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("exclusive", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_groups")),
        sa.UniqueConstraint("external_task_id", name=op.f("uq_link_groups_external_task_id")),
    )
    op.create_index(op.f("ix_link_groups_expires_at"), "link_groups", ["expires_at"], unique=False)
    op.create_index(
        op.f("ix_link_groups_process_instance_id"),
        "link_groups",
        ["process_instance_id"],
        unique=False,
    )
    op.create_table(
        "links",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("group_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column(
            "variables",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("input_schema", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("max_uses", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("uses", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("state", sa.Text(), server_default="active", nullable=False),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('active', 'pending', 'redeemed', 'revoked', 'expired', 'undeliverable')",
            name=op.f("ck_links_state"),
        ),
        sa.CheckConstraint(
            "max_uses >= 1 AND uses >= 0 AND uses <= max_uses", name=op.f("ck_links_uses")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["link_groups.id"],
            name=op.f("fk_links_group_id_link_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint("group_id", "action", name=op.f("uq_links_group_id_action")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_links_token_hash")),
    )
    op.create_table(
        "redemptions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("link_id", sa.UUID(), nullable=False),
        sa.Column("variables", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'undeliverable')", name=op.f("ck_redemptions_state")
        ),
        sa.ForeignKeyConstraint(
            ["link_id"], ["links.id"], name=op.f("fk_redemptions_link_id_links"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemptions")),
    )
    op.create_index(
        "ix_redemptions_due",
        "redemptions",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(op.f("ix_redemptions_link_id"), "redemptions", ["link_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_redemptions_link_id"), table_name="redemptions")
    op.drop_index(
        "ix_redemptions_due",
        table_name="redemptions",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_table("redemptions")
    op.drop_table("links")
    op.drop_index(op.f("ix_link_groups_process_instance_id"), table_name="link_groups")
    op.drop_index(op.f("ix_link_groups_expires_at"), table_name="link_groups")
    op.drop_table("link_groups")
    op.drop_index(op.f("ix_audit_events_group_id"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_at"), table_name="audit_events")
    op.drop_table("audit_events")
